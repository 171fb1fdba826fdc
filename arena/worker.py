"""The agent worker: the only process that imports a submission's code.

Started by the harness as ``python -m arena.worker SOCKET_FD MEMFD SIZE LIMITS_JSON``. It
applies its resource limits, then serves commands over the shared-memory lane (see
``arena.lane``): ``load`` once, then any number of
``trial`` and ``meta_train`` commands, so that one worker (and its ``import torch``) serves
many trials of one submission.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from arena import lane as lanes
from arena.api import Agent, AgentSpec, BudgetExhausted
from arena.proxy import Channel, ProxyTaskSampler, TrialAborted, make_proxy, to_wire

ERROR_TEXT_LIMIT = 4000


def apply_limits(limits: dict[str, int]) -> None:
    """Resource limits the kernel enforces on this process and its children."""
    table = {
        "memory_bytes": resource.RLIMIT_AS,
        "open_files": resource.RLIMIT_NOFILE,
        "file_bytes": resource.RLIMIT_FSIZE,
        "processes": resource.RLIMIT_NPROC,
        "cpu_seconds": resource.RLIMIT_CPU,
    }
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, value in limits.items():
        if key in table and value > 0:
            resource.setrlimit(table[key], (value, value))


def die_with_parent() -> None:
    """Ask the kernel to kill this worker when the harness dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except OSError:
        pass


def _error_text() -> str:
    text = traceback.format_exc()
    return text if len(text) <= ERROR_TEXT_LIMIT else "...\n" + text[-ERROR_TEXT_LIMIT:]


def load_entry(submission_dir: str, entry: str) -> type[Agent]:
    module_name, _, class_name = entry.partition(":")
    sys.path.insert(0, submission_dir)
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AttributeError(f"module {module_name!r} has no class {class_name!r}")
    if not isinstance(cls, type) or not callable(getattr(cls, "act", None)):
        raise TypeError(f"{entry} must be a class with an act(observation, info) method")
    return cls


def _spec(config: dict[str, Any]) -> AgentSpec:
    return AgentSpec(
        observation_space=config["observation_space"],
        action_space=config["action_space"],
        family=config["family"],
        seed=config["seed"],
        device=config["device"],
        budget_steps=config["budget_steps"],
        budget_seconds=config["budget_seconds"],
        scratch=Path(config["scratch"]),
        adapt_budgets=tuple(config.get("adapt_budgets", ())),
    )


def _report_failure(channel: Channel, phase: str) -> None:
    kind = "oom" if isinstance(sys.exc_info()[1], MemoryError) else "error"
    channel.send(kind, phase, _error_text())


def run_trial(channel: Channel, cls: type[Agent], config: dict[str, Any]) -> None:
    try:
        agent = cls(_spec(config))
        if config["checkpoint"]:
            agent.load(Path(config["checkpoint"]))
        if config["budget_steps"] > 0:
            num_envs = int(getattr(agent, "num_envs", 1) or 1)
            handle, obs_space, act_space = channel.request("open", num_envs)
            env = make_proxy(channel, handle, num_envs, obs_space, act_space)
            try:
                agent.adapt(env)
            except BudgetExhausted:
                pass  # the normal way for a budget-bound learner to stop
    except TrialAborted:
        return
    except BaseException:
        _report_failure(channel, "adapt")
        return
    channel.send("adapted")

    first_act = True
    while True:
        message = channel.recv()
        if message[0] != "act":
            return  # "done"
        _, new_episode, observation, info, reward = message
        try:
            if new_episode:
                agent.reset()
            if not first_act:
                # The reward paid for the agent's previous action (at an episode's start: the
                # last one of the episode before), so a memory-based agent (RL^2) can keep
                # adapting during evaluation. Absent only on the evaluation's first step.
                info = {**info, "reward": reward}
            first_act = False
            action = to_wire(agent.act(observation, info))
        except BaseException:
            _report_failure(channel, "act")
            return
        channel.send("action", action)


def run_meta_train(channel: Channel, cls: type[Agent], config: dict[str, Any]) -> None:
    try:
        agent = cls(_spec(config))
        try:
            agent.meta_train(ProxyTaskSampler(channel, config["budget_steps"]))
        except BudgetExhausted:
            pass
        agent.save(Path(config["checkpoint"]))
    except TrialAborted:
        return
    except BaseException:
        _report_failure(channel, "meta_train")
        return
    channel.send("meta_trained")


def main() -> None:
    sock_fd, mem_fd, size, limits = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    die_with_parent()
    apply_limits(limits)
    spin = float(os.environ.get("ARENA_LANE_SPIN", lanes.SPIN_SECONDS))
    channel = Channel(lanes.Lane(mem_fd, size, socket.socket(fileno=sock_fd), "worker", spin=spin))
    os.close(mem_fd)
    _, submission_dir, entry = channel.recv()
    os.chdir(os.environ.get("ARENA_SCRATCH", "."))
    try:
        cls = load_entry(submission_dir, entry)
    except BaseException:
        _report_failure(channel, "import")
        return
    meta_train = getattr(cls, "meta_train", None)
    channel.send("loaded", {"meta_train": callable(meta_train) and meta_train is not Agent.meta_train})
    while True:
        try:
            message = channel.recv()
        except EOFError:
            return
        if message[0] == "trial":
            run_trial(channel, cls, message[1])
        elif message[0] == "meta_train":
            run_meta_train(channel, cls, message[1])
        else:
            return


if __name__ == "__main__":
    main()
