"""The units of work a runner takes (a trial, a meta-training job) and what each one yields."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

from arena.records import Status
from arena.seeding import derive_seed
from arena.submission import Submission
from arena.suites import Suite


@dataclass(frozen=True, kw_only=True)
class TrialJob:
    """One (submission, suite, split, variant, budget, seed): the unit of work and of storage."""

    submission: Submission
    suite: Suite
    split: str
    variant: str
    group: str  # the variant's group in the split: interpolation, extrapolation, train (or ladder)
    budget: int
    adapt_seconds: float
    seed: int
    # The split's seed (public for dev, secret for test) is given to build the job and never
    # kept: the job carries only this trial's own env seed, derived from it, so the raw test
    # seed never reaches a runner (a Ray node, say). See arena.harness.trial.TrialSeeds.
    split_seed: InitVar[int | None] = None
    env_seed: int = 0
    checkpoint: str | None = None
    device: str = "cpu"
    meta_train_seed: int = 0  # whose checkpoint: one of the suite's meta-training runs
    model: str = ""  # the text track's language model (a key part)
    llm_url: str = ""  # where the runner reaches it (an OpenAI-compatible server); not a key part

    def __post_init__(self, split_seed: int | None) -> None:
        if split_seed is not None:
            object.__setattr__(self, "env_seed", derive_seed(split_seed, self.variant, self.seed))

    @property
    def family(self) -> str:
        return self.variant.split("(")[0]

    @property
    def key(self) -> tuple[str, str, int, str, str, int, int, int, str]:
        """The stored trial's key (``TrialRecord.KEY``)."""
        return (
            self.submission.hash,
            self.suite.name,
            self.suite.version,
            self.split,
            self.variant,
            self.budget,
            self.seed,
            self.meta_train_seed,
            self.model,
        )


@dataclass(frozen=True, kw_only=True)
class MetaTrainJob:
    """One (submission, suite version, family)'s meta-training, into the folder ``checkpoint``."""

    submission: Submission
    suite: Suite
    family: str
    checkpoint: str
    device: str = "cpu"
    meta_train_seed: int = 0


Job = TrialJob | MetaTrainJob


@dataclass
class TextAnswers:
    """Answers that named no legal move (text suites): how many, and the first few verbatim."""

    count: int = 0
    first: list[str] = field(default_factory=list)
    KEEP: ClassVar[int] = 5

    def add(self, env: Any) -> None:
        self.count += int(getattr(env, "unparsable_answers", 0))
        for answer in getattr(env, "illegal_answers", ())[: self.KEEP - len(self.first)]:
            self.first.append(str(answer)[:200])


@dataclass
class Outcome:
    """What running a job gave: its status and, for a trial, what it earned."""

    status: Status
    error: str | None = None
    eval_return: float | None = None
    episode_returns: list[float] = field(default_factory=list)
    steps_used: int = 0
    wall_seconds: float = 0.0
    adapt_seconds: float = 0.0
    startup_seconds: float = 0.0  # from the trial's start to the agent's first message
    worker_pid: int = 0  # the agent process that ran it: a new one means a cold start
    adapt_return: float | None = None  # reward earned while adapting, counted by the env server
    success_rate: float | None = None  # evaluation episodes that reached the goal, where the family says
    node: str = ""  # the machine the runner ran on
    device: str = ""  # where the agent says it computed ("cpu", "cuda:0"), not only where it was offered
    memory_cap: str = ""  # how its memory was capped: "cgroup", "rlimit" or "none"
    tokens_used: int = 0  # text track: model tokens charged, adaptation and evaluation
    llm_calls: int = 0
    answers: TextAnswers = field(default_factory=lambda: TextAnswers())  # that named no legal move


class AgentFailure(Exception):
    """The agent failed (crashed, hung, broke the protocol, acted outside the action space):
    the job ends with ``status`` and the agent process is replaced."""

    def __init__(self, status: Status, text: str):
        super().__init__(text)
        self.status = status
        self.text = text
