"""The agent API: everything a submitter writes against (see DESIGN.md, "The agent API")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym


class BudgetExhausted(RuntimeError):
    """Raised by the env proxy on any ``step``/``reset`` once the adaptation budget is spent.

    The step that spends the last unit of budget still returns normally, with ``truncated=True``.
    An agent need not catch this: the harness ends the adaptation phase when ``adapt`` raises it.
    """


@dataclass(frozen=True)
class AgentSpec:
    """What an agent may know when it is built (``Agent.__init__(spec)``): never the variant.

    Attributes:
        observation_space: the family's observation space; the same for every variant of it
            (boards are padded to the largest size).
        action_space: the family's action space. Where moves can be illegal, ``info["action_mask"]``
            says which are legal; an action outside the space (or NaN) ends the trial as
            ``invalid_action``, and an illegal move loses the game. Both spaces come seeded from
            ``seed``, so ``spec.action_space.sample()`` is reproducible.
        family: the family's name (``"cartpole"``); never the variant's parameters.
        seed: seed the agent's own randomness with this: the same trial gives the same seed.
        device: ``"cpu"``, or ``"cuda:N"`` when the manifest says ``device = "auto"`` and a GPU
            is assigned to this trial.
        budget_steps: env steps this phase may use: the trial's adaptation budget (0: ``adapt``
            is not called), or in ``meta_train`` the suite's meta-training budget.
        budget_seconds: wall-clock seconds this phase may use.
        scratch: the only directory the agent may write to (private to its process; None in
            ``arena debug``).
        adapt_budgets: the suite's adaptation budgets in steps, e.g. ``(0, 2000, 20000)``: what
            meta-training prepares for.
        eval_episodes: evaluation episodes of this family's trials (0: not said).
        text: the suite is a text suite: ``info["text"]`` (the game rendered as text) and
            ``info["legal_actions"]`` (the legal moves' names) come with every observation, and
            ``act`` and ``step`` may take a move's name as a string (an answer that names no
            legal move loses the episode, as an illegal move does).
        token_budget: model tokens (prompt and completion) the adaptation phase may use.
        eval_tokens: model tokens each evaluation episode may use.
        llm: on a text suite, the harness's model gateway (:class:`LLM`): the agent's only way to
            a language model. None elsewhere, and in meta-training.
    """

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]
    family: str  # the family's name; never the variant's parameters
    seed: int  # seed the agent's own randomness with this (determinism)
    device: str = "cpu"  # "cuda:N" when a GPU is assigned to this trial
    budget_steps: int = 0  # env steps this phase may use (adaptation or meta-training)
    budget_seconds: float = 0.0  # wall-clock seconds this phase may use
    scratch: Path | None = None  # the only directory the agent should write to
    adapt_budgets: tuple[int, ...] = ()  # the suite's adaptation budgets (steps), e.g. for meta-training
    eval_episodes: int = 0  # evaluation episodes of this family's trials (0: not said), to shape meta-training
    text: bool = False  # a text suite: info["text"], info["legal_actions"], string actions
    token_budget: int = 0  # model tokens the adaptation phase may use (text suites)
    eval_tokens: int = 0  # model tokens each evaluation episode may use (text suites)
    llm: LLM | None = None  # the model gateway (text suites; set in the agent process)


class LLM(Protocol):
    """``spec.llm``: a language model reached through the harness, which counts every token.

    Each call is charged its prompt and completion tokens against the phase's token budget
    (``spec.token_budget`` while adapting, ``spec.eval_tokens`` per evaluation episode). A call
    that could exceed what is left (its prompt plus ``max_tokens``) is refused before the model
    runs, with :class:`BudgetExhausted`; while evaluating, an ``act`` that lets it escape
    forfeits that move (it counts as an answer that names no legal move).
    """

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 64) -> str:
        """The model's reply to OpenAI-style ``messages`` (``{"role": ..., "content": ...}``)."""
        ...

    def complete(self, prompt: str, max_tokens: int = 64) -> str:
        """The model's continuation of ``prompt``."""
        ...

    def choose(self, messages: list[dict[str, str]], options: list[str]) -> str:
        """Constrained decoding: the reply is exactly one of ``options`` where the model server
        supports grammars (the embedded model does); elsewhere, what the model says."""
        ...

    @property
    def tokens_left(self) -> int:
        """Tokens the current phase (adaptation, or this evaluation episode) may still use."""
        ...


class TaskSampler(Protocol):
    """Handed to ``Agent.meta_train``: gives envs of the suite's meta-train variants."""

    budget_steps: int  # total env steps meta-training may use, over every sampled env

    def sample(
        self, num_envs: int = 1, independent: bool = False
    ) -> gym.Env[Any, Any] | gym.vector.VectorEnv[Any, Any, Any]:
        """An env of a freshly sampled train variant: a vector env of ``num_envs`` copies of it,
        or (``independent``) of ``num_envs`` train variants, one each, as a meta-learner wants
        many tasks side by side. An episode's end restarts the same copy's variant."""
        ...

    @property
    def steps_left(self) -> int: ...


class Agent:
    """Base class of a submission's agent. Override what you need; ``act`` is required.

    Set ``num_envs`` on the class to receive a Gymnasium vector env of that many copies of the
    variant in ``adapt`` (steps of every copy count against the one budget).
    """

    num_envs: int = 1

    def __init__(self, spec: AgentSpec):
        self.spec = spec

    def meta_train(self, tasks: TaskSampler) -> None:
        """Optional: learn across train variants. Runs once per (submission, suite, family)."""

    def save(self, path: Path) -> None:
        """Write what meta-training learned into the directory ``path``."""

    def load(self, path: Path) -> None:
        """Read it back; called before every trial when a meta-training checkpoint exists."""

    def adapt(self, env: gym.Env[Any, Any]) -> None:
        """Learn on the unseen variant within the budget. Not called for a budget of 0."""

    def reset(self) -> None:
        """Called before each evaluation episode."""

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        """The evaluation policy: return an action for ``observation``.

        ``info`` is the env's info (``action_mask`` where moves can be illegal) plus ``reward``:
        what the agent's previous action earned, also across an episode's end, so a memory-based
        agent can keep adapting while it is evaluated. It is absent only on the first call.
        """
        raise NotImplementedError("an agent must implement act(observation, info)")
