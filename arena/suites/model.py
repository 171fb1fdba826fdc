"""What a suite is: its protocol (budgets, seeds, limits), its families' distributions, and the
variants of each split, drawn deterministically from its seeds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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

    def distribution(self, group: str) -> dict[str, Dist]:
        if group == "extrapolation":
            return {**self.train, **self.extrapolation}
        return dict(self.train)


@dataclass(frozen=True)
class TestVariant:
    variant: Variant
    group: str  # "interpolation", "extrapolation" or "train"

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

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def plan(self, family: str) -> FamilyPlan:
        for plan in self.families:
            if plan.family == family:
                return plan
        raise ArenaError(f"suite {self.name} has no family {family!r}")

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
                else [("interpolation", plan.n_interpolation), ("extrapolation", plan.n_extrapolation)]
            )
            seen: set[str] = set()
            for group, count in groups:
                rng = np.random.default_rng(derive_seed(self.name, self.version, split, seed, plan.family, group))
                dist = plan.distribution(group)
                for _ in range(count):
                    # Small discrete spaces can repeat; redraw a few times, then accept fewer.
                    for _attempt in range(20):
                        variant = sample_variant(plan.family, dist, rng)
                        if variant.id not in seen:
                            seen.add(variant.id)
                            out.append(TestVariant(variant, group))
                            break
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


def sample_variant(family: str, dist: Mapping[str, Dist], rng: np.random.Generator) -> Variant:
    fam = games.get_family(family)
    # Sorted so that adding a parameter to the TOML never reorders the draws of the others.
    args = {key: dist[key].sample(rng, fam.params[key]) for key in sorted(dist)}
    return Variant.of(family, **args)
