"""The cross-play ladder: submissions against each other on a suite's two-player variants.

``arena ladder --suite S A B C…`` plays every pair of submissions on the dev variants of the
suite's two-player families (``players == 2``), in both seats, for several seeds. One match is
one (variant, submission A, submission B, seat of A, seed); its protocol:

1. **Adaptation, exactly as in an ordinary trial**: the trial procedure's own adaptation phase
   (:func:`arena.harness.trial.adapt`). Each agent, in its own sandboxed agent process, is built
   with the trial's agent seed, loads its
   meta-training checkpoint when the suite has one, and adapts within the suite's smallest
   non-zero budget (steps and seconds) against the variant's own fixed ``opponent``, playing
   the seat it will play in the match (the variant's ``seat`` parameter is replaced by it;
   otherwise the variant is unchanged). Same budget, same secret env seeds as the trial of that
   (variant, budget, seed): an agent adapts to a variant it has not seen, then meets a rival.
2. **Evaluation against each other.** The harness owns the real game: it builds the variant
   with an external opponent (``games.make(variant, opponent_policy=…)``), asks A's worker for
   ``act(observation, info)`` on A's turns and B's worker on B's turns (each sees only its own
   seat's observation and action mask), for the suite's ``eval_episodes`` games. Game seeds
   (cards, dice, chance) depend on (variant, seed, game) only, so both seatings of a pair meet
   the same deals. Each agent has its own clock of the suite's ``eval_seconds`` for the match.
3. **Scoring.** A game is a win (1), draw (0.5) or loss (0) by the sign of A's return. An
   illegal move (outside the action mask) or an invalid action (outside the action space) loses
   that game for the offender, and is counted. A worker failure (crash, timeout, out of memory,
   a broken message) ends the match with that status, recorded like a trial's: the failing side
   forfeits every game of the match; a harness failure is recorded but counted for nobody.

Families without a ``seat`` parameter (``rps``: simultaneous and symmetric) play one seating.
Every match is a pure function of its key: both agents adapt afresh for every match, so results
do not depend on the order in which matches run, and a resumed ladder equals an uninterrupted
one. Matches are stored as :class:`arena.records.MatchRecord` s; ratings come from
:mod:`arena.ladder.ratings`.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import arena
import games
from arena.errors import ArenaError
from arena.harness import trial
from arena.harness.agent_process import AgentProcess
from arena.harness.envserver import InvalidAction, check_action
from arena.harness.jobs import AgentFailure, Outcome, TrialJob
from arena.harness.limits import Limits
from arena.harness.runner import Runner
from arena.records import MatchRecord, Status
from arena.seeding import derive_seed
from arena.store import Store
from arena.submission import Submission
from arena.suites import Suite

FAILED_META = "meta-training failed"


def ladder_variants(suite: Suite, families: Sequence[str] | None = None) -> list[games.Variant]:
    """The dev variants of the suite's two-player families (optionally only of ``families``)."""
    two_player = [p.family for p in suite.families if games.get_family(p.family).players == 2]
    if families:
        unknown = sorted(set(families) - set(two_player))
        if unknown:
            raise ArenaError(
                f"suite {suite.name} has no two-player family {unknown[0]!r}; "
                f"its two-player families: {', '.join(two_player) or 'none'}"
            )
        two_player = [f for f in two_player if f in families]
    return [tv.variant for tv in suite.variants("dev") if tv.family in two_player]


def ladder_budget(suite: Suite) -> tuple[int, float]:
    """The adaptation budget of a match: the suite's smallest non-zero budget (steps, seconds)."""
    pairs = sorted(zip(suite.budgets, suite.adapt_seconds, strict=True))
    for steps, seconds in pairs:
        if steps > 0:
            return steps, seconds
    return pairs[0]


def seats(family: str) -> tuple[int, ...]:
    """Seats A plays: both, unless the family has no seat (symmetric simultaneous games)."""
    return (0, 1) if "seat" in games.get_family(family).params else (0,)


def with_seat(variant: games.Variant, seat: int) -> games.Variant:
    if "seat" not in games.get_family(variant.family).params:
        return variant
    return games.Variant.of(variant.family, **{**dict(variant.args), "seat": seat})


@dataclass(frozen=True, kw_only=True)
class MatchJob:
    """One (suite, variant, A, B, seat of A, seed): the unit of work and of storage."""

    suite: Suite
    variant: str  # the dev variant's id
    a: Submission
    b: Submission
    seat_a: int
    seed: int
    budget: int
    adapt_seconds: float
    split_seed: int  # the dev split's public seed
    checkpoint_a: str | None = None
    checkpoint_b: str | None = None

    @property
    def family(self) -> str:
        return self.variant.split("(")[0]

    @property
    def key(self) -> tuple[str, int, str, str, str, int, int]:
        return (self.suite.name, self.suite.version, self.variant, self.a.hash, self.b.hash, self.seat_a, self.seed)

    def variant_for(self, side: str) -> games.Variant:
        seat = self.seat_a if side == "a" else 1 - self.seat_a
        return with_seat(games.parse_variant(self.variant), seat)

    def trial_for(self, side: str, submission: Submission, checkpoint: str | None) -> TrialJob:
        """The ordinary trial whose adaptation phase a side plays before the match."""
        return TrialJob(
            submission=submission,
            suite=self.suite,
            split="dev",
            variant=self.variant_for(side).id,
            group="ladder",
            budget=self.budget,
            adapt_seconds=self.adapt_seconds,
            seed=self.seed,
            split_seed=self.split_seed,
            checkpoint=checkpoint,
        )


@dataclass
class MatchOutcome:
    status: Status = Status.OK
    failed: str | None = None  # "a", "b" or "harness"
    error: str | None = None
    games: int = 0
    wins_a: int = 0
    draws: int = 0
    losses_a: int = 0
    illegal_a: int = 0
    illegal_b: int = 0
    returns_a: list[float] = field(default_factory=list)
    steps_a: int = 0
    steps_b: int = 0
    wall_seconds: float = 0.0

    @property
    def score_a(self) -> float | None:
        """A's mean game score; a failure forfeits the match for the side that caused it."""
        if self.status != Status.OK:
            return {"a": 0.0, "b": 1.0}.get(self.failed or "")
        if not self.games:
            return None
        return (self.wins_a + 0.5 * self.draws) / self.games

    def record(self, job: MatchJob) -> MatchRecord:
        return MatchRecord(
            suite=job.suite.name,
            suite_version=job.suite.version,
            variant=job.variant,
            submission_a_hash=job.a.hash,
            submission_b_hash=job.b.hash,
            seat_a=job.seat_a,
            seed=job.seed,
            family=job.family,
            submission_a=job.a.name,
            submission_a_version=job.a.version,
            submission_b=job.b.name,
            submission_b_version=job.b.version,
            budget=job.budget,
            status=self.status,
            failed=self.failed,
            error=self.error,
            games=self.games,
            wins_a=self.wins_a,
            draws=self.draws,
            losses_a=self.losses_a,
            score_a=self.score_a,
            illegal_a=self.illegal_a,
            illegal_b=self.illegal_b,
            returns_a=tuple(self.returns_a),
            steps_a=self.steps_a,
            steps_b=self.steps_b,
            wall_seconds=self.wall_seconds,
            arena_version=arena.__version__,
        )


class _SideFailure(Exception):
    def __init__(self, side: str, status: Status, text: str):
        super().__init__(text)
        self.side, self.status, self.text = side, status, text


@dataclass
class _Side:
    label: str  # "a" or "b"
    submission: Submission
    variant: games.Variant
    checkpoint: str | None
    clock: float  # evaluation seconds left
    agent: AgentProcess | None = None
    in_trial: bool = False  # the agent process is inside a TRIAL command and needs DONE
    action_space: Any = None


class MatchRunner:
    """Runs matches with the same sandboxed agent processes as trials (one per submission, reused)."""

    def __init__(self, limits: Limits | None = None):
        self.runner = Runner(limits)

    def close(self) -> None:
        self.runner.close()

    def run_match(self, job: MatchJob) -> MatchOutcome:
        started = time.monotonic()
        outcome = MatchOutcome()
        sides = [
            _Side(label, sub, job.variant_for(label), ckpt, job.suite.eval_seconds)
            for label, sub, ckpt in (("a", job.a, job.checkpoint_a), ("b", job.b, job.checkpoint_b))
        ]
        try:
            try:
                outcome.steps_a = self._adapt(job, sides[0])
                outcome.steps_b = self._adapt(job, sides[1])
                self._play(job, sides[0], sides[1], outcome)
            except _SideFailure:
                raise
            except Exception as exc:  # a family or harness bug: recorded, charged to nobody
                raise _SideFailure("harness", Status.ERROR, f"harness: {type(exc).__name__}: {exc}") from None
            for side in sides:
                self._finish(side)
        except _SideFailure as failure:
            outcome.status, outcome.failed, outcome.error = failure.status, failure.side, failure.text
            _forfeit(outcome, failure.side, job.suite.eval_episodes)
            for side in sides:
                if side.label == failure.side:
                    self.runner.discard(side.submission)
                else:
                    self._finish(side)
        outcome.wall_seconds = round(time.monotonic() - started, 4)
        return outcome

    def _finish(self, side: _Side) -> None:
        """End the agent's trial command so it takes the next one; one that can't is replaced."""
        if side.agent is None or not side.in_trial:
            return
        side.in_trial = False
        try:
            side.agent.end_trial()
        except AgentFailure:
            self.runner.discard(side.submission)

    def _adapt(self, job: MatchJob, side: _Side) -> int:
        """The trial procedure's adaptation phase, for this side's seat; returns the steps used."""
        trial_job = job.trial_for(side.label, side.submission, side.checkpoint)
        seeds = trial.TrialSeeds.of(trial_job)
        outcome = Outcome(status=Status.OK)
        try:
            agent = side.agent = self.runner.agent(side.submission)
            spaces_env = games.make(side.variant)
            side.action_space = spaces_env.action_space
            spec = trial.trial_spec(trial_job, seeds, spaces_env)
            spaces_env.close()
            side.in_trial = True
            trial.adapt(agent, trial_job, side.variant, seeds, spec, outcome, self.runner.limits.setup_seconds)
            return outcome.steps_used
        except AgentFailure as failure:
            raise _SideFailure(side.label, failure.status, failure.text) from None

    def _ask(
        self, side: _Side, new_episode: bool, observation: Any, info: dict[str, Any], reward: float = 0.0
    ) -> Any | None:
        """One action from a side's agent, checked against its action space; None if invalid."""
        assert side.agent is not None
        started = time.monotonic()
        try:
            raw = side.agent.act(new_episode, observation, info, reward, started + max(0.0, side.clock))
        except AgentFailure as failure:
            raise _SideFailure(side.label, failure.status, failure.text) from None
        side.clock -= time.monotonic() - started
        try:
            return check_action(side.action_space, raw)
        except InvalidAction:
            return None

    def _play(self, job: MatchJob, a: _Side, b: _Side, outcome: MatchOutcome) -> None:
        """The evaluation games: the harness steps the real game, each worker plays its seat."""
        b_new_episode = True

        def b_policy(observation: Any, info: dict[str, Any]) -> Any:
            # B is asked inside A's step. The ladder's games are zero-sum and pay only at their
            # end, so what B's previous move earned is 0 within a game, and at a new game's start
            # the negation of A's last reward of the game before.
            nonlocal b_new_episode
            action = self._ask(b, b_new_episode, observation, info, -float(reward) if b_new_episode else 0.0)
            b_new_episode = False
            return -1 if action is None else action  # -1 is outside every mask: B loses the game

        env = games.make(a.variant, opponent_policy=b_policy)
        secret = derive_seed(job.split_seed, job.variant, job.seed)
        try:
            reward: Any = 0.0  # paid for A's previous move, across games too
            for game in range(job.suite.eval_episodes):
                b_new_episode = True
                obs, info = env.reset(seed=derive_seed(secret, "ladder", game))
                total, new_episode = 0.0, True
                while True:
                    action: Any = 0  # ignored when B forfeited before A's first move: the step pays it
                    if not info.get("opponent_illegal_action"):
                        action = self._ask(a, new_episode, obs, info, float(reward))
                        new_episode = False
                        if action is None:
                            action = -1  # outside every mask: the env scores the loss
                    obs, reward, terminated, truncated, info = env.step(action)
                    total += float(reward)
                    if terminated or truncated or info.get("illegal_action") or info.get("opponent_illegal_action"):
                        break
                outcome.games += 1
                outcome.returns_a.append(total)
                if info.get("illegal_action"):
                    outcome.illegal_a += 1
                    outcome.losses_a += 1
                elif info.get("opponent_illegal_action"):
                    outcome.illegal_b += 1
                    outcome.wins_a += 1
                elif total > 1e-9:
                    outcome.wins_a += 1
                elif total < -1e-9:
                    outcome.losses_a += 1
                else:
                    outcome.draws += 1
        finally:
            env.close()


# --------------------------------------------------------------------------------------------
# Planning and running a ladder
# --------------------------------------------------------------------------------------------


def plan_matches(
    submissions: Sequence[Submission],
    suite: Suite,
    *,
    seeds: int | None = None,
    families: Sequence[str] | None = None,
) -> list[MatchJob]:
    """Every match of the ladder: variant × seed × seating × pair, pairs interleaved."""
    distinct = sorted({s.hash: s for s in submissions}.values(), key=lambda s: s.hash)
    pairs = list(itertools.combinations(distinct, 2))  # A is the one with the smaller hash
    budget, seconds = ladder_budget(suite)
    n_seeds = suite.seeds if seeds is None else seeds
    return [
        MatchJob(
            suite=suite,
            variant=variant.id,
            a=a,
            b=b,
            seat_a=seat,
            seed=seed,
            budget=budget,
            adapt_seconds=seconds,
            split_seed=suite.dev_seed,
        )
        for variant in ladder_variants(suite, families)
        for seed in range(n_seeds)
        for seat in seats(variant.family)
        for a, b in pairs
    ]


@dataclass
class LadderSummary:
    planned: int = 0
    already_stored: int = 0
    ran: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    interrupted: bool = False


Progress = Callable[[str, int, int, Counter[str]], None]


def run_ladder(
    submissions: Sequence[Submission],
    suite: Suite,
    store: Store,
    *,
    seeds: int | None = None,
    families: Sequence[str] | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> LadderSummary:
    """Play and store every missing match; resumable and idempotent."""
    from arena import campaign
    from arena.harness.executors import LocalExecutor

    started = time.monotonic()
    summary = LadderSummary()
    if len({s.hash for s in submissions}) < 2:
        raise ArenaError("a ladder needs at least two different submissions")
    if seeds is not None and seeds < 1:
        raise ArenaError("--seeds must be at least 1")
    jobs = plan_matches(submissions, suite, seeds=seeds, families=families)
    if not jobs:
        raise ArenaError(f"suite {suite.name} has no two-player variants in its dev split")
    for submission in submissions:
        store.add(campaign.submission_record(submission))
    done = store.match_keys(suite.name, suite.version, {s.hash for s in submissions})
    todo = [job for job in jobs if job.key not in done]
    summary.planned, summary.already_stored = len(jobs), len(jobs) - len(todo)
    runner = MatchRunner(limits)
    failed_meta: dict[tuple[str, str, int], tuple[str, str]] = {}
    try:
        if todo:
            # Meta-training as for `arena run` (stored, shared with it): each family once per submission.
            executor = LocalExecutor(1, limits)
            try:
                failed_meta = campaign.meta_train_missing(
                    list({s.hash: s for s in submissions}.values()),
                    suite,
                    store,
                    executor,
                    {job.family for job in todo},
                    progress,
                )
            finally:
                executor.shutdown()
        if progress and todo:
            progress("matches", 0, len(todo), summary.statuses)
        for job in todo:
            outcome = _meta_failure(job, failed_meta)
            if outcome is None:
                outcome = runner.run_match(_with_checkpoints(job, store))
            store.add(outcome.record(job))
            summary.statuses[outcome.status] += 1
            summary.ran += 1
            if progress:
                progress("matches", summary.ran, len(todo), summary.statuses)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        runner.close()
        summary.wall_seconds = time.monotonic() - started
    return summary


def _forfeit(outcome: MatchOutcome, side: str, games_lost: int) -> None:
    """A failed match: the side that caused it loses every game; a harness failure counts none."""
    counted = games_lost if side in ("a", "b") else 0
    outcome.games, outcome.draws = counted, 0
    outcome.wins_a = counted if side == "b" else 0
    outcome.losses_a = counted if side == "a" else 0


def _meta_failure(job: MatchJob, failed: dict[tuple[str, str, int], tuple[str, str]]) -> MatchOutcome | None:
    """A match forfeited by a side whose meta-training on the family failed (not played)."""
    for side, submission in (("a", job.a), ("b", job.b)):
        meta = failed.get((submission.hash, job.family, 0))
        if meta is not None:
            status, error = meta
            outcome = MatchOutcome(status=Status(status), failed=side, error=f"{FAILED_META}: {error}")
            _forfeit(outcome, side, job.suite.eval_episodes)
            return outcome
    return None


def _with_checkpoints(job: MatchJob, store: Store) -> MatchJob:
    def checkpoint(submission: Submission) -> str | None:
        record = store.meta_train(submission.hash, job.suite.name, job.suite.version, job.family)
        return record.checkpoint if record and record.status == Status.OK else None

    return replace(job, checkpoint_a=checkpoint(job.a), checkpoint_b=checkpoint(job.b))
