"""The trusted side of the process boundary: everything that runs a trial except the agent.

Read in this order: :mod:`~arena.harness.jobs` (what a runner is asked to do),
:mod:`~arena.harness.trial` (the one trial procedure: seeds, adaptation, evaluation),
:mod:`~arena.harness.envserver` (the real envs and the budget that counts every step),
:mod:`~arena.harness.agent_process` (the sandboxed agent process, seen from here),
:mod:`~arena.harness.runner` (jobs through the procedure, warm agent processes) and
:mod:`~arena.harness.executors` (runners side by side, locally or on Ray). It never imports
:mod:`arena.worker`, the code that runs on the other side.
"""
