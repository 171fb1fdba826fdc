"""Checks a new suite must pass before it is published: no constant action is near-optimal on
every dev variant of a family, and every maze can be solved by exploring within its horizon.

A board whose family a constant action solves cannot tell learning from luck: on ``smoke``
version 1 both bandit dev variants had arm 0 as the best arm, and an agent that always pulled it
ranked 4th of 13. ``arena suite check NAME`` (and ``arena suite calibrate NAME``) run these;
suites published before the checks existed are listed in ``PREDATES_CHECKS`` and only warned
about, since a published version never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

import games
from arena.errors import ArenaError
from arena.seeding import derive_seed
from arena.suites.model import Suite

PREDATES_CHECKS = frozenset({"smoke@1", "metarl-v1@1", "classic-v1@1", "spiel-v1@1", "zoo-v1@1", "all-v1@1"})
DEGENERATE = 0.5  # normalized score a constant action must not reach on every dev variant
EPISODES = 3
FIRST = 20  # variants checked before the rest: one variant where no action reaches 0.5 settles it


@dataclass(frozen=True)
class Finding:
    """One problem of a suite, in one line."""

    family: str
    text: str


def constant_action_return(variant: games.Variant, action: int, episodes: int = EPISODES) -> float:
    """Mean return of always playing ``action`` (an illegal one meets the family's rule)."""
    env = games.make(variant)
    total = 0.0
    try:
        for episode in range(episodes):
            env.reset(seed=derive_seed("constant-action", variant.id, episode) % 2**31)
            while True:
                _, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return total / episodes


def near_optimal_constant_actions(suite: Suite) -> list[Finding]:
    """Families where one constant action scores at least 0.5 (normalized) on every dev variant."""
    findings = []
    dev = suite.variants("dev")
    for plan in suite.families:
        variants = [tv.variant for tv in dev if tv.family == plan.family]
        space = games.make(variants[0]).action_space if variants else None
        if not isinstance(space, gym.spaces.Discrete):
            continue  # continuous actions: no finite set of constant policies
        candidates = set(range(int(space.start), int(space.start) + int(space.n)))
        for variant in variants[:FIRST] + variants[FIRST:]:
            candidates = {
                a for a in candidates if suite.normalized(variant, constant_action_return(variant, a)) >= DEGENERATE
            }
            if not candidates:
                break
        if candidates:
            action = min(candidates)
            findings.append(
                Finding(
                    plan.family,
                    f"family {plan.family}: the constant action {action} scores >= {DEGENERATE} normalized on "
                    f"every one of its {len(variants)} dev variants; draw other dev variants (dev_seed, counts)",
                )
            )
    return findings


def unreachable_mazes(suite: Suite) -> list[Finding]:
    """Maze variants whose goal an exploring agent may not reach in one episode: a depth-first
    walk of a perfect maze of n x n cells takes at most 2 (n^2 - 1) moves."""
    findings = []
    for tv in suite.variants("dev"):
        if tv.family != "maze":
            continue
        params = tv.variant.params
        needed = 2 * (params["size"] ** 2 - 1)
        if needed > params["horizon"]:
            findings.append(
                Finding(
                    "maze",
                    f"maze variant {tv.variant.id}: exploring it may take {needed} steps, more than its "
                    f"horizon {params['horizon']}; no agent could be told from another there",
                )
            )
    return findings


def check(suite: Suite) -> list[Finding]:
    """Every finding; raises ArenaError with the first, one line, unless the suite predates the checks."""
    findings = [*near_optimal_constant_actions(suite), *unreachable_mazes(suite)]
    if findings and suite.id not in PREDATES_CHECKS:
        raise ArenaError(f"suite {suite.id}: {findings[0].text}")
    return findings
