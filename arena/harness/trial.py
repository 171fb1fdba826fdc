"""The trial procedure, written once: seeds, adaptation, evaluation; and meta-training's.

Whoever runs a trial runs it through these functions: the runner with a sandboxed
:class:`~arena.harness.agent_process.AgentProcess`, the ladder (adaptation, then its own
cross-play evaluation), and the in-process reference run (:mod:`arena.inprocess`), whose
returns a trial through the harness must equal bit for bit. They differ only in the
:class:`AgentEndpoint` that carries the commands to the agent.

A trial of (variant, budget, seed) on a split:

1. **Seeds** (:class:`TrialSeeds`): the agent's own seed derives from the trial seed alone; the
   env seeds derive from the split's seed, the variant and the trial seed, and never reach the
   agent.
2. **Adaptation**: the agent is built from its :class:`~arena.api.AgentSpec` (spaces, family,
   seed, device, budget; never the variant), loads the meta-training checkpoint, and adapts on
   proxies of an :class:`~arena.harness.envserver.EnvServer` that counts every step against
   the budget. At budget 0 the agent gets no env and ``adapt`` is not called.
3. **Evaluation**: the harness resets the real env with secret seeds and asks the agent for
   every action of ``eval_episodes`` episodes (``act`` also sees what the previous action
   earned), checking each against the action space. The trial's score is the mean return.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import games
from arena.api import AgentSpec
from arena.boundary.protocol import Kind
from arena.harness.envserver import Budget, EnvServer, InvalidAction, check_action, fixed, make_env
from arena.harness.gateway import Gateway, Model
from arena.harness.jobs import AgentFailure, MetaTrainJob, Outcome, TrialJob
from arena.records import Status
from arena.seeding import derive_seed


class AgentEndpoint(Protocol):
    """One agent as the procedures drive it: in a sandboxed process, or in this process."""

    def begin_trial(self, spec: AgentSpec, checkpoint: str | None) -> None:
        """Build the trial's agent (and load the checkpoint); it starts adapting at once."""

    def begin_meta_train(self, spec: AgentSpec) -> None:
        """Build a fresh agent; it starts meta-training at once."""

    def serve(self, server: EnvServer, until: Kind, deadline: float, phase: str) -> float:
        """Answer the agent's env requests from ``server`` until it reports ``until``; returns
        when (monotonic) its first message came. Raises AgentFailure past ``deadline``."""

    def act(
        self,
        new_episode: bool,
        observation: Any,
        info: dict[str, Any],
        reward: float,
        deadline: float,
        gateway: Gateway | None = None,
    ) -> Any:
        """The agent's action (unchecked) for one evaluation step; the model calls the agent
        makes meanwhile (text suites) go to ``gateway``."""

    def end_trial(self) -> None:
        """The trial is over; the agent is dropped."""

    def finish_meta_train(self, destination: Path) -> None:
        """Put what the agent saved into the folder ``destination``."""


@dataclass(frozen=True)
class TrialSeeds:
    """Every seed of one trial. ``env`` is secret: it never reaches the agent."""

    agent: int
    env: int

    @classmethod
    def of(cls, job: TrialJob) -> TrialSeeds:
        """The agent's seed from the trial seed, and the variant where the suite sets
        ``independent_agent_seeds`` (else every trial of one trial seed samples from one agent
        stream, so a suite of one seed scores correlated tasks); the env's is the job's (derived
        from the split's seed, the variant and the trial seed when the job was planned). The
        variant's id is public, so the agent's seed says nothing of the secret env seed."""
        of_trial = (job.seed, job.variant) if job.suite.independent_agent_seeds else (job.seed,)
        return cls(agent=derive_seed("agent", *of_trial) % 2**31, env=job.env_seed)

    def adaptation(self, budget: int) -> int:
        """The seed of the env server that serves the adaptation phase."""
        return derive_seed(self.env, budget, "adapt")

    def episode(self, episode: int) -> int:
        """The seed of the ``episode``-th evaluation episode's reset."""
        return derive_seed(self.env, "eval", episode)


@dataclass(frozen=True)
class MetaTrainSeeds:
    """Every seed of one meta-training run: the agent's, the train-variant sampler's, the env server's."""

    agent: int
    sampler: int
    env: int

    @classmethod
    def of(cls, suite_id: str, family: str, meta_train_seed: int, legacy: bool) -> MetaTrainSeeds:
        """``legacy``: a suite without ``meta_train_seeds``, whose one run keeps the seeds every
        suite used before there were several (recorded results depend on them)."""
        if legacy:
            return cls(derive_seed("agent", "meta_train") % 2**31, 0, derive_seed(suite_id, family, "meta_train"))
        return cls(
            agent=derive_seed("agent", "meta_train", meta_train_seed) % 2**31,
            sampler=derive_seed("sampler", meta_train_seed),
            env=derive_seed(suite_id, family, "meta_train", meta_train_seed),
        )


@dataclass(frozen=True)
class Evaluation:
    returns: list[float]
    successes: list[bool | None]  # per episode: whether it reached the goal (None: no goal)

    @property
    def success_rate(self) -> float | None:
        known = [s for s in self.successes if s is not None]
        return sum(known) / len(known) if known else None


def answer(server: EnvServer, message: tuple[Any, ...]) -> tuple[Any, ...]:
    """The env server's answer to one of the agent's env requests; an invalid action, or a
    family that fails, ends the trial with a status instead of crashing the run."""
    try:
        return server.handle(message)
    except InvalidAction as exc:
        raise AgentFailure(Status.INVALID_ACTION, str(exc)) from None
    except AgentFailure:
        raise  # the model gateway's, already named
    except Exception as exc:  # a family bug must not crash the run; record it
        raise AgentFailure(Status.ERROR, f"harness: env failed on {message[0]}: {type(exc).__name__}: {exc}") from None


def trial_spec(job: TrialJob, seeds: TrialSeeds, spaces: Any) -> AgentSpec:
    """What the agent of a trial may know (the endpoint adds its scratch folder)."""
    return AgentSpec(
        observation_space=spaces.observation_space,
        action_space=spaces.action_space,
        family=job.family,
        seed=seeds.agent,
        device=job.device,
        budget_steps=job.budget,
        budget_seconds=job.adapt_seconds,
        adapt_budgets=job.suite.budgets,
        eval_episodes=job.suite.eval_episodes_of(job.family),
        text=job.suite.text,
        token_budget=token_budget(job),
        eval_tokens=job.suite.eval_tokens if job.suite.text else 0,
    )


def token_budget(job: TrialJob) -> int:
    """The adaptation phase's model tokens: the suite's ``token_budgets`` entry paired with the
    trial's step budget (0 where the suite sets none)."""
    suite = job.suite
    if not suite.text or not suite.token_budgets or job.budget not in suite.budgets:
        return 0
    return suite.token_budgets[suite.budgets.index(job.budget)]


@dataclass(frozen=True)
class Adaptation:
    first_message: float  # monotonic time of the agent's first message
    ended: float


def adapt(
    agent: AgentEndpoint,
    job: TrialJob,
    variant: games.Variant,
    seeds: TrialSeeds,
    spec: AgentSpec,
    outcome: Outcome,
    setup_seconds: float,
    gateway: Gateway | None = None,
) -> Adaptation:
    """Phase 2: the agent adapts to ``variant`` within the job's budget (steps into ``outcome``)."""
    agent.begin_trial(spec, job.checkpoint)
    server = EnvServer(
        Budget(job.budget, job.adapt_seconds),
        fixed(variant),
        seeds.adaptation(job.budget),
        job.suite.batched_envs,
        text=job.suite.text,
        gateway=gateway,
    )
    try:
        grace = setup_seconds + 0.1 * job.adapt_seconds
        first = agent.serve(server, until=Kind.ADAPTED, deadline=server.budget.deadline + grace, phase="adaptation")
        outcome.device = getattr(agent, "reported_device", "") or spec.device  # where it computed, as it says
        return Adaptation(first, time.monotonic())
    finally:
        outcome.steps_used = server.steps_used
        outcome.adapt_return = server.reward_sum
        server.close()
        outcome.answers = server.answers_seen()


def evaluate(
    agent: AgentEndpoint,
    env: Any,
    episodes: int,
    seeds: TrialSeeds,
    seconds: float,
    goal: bool = False,
    gateway: Gateway | None = None,
) -> Evaluation:
    """Phase 3: harness-driven evaluation episodes with seeds the agent never sees. ``goal``: the
    family's episodes terminate only at the goal, so each episode's success is whether it did.
    On a text suite each episode has its own model tokens (``gateway``), and an answer may be a
    move's name, which the env's text wrapper reads."""
    deadline = time.monotonic() + seconds
    returns: list[float] = []
    successes: list[bool | None] = []
    reward: Any = 0.0  # paid for the agent's previous action, across episode ends too
    for episode in range(episodes):
        obs, info = env.reset(seed=seeds.episode(episode))
        if gateway is not None:
            gateway.start_episode()
        total, new_episode = 0.0, True
        while True:
            raw = agent.act(new_episode, obs, info, float(reward), deadline, gateway)
            try:
                action = raw if gateway is not None and isinstance(raw, str) else check_action(env.action_space, raw)
            except InvalidAction as exc:
                raise AgentFailure(Status.INVALID_ACTION, str(exc)) from None
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            new_episode = False
            if terminated or truncated:
                break
        returns.append(total)
        # A forfeit (text suites: an answer that names no move) ends an episode too, not at the goal.
        successes.append(bool(terminated) and not info.get("illegal_action") if goal else None)
    return Evaluation(returns, successes)


def run_trial(
    agent: AgentEndpoint,
    job: TrialJob,
    outcome: Outcome,
    started: float,
    setup_seconds: float,
    model: Model | None = None,
) -> None:
    """The whole trial, into ``outcome``; an agent failure raises AgentFailure (what the trial
    earned so far, its steps, stays in ``outcome``). ``model``: a text suite's language model."""
    variant = games.parse_variant(job.variant)
    text = job.suite.text
    eval_env = make_env(variant, text)
    seeds = TrialSeeds.of(job)
    spec = trial_spec(job, seeds, eval_env)
    gateway = Gateway(model, spec.token_budget, spec.eval_tokens) if text else None
    try:
        adaptation = adapt(agent, job, variant, seeds, spec, outcome, setup_seconds, gateway)
        outcome.startup_seconds = round(adaptation.first_message - started, 4)
        outcome.adapt_seconds = round(adaptation.ended - adaptation.first_message, 4)
        episodes = job.suite.eval_episodes_of(job.family)
        goal = games.get_family(job.family).success_on_termination
        evaluation = evaluate(agent, eval_env, episodes, seeds, job.suite.eval_seconds, goal, gateway)
    finally:
        if gateway is not None:
            outcome.tokens_used, outcome.llm_calls = gateway.tokens_used, gateway.llm_calls
            outcome.answers.add(eval_env)  # after the adaptation's, the first few kept
    outcome.episode_returns = evaluation.returns
    outcome.eval_return = float(sum(evaluation.returns) / len(evaluation.returns))
    outcome.success_rate = evaluation.success_rate
    agent.end_trial()


def run_meta_train(agent: AgentEndpoint, job: MetaTrainJob, outcome: Outcome, setup_seconds: float) -> None:
    """Meta-training of one (submission, suite version, family) on the suite's train variants,
    within the suite's meta-train budget; the checkpoint goes into ``job.checkpoint``."""
    suite = job.suite
    seeds = MetaTrainSeeds.of(suite.id, job.family, job.meta_train_seed, legacy=not suite.meta_train_seeds)
    steps = suite.meta_train_steps_of(job.family)
    spaces = games.make(games.Variant.of(job.family))
    spec = AgentSpec(
        observation_space=spaces.observation_space,
        action_space=spaces.action_space,
        family=job.family,
        seed=seeds.agent,
        device=job.device,
        budget_steps=steps,
        budget_seconds=suite.meta_train_seconds,
        adapt_budgets=suite.budgets,
        eval_episodes=suite.eval_episodes_of(job.family),
    )
    agent.begin_meta_train(spec)
    variants = suite.train_sampler(job.family, seed=seeds.sampler)
    server = EnvServer(Budget(steps, suite.meta_train_seconds), variants, seeds.env, suite.batched_envs)
    serving = time.monotonic()
    try:
        grace = setup_seconds + 0.1 * suite.meta_train_seconds
        agent.serve(server, until=Kind.META_TRAINED, deadline=server.budget.deadline + grace, phase="meta-training")
        outcome.device = getattr(agent, "reported_device", "") or job.device
    finally:
        outcome.steps_used = server.steps_used
        outcome.adapt_seconds = round(time.monotonic() - serving, 4)  # the phase alone: no start, no saving
        server.close()
    agent.finish_meta_train(Path(job.checkpoint))
