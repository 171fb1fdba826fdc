"""What the agent process does with each command: build the agent, let it adapt or meta-train
on proxy envs, answer ``act``. Independent of what carries the commands, so the in-process
reference trial (:mod:`arena.inprocess`) runs exactly this code too.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path
from typing import Any

from arena.api import Agent, AgentSpec, BudgetExhausted
from arena.worker.llm import GatewayLLM
from arena.worker.proxy import ProxyTaskSampler, Requests, open_env, to_wire

FORFEIT = ""  # the answer of an act that ran out of tokens: it names no move, so it forfeits


def load_entry(submission_dir: str, entry: str) -> type[Agent]:
    """The agent class named by a manifest's ``entry`` (``module:Class``) inside the folder."""
    module_name, _, class_name = entry.partition(":")
    sys.path.insert(0, submission_dir)
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AttributeError(f"module {module_name!r} has no class {class_name!r}")
    if not isinstance(cls, type) or not callable(getattr(cls, "act", None)):
        raise TypeError(f"{entry} must be a class with an act(observation, info) method")
    return cls


def defines_meta_train(cls: type[Agent]) -> bool:
    meta_train = getattr(cls, "meta_train", None)
    return callable(meta_train) and meta_train is not Agent.meta_train


def seeded(spec: AgentSpec) -> AgentSpec:
    """The spec with its spaces seeded from ``spec.seed``: an agent that samples
    ``spec.action_space`` is as reproducible as one that uses its own generator."""
    spec.action_space.seed(spec.seed)
    spec.observation_space.seed(spec.seed)
    return spec


class AgentHost:
    """One submission's agent class, and the agent of the trial in progress."""

    def __init__(self, agent_class: type[Agent]):
        self.agent_class = agent_class
        self.agent: Agent | None = None
        self._first_act = True
        self.text = False

    def trial(self, spec: AgentSpec, checkpoint: str | None, requests: Requests) -> None:
        """Build the trial's agent, hand it the meta-training checkpoint, and let it adapt on the
        variant's proxy env. At budget 0 ``adapt`` is not called: zero-shot means no env at all.
        On a text suite the spec carries the model gateway, over the same ``requests``."""
        if spec.text:
            spec = dataclasses.replace(spec, llm=GatewayLLM(requests))
        self.text = spec.text
        agent = self.agent = self.agent_class(seeded(spec))
        self._first_act = True
        if checkpoint:
            agent.load(Path(checkpoint))
        if spec.budget_steps > 0:
            num_envs = int(getattr(agent, "num_envs", 1) or 1)
            env = open_env(requests, num_envs)
            try:
                agent.adapt(env)
            except BudgetExhausted:
                pass  # the normal way for a budget-bound learner to stop

    def act(self, new_episode: bool, observation: Any, info: dict[str, Any], reward: float) -> Any:
        """One evaluation action, in the only shapes the harness reads (see ``to_wire``)."""
        assert self.agent is not None, "act before trial"
        if new_episode:
            self.agent.reset()
        if not self._first_act:
            # The reward paid for the agent's previous action (at an episode's start: the last
            # one of the episode before), so a memory-based agent (RL^2) can keep adapting
            # during evaluation. Absent only on the evaluation's first step.
            info = {**info, "reward": reward}
        self._first_act = False
        try:
            action = self.agent.act(observation, info)
        except BudgetExhausted:
            if not self.text:
                raise
            action = FORFEIT  # out of tokens for this episode: no answer, the move is forfeit
        return to_wire(action, text=self.text)

    def meta_train(self, spec: AgentSpec, checkpoint_out: str, requests: Requests) -> None:
        """Meta-train a fresh agent on the suite's train variants, then let it save."""
        agent = self.agent_class(seeded(spec))
        try:
            agent.meta_train(ProxyTaskSampler(requests, spec.budget_steps))
        except BudgetExhausted:
            pass
        agent.save(Path(checkpoint_out))
