"""Re-measure a suite's normalisation references: ``arena suite calibrate NAME``.

The random anchor is measured: the mean return of a uniformly random policy that respects
``info["action_mask"]`` where the env gives one (uniform over the whole action space otherwise),
over ``episodes`` episodes of each variant. The reference anchor is the family's analytic
optimum where it has one, else the value the suite already states (a measured or published
score of a strong policy), which calibration keeps.

The result maps each measured variant id, and each family without an analytic reference, to a
dict shaped like ``arena.suites.Reference``: ``{"random": ..., "reference": ..., "method": ...}``.
Family entries are what ``[families.NAME.reference]`` holds; variant entries what the
``[references."VARIANT"]`` table holds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import games
from arena.seeding import derive_seed
from arena.suites import Suite, load_suite


def random_return(variant: games.Variant | str, episodes: int, seed: int = 0) -> float:
    """Mean return of the random policy over ``episodes`` episodes (deterministic given ``seed``)."""
    variant = games.parse_variant(variant)
    env = games.make(variant)
    rng = np.random.default_rng(derive_seed("calibrate", variant.id, seed))
    total = 0.0
    try:
        for episode in range(episodes):
            _, info = env.reset(seed=derive_seed("calibrate-episode", variant.id, seed, episode) % 2**31)
            while True:
                _, reward, terminated, truncated, info = env.step(games.random_action(env, info, rng))
                total += float(reward)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return total / episodes


def _round(x: float) -> float:
    return float(f"{x:.4g}") if x != 0 and math.isfinite(x) else float(x)


def calibrate(suite: Suite | str, episodes: int = 20, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Measure random returns over the suite's dev variants and a train draw of equal size.

    Returns ``{variant_id_or_family: {"random", "reference", "method"}}``; see the module doc.
    """
    suite = load_suite(suite) if isinstance(suite, str) else suite
    out: dict[str, dict[str, Any]] = {}
    dev = suite.variants("dev")
    train = suite.variants("train", seed=seed)
    for plan in suite.families:
        family = games.get_family(plan.family)
        variants = [tv.variant for tv in dev + train if tv.family == plan.family]
        measured = []
        for variant in dict.fromkeys(variants):  # distinct, in order
            rand = random_return(variant, episodes, seed)
            measured.append(rand)
            if family.reference is not None:
                analytic_random, optimum = family.reference(variant.params)
                method = (
                    f"random: measured over {episodes} episodes (analytic {_round(analytic_random)}); "
                    "reference: analytic optimum"
                )
                out[variant.id] = {"random": _round(rand), "reference": _round(optimum), "method": method}
            elif plan.reference is not None:
                out[variant.id] = {
                    "random": _round(rand),
                    "reference": plan.reference.reference,
                    "method": f"random: measured over {episodes} episodes; reference: kept from the suite",
                }
        if family.reference is None:
            kept = plan.reference.reference if plan.reference is not None else None
            kept_method = plan.reference.method if plan.reference is not None else "none yet: set one"
            kept_method = kept_method.rsplit("reference:", 1)[-1].strip()  # drop an older random note
            out[plan.family] = {
                "random": _round(float(np.mean(measured))),
                "reference": kept,
                "method": (
                    f"random: mean over {len(measured)} dev and train variants x {episodes} episodes of the "
                    f"mask-respecting uniform policy; reference: {kept_method}"
                ),
            }
    return out
