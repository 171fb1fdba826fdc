"""Conformance checks for a game family, in the spirit of PettingZoo's ``api_test``.

    from games.checker import check_family
    check_family("connect_four")          # raises AssertionError with a clear message

``check_family`` samples variants across every declared parameter's range (the defaults, the
family's example, every parameter at its low end, every parameter at its high end, then
uniform draws) and checks, for each:

* Gymnasium's own ``check_env`` passes, with no warnings;
* its observation and action spaces equal those of every other variant of the family;
* ``reset(seed=s)`` plus the same actions gives identical observations, rewards, ends and
  masks in two separate envs, also across a seedless reset that continues the RNG;
* where ``info["action_mask"]`` is given: it is in every reset/step info, an int8 array of
  0/1 over the whole action space, with at least one legal action while the episode runs, and
  a masked-out action is accepted without crashing;
* every observation lies in the observation space, every reward is a finite number;
* every episode under a random (mask-respecting) policy ends within ``max_episode_steps``;
* ``render()`` with ``render_mode="ansi"`` returns a non-empty string;
* the analytic reference, where there is one, is two finite numbers with random <= optimal.

Nested parameters (an opponent's ``sims``, ``iterations``) are taken at their lowest value so
that the check stays fast; the opponent kind itself is sampled like any other parameter.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from games.core import Variant, get_family, make, parse_variant, random_action

__all__ = ["check_family", "sample_variants"]

GROUPS = ("classic", "openspiel", "pettingzoo", "metarl")


def sample_variants(name: str, n_variants: int = 5, seed: int = 0) -> list[Variant]:
    """Defaults, the example, all-low, all-high, then uniform draws; distinct, at most ``n_variants``."""
    family = get_family(name)
    rng = np.random.default_rng(seed)
    candidates = [Variant.of(name)]
    if family.example:
        candidates.append(parse_variant(family.example))
    for how in ("low", "high"):
        candidates.append(Variant.of(name, **{k: p.draw(how, rng) for k, p in family.params.items()}))
    out: list[Variant] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n_variants and attempts < 10 * n_variants + 10:
        attempts += 1
        variant = (
            candidates.pop(0)
            if candidates
            else Variant.of(name, **{k: p.draw("random", rng) for k, p in family.params.items()})
        )
        if variant.id not in seen:
            seen.add(variant.id)
            out.append(variant)
    return out


def _fail(variant: Variant | str, what: str) -> AssertionError:
    return AssertionError(f"{variant}: {what}")


def _check_mask(variant: Variant, env: gym.Env, info: dict[str, Any], running: bool, where: str) -> np.ndarray:
    mask = info.get("action_mask")
    if mask is None:
        raise _fail(variant, f"{where}: info has no 'action_mask' although reset's info had one")
    space = env.action_space
    if not isinstance(space, gym.spaces.Discrete):
        raise _fail(variant, f"{where}: an action_mask needs a Discrete action space, not {space}")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.int8 or mask.shape != (int(space.n),):
        shape = getattr(mask, "shape", None)
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise _fail(variant, f"{where}: action_mask must be an int8 array of shape ({space.n},), got {dtype} {shape}")
    if not np.isin(mask, (0, 1)).all():
        raise _fail(variant, f"{where}: action_mask has entries other than 0 and 1")
    if running and not mask.any():
        raise _fail(variant, f"{where}: no legal action while the episode is still running")
    return mask


def _check_transition(variant: Variant, env: gym.Env, result: tuple, where: str) -> None:
    obs, reward, terminated, truncated, info = result
    if not env.observation_space.contains(obs):
        raise _fail(variant, f"{where}: observation outside {env.observation_space}")
    if isinstance(reward, bool) or not isinstance(reward, (int, float, np.floating, np.integer)):
        raise _fail(variant, f"{where}: reward must be a number, got {type(reward).__name__}")
    if not math.isfinite(float(reward)):
        raise _fail(variant, f"{where}: reward {reward!r} is not finite")
    if not isinstance(terminated, (bool, np.bool_)) or not isinstance(truncated, (bool, np.bool_)):
        raise _fail(variant, f"{where}: terminated/truncated must be bools")
    if not isinstance(info, dict):
        raise _fail(variant, f"{where}: info must be a dict")


def _rollouts(variant: Variant, episodes: int, seed: int, illegal_every: int) -> None:
    """Random play: masks, spaces, rewards, episode lengths, rendering, illegal actions."""
    family = get_family(variant.family)
    env = make(variant, render_mode="ansi")
    rng = np.random.default_rng(seed)
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            if not env.observation_space.contains(obs):
                raise _fail(variant, "reset: observation outside the observation space")
            masked = "action_mask" in info
            if masked:
                _check_mask(variant, env, info, True, "reset")
            text = env.render()
            if not isinstance(text, str) or not text.strip():
                raise _fail(variant, f"render() in 'ansi' mode must return a non-empty str, got {text!r}")
            steps = 0
            while True:
                action = random_action(env, info, rng)
                where = f"episode {episode} step {steps}"
                if (
                    masked
                    and illegal_every
                    and steps % illegal_every == illegal_every - 1
                    and not info["action_mask"].all()
                ):
                    action = int(rng.choice(np.flatnonzero(info["action_mask"] == 0)))
                    where += f" (masked-out action {action})"
                try:
                    result = env.step(action)
                except Exception as exc:
                    raise _fail(variant, f"{where}: step raised {type(exc).__name__}: {exc}") from exc
                _check_transition(variant, env, result, where)
                obs, _, terminated, truncated, info = result
                steps += 1
                if masked:
                    _check_mask(variant, env, info, not (terminated or truncated), where)
                if steps == 1:
                    text = env.render()
                    if not isinstance(text, str) or not text.strip():
                        raise _fail(variant, f"render() after a step must return a non-empty str, got {text!r}")
                if terminated or truncated:
                    break
                if steps > family.max_episode_steps:
                    raise _fail(
                        variant, f"episode {episode} still running after max_episode_steps={family.max_episode_steps}"
                    )
            if steps > family.max_episode_steps:
                raise _fail(
                    variant, f"episode {episode} took {steps} steps > max_episode_steps={family.max_episode_steps}"
                )
    finally:
        env.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return bool(a == b)


def _determinism(variant: Variant, seed: int, steps: int) -> None:
    """Two envs, one seed, one action sequence: everything they return must be identical."""
    envs = [make(variant), make(variant)]
    rng = np.random.default_rng(seed)
    try:
        first = [env.reset(seed=seed) for env in envs]
        if not _same(first[0][0], first[1][0]) or not _same(first[0][1], first[1][1]):
            raise _fail(variant, f"reset(seed={seed}) gave different observations or infos in two envs")
        info = first[0][1]
        masked = "action_mask" in info
        resets = 0
        for step in range(steps):
            if masked:
                _check_mask(variant, envs[0], info, True, f"step {step} after reset(seed={seed})")
            action = random_action(envs[0], info, rng)
            results = [env.step(action) for env in envs]
            names = ("observation", "reward", "terminated", "truncated", "info")
            for name, a, b in zip(names, results[0], results[1], strict=True):
                if not _same(a, b):
                    raise _fail(
                        variant, f"not deterministic: step {step} after reset(seed={seed}) gave different {name}s"
                    )
            info = results[0][4]
            if results[0][2] or results[0][3]:
                resets += 1
                if resets > 3:
                    break
                again = [env.reset() for env in envs]  # no seed: the RNG carries on
                if not _same(again[0][0], again[1][0]):
                    raise _fail(variant, "not deterministic: a seedless reset after a seeded one differs between envs")
                info = again[0][1]
    finally:
        for env in envs:
            env.close()


def _check_one(variant: Variant, seed: int) -> tuple[gym.Space, gym.Space]:
    env = make(variant)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_env(env.unwrapped, skip_render_check=True)
            except Exception as exc:
                raise _fail(variant, f"gymnasium check_env failed: {type(exc).__name__}: {exc}") from exc
        # Gymnasium's style advice (unbounded or unnormalised Boxes) is not a conformance failure.
        advice = ("recommend", "probably too")
        noisy = [str(w.message) for w in caught if not any(a in str(w.message) for a in advice)]
        if noisy:
            raise _fail(variant, f"gymnasium check_env warned: {noisy[0]}")
        spaces = (env.observation_space, env.action_space)
    finally:
        env.close()
    _determinism(variant, seed, steps=120)
    _rollouts(variant, episodes=3, seed=seed, illegal_every=7)
    family = get_family(variant.family)
    if family.reference is not None:
        ref = family.reference(variant.params)
        if not (isinstance(ref, tuple) and len(ref) == 2 and all(math.isfinite(float(x)) for x in ref)):
            raise _fail(variant, f"reference() must return (random_return, optimal_return) finite numbers, got {ref!r}")
        if float(ref[0]) > float(ref[1]) + 1e-9:
            raise _fail(variant, f"reference() random return {ref[0]} exceeds the optimal return {ref[1]}")
    return spaces


def check_family(name: str, n_variants: int = 5, seed: int = 0) -> None:
    """Check one registered family; raises AssertionError (or SpecError) with a clear message."""
    family = get_family(name)
    if not family.description.strip():
        raise AssertionError(f"{name}: family has no description")
    if family.group not in GROUPS:
        raise AssertionError(f"{name}: group {family.group!r} is not one of {', '.join(GROUPS)}")
    if family.max_episode_steps <= 0:
        raise AssertionError(f"{name}: max_episode_steps must be positive")
    if family.example is None:
        raise AssertionError(f"{name}: family has no example variant")
    if parse_variant(family.example).family != name:
        raise AssertionError(f"{name}: example {family.example!r} is a variant of another family")
    variants = sample_variants(name, n_variants, seed)
    reference: tuple[str, gym.Space, gym.Space] | None = None
    for variant in variants:
        obs_space, act_space = _check_one(variant, seed)
        if reference is None:
            reference = (variant.id, obs_space, act_space)
            continue
        if obs_space != reference[1]:
            raise _fail(variant, f"observation space {obs_space} differs from {reference[1]} of {reference[0]}")
        if act_space != reference[2]:
            raise _fail(variant, f"action space {act_space} differs from {reference[2]} of {reference[0]}")
