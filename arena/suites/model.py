"""What a suite is: its protocol (budgets, seeds, limits), its families' distributions, and the
variants of each split, drawn deterministically from its seeds."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

import games
from arena.errors import ArenaError
from arena.seeding import derive_seed
from games import Variant

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class Dist:
    """How one parameter is drawn: a fixed value, a uniform range, or a choice."""

    kind: Literal["fixed", "range", "choice"]
    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator, param: games.Param) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        low, high = self.values
        return param.between(rng, low, high)

    def describe(self) -> str:
        if self.kind == "fixed":
            return str(self.values[0])
        if self.kind == "choice":
            return "{" + ", ".join(str(v) for v in self.values) + "}"
        return f"[{self.values[0]}, {self.values[1]}]"


@dataclass(frozen=True)
class Reference:
    """Normalisation anchors: score 0 is ``random``, score 1 is ``reference``."""

    random: float
    reference: float
    method: str = ""


@dataclass(frozen=True)
class FamilyPlan:
    family: str
    train: Mapping[str, Dist]
    extrapolation: Mapping[str, Dist]  # overrides of ``train`` for the extrapolation group
    n_interpolation: int
    n_extrapolation: int
    reference: Reference | None = None
    # Variants outside what meta-training can see on purpose (more arms than it ever had, say):
    # reported as their own group, never pooled into a board's headline.
    out_of_support: Mapping[str, Dist] = field(default_factory=dict)
    n_out_of_support: int = 0
    eval_episodes: int | None = None  # this family's own, where it differs from the suite's
    meta_train_steps: int | None = None

    def distribution(self, group: str) -> dict[str, Dist]:
        if group == "extrapolation":
            return {**self.train, **self.extrapolation}
        if group == "out_of_support":
            return {**self.train, **self.out_of_support}
        return dict(self.train)


@dataclass(frozen=True)
class TestVariant:
    variant: Variant
    group: str  # "interpolation", "extrapolation", "out_of_support" or "train"

    @property
    def family(self) -> str:
        return self.variant.family


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    budgets: tuple[int, ...]
    adapt_seconds: tuple[float, ...]  # one per budget
    seeds: int
    eval_episodes: int
    eval_seconds: float
    meta_train_steps: int
    meta_train_seconds: float
    dev_seed: int
    families: tuple[FamilyPlan, ...]
    references: Mapping[str, Reference] = field(default_factory=dict)  # by variant id
    path: Path | None = None
    # Checkpoints per (submission, family): 0 is the legacy single meta-training run, with the
    # seeds every suite used before meta_train_seeds existed (recorded results depend on them).
    meta_train_seeds: int = 0
    text: bool = False  # the text track: info["text"] and info["legal_actions"]; string actions
    token_budgets: tuple[int, ...] = ()  # model tokens of each adaptation phase, one per budget
    eval_tokens: int = 0  # model tokens per evaluation episode
    test_seed_sha256: str = ""  # the hash of the official test seed: only that seed makes a row official
    published: Mapping[str, Any] = field(default_factory=dict)  # [reproduce]: a paper's table to compare with
    batched_envs: bool = False  # vector envs of the families that have one step in one numpy call
    # Each trial's agent seeded from its trial seed and its variant: tasks sample independently.
    # Without it (every suite before it), all trials of one trial seed share one agent seed.
    independent_agent_seeds: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def _own(self, family: str) -> FamilyPlan | None:
        return next((plan for plan in self.families if plan.family == family), None)

    def eval_episodes_of(self, family: str) -> int:
        """The family's evaluation episodes: its own where it sets them, else the suite's."""
        plan = self._own(family)
        return self.eval_episodes if plan is None or plan.eval_episodes is None else plan.eval_episodes

    def meta_train_steps_of(self, family: str) -> int:
        plan = self._own(family)
        return self.meta_train_steps if plan is None or plan.meta_train_steps is None else plan.meta_train_steps

    def meta_train_seed_list(self) -> tuple[int, ...]:
        """The meta-training seeds trials are crossed with: (0,) for the legacy single run."""
        return tuple(range(self.meta_train_seeds)) if self.meta_train_seeds else (0,)

    def plan(self, family: str) -> FamilyPlan:
        plan = self._own(family)
        if plan is None:
            raise ArenaError(f"suite {self.name} has no family {family!r}")
        return plan

    def variants(self, split: Split, seed: int | None = None) -> list[TestVariant]:
        """The variants of a split, deterministic given suite version, split and seed.

        ``dev`` uses the suite's public seed; ``test`` needs the secret seed; ``train`` draws
        evaluation variants from the meta-train distribution.
        """
        if split == "dev":
            seed = self.dev_seed if seed is None else seed
        elif split == "test" and seed is None:
            raise ArenaError("the test split needs the secret seed: pass --test-seed-file")
        elif split == "train" and seed is None:
            seed = 0
        out: list[TestVariant] = []
        for plan in self.families:
            groups = (
                [("train", plan.n_interpolation + plan.n_extrapolation)]
                if split == "train"
                else [
                    ("interpolation", plan.n_interpolation),
                    ("extrapolation", plan.n_extrapolation),
                    ("out_of_support", plan.n_out_of_support),
                ]
            )
            seen: set[str] = set()
            for group, count in groups:
                rng = np.random.default_rng(derive_seed(self.name, self.version, split, seed, plan.family, group))
                dist = plan.distribution(group)
                drawn = 0
                for _ in range(count):
                    # Small discrete spaces can repeat; redraw a few times, then accept fewer.
                    for _attempt in range(20):
                        variant = sample_variant(plan.family, dist, rng)
                        if variant.id not in seen:
                            seen.add(variant.id)
                            out.append(TestVariant(variant, group))
                            drawn += 1
                            break
                if drawn < count:
                    _warn_fewer(self.id, split, plan.family, group, drawn, count)
        return out

    def train_sampler(self, family: str, seed: int) -> Iterator[Variant]:
        """An endless stream of meta-train variants of one family."""
        plan = self.plan(family)
        rng = np.random.default_rng(derive_seed(self.name, self.version, "meta-train", family, seed))
        while True:
            yield sample_variant(family, plan.train, rng)

    def reference(self, variant: Variant) -> Reference:
        """Normalisation anchors of a variant: measured per variant, else analytic, else per family."""
        if variant.id in self.references:
            return self.references[variant.id]
        family = games.get_family(variant.family)
        if family.reference is not None:
            low, high = family.reference(variant.params)
            return Reference(low, high, "analytic")
        plan = self.plan(variant.family)
        if plan.reference is None:
            raise ArenaError(f"suite {self.name} has no normalization reference for {variant.id}")
        return plan.reference

    def normalized(self, variant: Variant, eval_return: float | None) -> float:
        """(R - R_random) / (R_reference - R_random); a failed trial (None) scores at the floor."""
        if eval_return is None:
            return 0.0
        ref = self.reference(variant)
        span = ref.reference - ref.random
        if span == 0:
            return 0.0
        return (eval_return - ref.random) / span

    def online(
        self, variant: Variant, adapt_return: float | None, steps_used: int, episode_returns: Sequence[float]
    ) -> float | None:
        """The regret-normalized return of the whole trial, adaptation and evaluation together:
        ``(G - G_random) / (G_optimal - G_random)``, where ``G`` is what the agent earned (the env
        server's count while it adapted, plus every evaluation episode) and each reference earns
        its per-step rate (renewal reward: return / episode length) over the steps the agent used,
        plus its episode return per evaluation episode. None where the family has no analytic
        reference and episode lengths; 0, the floor, for a failed trial (``adapt_return`` None)."""
        family = games.get_family(variant.family)
        if family.reference is None or family.episode_lengths is None:
            return None
        if adapt_return is None or not episode_returns:
            return 0.0
        params = variant.params
        low, high = family.reference(params)
        random_length, best_length = family.episode_lengths(params)
        episodes = len(episode_returns)
        random_total = steps_used * low / max(random_length, 1.0) + episodes * low
        best_total = steps_used * high / max(best_length, 1.0) + episodes * high
        if best_total == random_total:
            return 0.0
        return (adapt_return + float(sum(episode_returns)) - random_total) / (best_total - random_total)


def sample_variant(family: str, dist: Mapping[str, Dist], rng: np.random.Generator) -> Variant:
    fam = games.get_family(family)
    # Sorted so that adding a parameter to the TOML never reorders the draws of the others.
    args = {key: dist[key].sample(rng, fam.params[key]) for key in sorted(dist)}
    return Variant.of(family, **args)


class SuiteWarning(UserWarning):
    """A suite means less than it says (a variant it asks for cannot be drawn)."""


@functools.cache
def _warn_fewer(suite: str, split: str, family: str, group: str, drawn: int, count: int) -> None:
    """Once per process: a group's distribution repeats variants already drawn (an extrapolation
    range that is the interpolation one, a choice of one value), so the split has fewer."""
    warnings.warn(
        f"suite {suite}: {split} split has {drawn} of the {count} {group} variants of {family} it asks for; "
        "the others repeat variants already drawn (widen that distribution, or lower its count)",
        SuiteWarning,
        stacklevel=3,
    )
