"""The agent side of the process boundary: the code that runs inside the sandbox, as ``nobody``.

``python -m arena.worker`` is the agent process (:mod:`arena.worker.main`). It imports the
public agent API (:mod:`arena.api`), the boundary's lane and wire format, and the submission;
never the harness, the store or the game families (the real envs live in the harness).
"""
