"""Harness side: the real envs behind an agent's proxies, and the budget that cuts them off.

Every step is counted here. A step is granted only while the steps it costs (one per copy)
still fit the budget, so ``steps_used`` never exceeds it; the step after which no further step
fits comes back with ``truncated=True``, and every later request is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import games
from arena.seeding import derive_seed

MAX_LIVE_ENVS = 256  # handles an agent may hold open at once during meta-training
MAX_LIVE_COPIES = 1024  # env copies over all those handles: each is a real env in the harness


class InvalidAction(Exception):
    """The agent's action is not in the action space (or is NaN): the trial ends."""


def check_action(space: gym.Space[Any], action: Any) -> Any:
    """Return ``action`` in the space's own type, or raise InvalidAction with the reason."""
    if type(action) is int and isinstance(space, gym.spaces.Discrete):  # the hot path, checked cheaply
        if int(space.start) <= action < int(space.start) + int(space.n):
            return action
        raise InvalidAction(f"action {action} is outside {space}")
    try:
        if isinstance(space, gym.spaces.Discrete):
            array = np.asarray(action)
            if array.size != 1 or array.dtype.kind not in "iub":
                raise InvalidAction(f"expected one integer action, got {_show(action)}")
            value = int(array.reshape(()))
            if not space.contains(np.int64(value)):
                raise InvalidAction(f"action {value} is outside {space}")
            return value
        array = np.asarray(action, dtype=space.dtype)
        if array.shape != space.shape:
            raise InvalidAction(f"action shape {array.shape} is not {space.shape}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise InvalidAction(f"action has NaN or infinite entries: {_show(action)}")
        if not space.contains(array):
            raise InvalidAction(f"action {_show(action)} is outside {space}")
        return array
    except InvalidAction:
        raise
    except Exception as exc:  # unconvertible types and the like
        raise InvalidAction(f"cannot read action {_show(action)}: {exc}") from None


def check_actions(space: gym.Space[Any], actions: Any, n: int) -> list[Any]:
    """A batch of ``n`` actions checked at once; falls back to one by one to name the culprit."""
    array = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
    if array.shape[:1] != (n,):
        raise InvalidAction(f"a vector env of {n} copies needs {n} actions, got shape {array.shape}")
    if isinstance(space, gym.spaces.Discrete) and array.ndim == 1 and array.dtype.kind in "iu":
        low = int(space.start)
        if low <= int(array.min()) and int(array.max()) < low + int(space.n):
            return array.tolist()
    elif isinstance(space, gym.spaces.Box) and array.shape[1:] == space.shape and array.dtype.kind == "f":
        batch = array.astype(space.dtype, copy=False)
        if np.isfinite(batch).all() and (batch >= space.low).all() and (batch <= space.high).all():
            return list(batch)
    return [check_action(space, a) for a in array]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Budget:
    steps: int
    seconds: float
    started: float = field(default_factory=time.monotonic)
    used: int = 0
    spent_reason: str = ""

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


class _Copies:
    """``n`` copies of one variant, harness side."""

    def __init__(self, variant: games.Variant, n: int, vector: bool, seed_base: int):
        self.variant = variant
        self.envs = [games.make(variant) for _ in range(n)]
        self.vector = vector
        self.seed_base = seed_base
        self.needs_reset = [True] * n
        self.resets = 0
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space

    def close(self) -> None:
        for env in self.envs:
            env.close()


class EnvServer:
    """Answers an agent's env requests against one budget.

    ``variants`` yields the variant for each new env: a single fixed one for adaptation, a stream
    of train variants for meta-training.
    """

    def __init__(self, budget: Budget, variants: Iterator[games.Variant], secret: int):
        self.budget = budget
        self.variants = variants
        self.secret = secret
        self.copies: dict[int, _Copies] = {}
        self.next_handle = 0

    @property
    def steps_used(self) -> int:
        return self.budget.used

    def open(self, num_envs: int) -> tuple[int, _Copies]:
        if not 1 <= num_envs <= 1024:
            raise ValueError(f"num_envs must be in [1, 1024], got {num_envs}")
        if len(self.copies) >= MAX_LIVE_ENVS:
            raise ValueError(f"more than {MAX_LIVE_ENVS} envs open at once; close() the ones you are done with")
        live = sum(len(c.envs) for c in self.copies.values())
        if live + num_envs > MAX_LIVE_COPIES:
            raise ValueError(f"more than {MAX_LIVE_COPIES} env copies open at once; close() the ones you are done with")
        handle = self.next_handle
        self.next_handle += 1
        copies = _Copies(next(self.variants), num_envs, num_envs > 1, derive_seed(self.secret, "env", handle))
        self.copies[handle] = copies
        return handle, copies

    def close(self) -> None:
        for copies in self.copies.values():
            copies.close()
        self.copies.clear()

    # -- requests ------------------------------------------------------------------------------

    def handle(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        """One request from the worker; returns the reply. Raises InvalidAction to end the trial."""
        kind = message[0]
        if kind == "steps_left":
            return ("ok", max(0, self.budget.steps - self.budget.used))
        if self._spent():
            return ("exhausted", self.budget.spent_reason)
        try:
            if kind == "step":
                return self._step(self._get(message[1]), message[2])
            if kind == "reset":
                return self._reset(self._get(message[1]), message[2])
            if kind in ("open", "sample"):
                handle, copies = self.open(int(message[1]))
                return ("ok", handle, copies.observation_space, copies.action_space)
            if kind == "close":
                closed = self.copies.pop(int(message[1]), None)
                if closed is not None:
                    closed.close()
                return ("ok",)
        except InvalidAction:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            return ("error", f"bad request {kind!r}: {exc}")
        return ("error", f"unknown request {kind!r}")

    def _get(self, handle: Any) -> _Copies:
        copies = self.copies.get(int(handle))
        if copies is None:
            raise KeyError(f"env {handle} is closed or was never opened")
        return copies

    def _spent(self) -> bool:
        if not self.budget.spent_reason:
            if self.budget.used >= self.budget.steps:
                self.budget.spent_reason = f"step budget of {self.budget.steps} spent"
            elif self.budget.time_left() <= 0:
                self.budget.spent_reason = f"time budget of {self.budget.seconds:g}s spent"
        return bool(self.budget.spent_reason)

    def _reset(self, copies: _Copies, agent_seed: Any) -> tuple[Any, ...]:
        copies.resets += 1
        results = []
        for i, env in enumerate(copies.envs):
            # Seeded from a secret: the agent's seed gives it repeatability, not knowledge.
            if agent_seed is not None:
                seed: int | None = derive_seed(copies.seed_base, "agent", int(agent_seed), i)
            elif copies.resets == 1:
                seed = derive_seed(copies.seed_base, "first", i)
            else:
                seed = None
            results.append(env.reset(seed=seed))
            copies.needs_reset[i] = False
        if not copies.vector:
            obs, info = results[0]
            return ("ok", obs, info)
        obs = np.stack([r[0] for r in results])
        return ("ok", obs, _stack_infos([r[1] for r in results]))

    def _step(self, copies: _Copies, raw_action: Any) -> tuple[Any, ...]:
        n = len(copies.envs)
        if self.budget.used + n > self.budget.steps:
            self.budget.spent_reason = f"step budget of {self.budget.steps} spent"
            return ("exhausted", self.budget.spent_reason)
        if not copies.vector:
            if copies.needs_reset[0]:
                return ("error", "step() called before reset() (or after the episode ended)")
            action = check_action(copies.action_space, raw_action)
            obs, reward, terminated, truncated, info = copies.envs[0].step(action)
            self.budget.used += 1
            if terminated or truncated:
                copies.needs_reset[0] = True
            if self._last_grant(n):
                truncated = True
            return ("ok", obs, float(reward), bool(terminated), bool(truncated), info)

        if any(copies.needs_reset):
            return ("error", "step() called before reset()")
        checked = check_actions(copies.action_space, raw_action, n)
        self.budget.used += n
        last = self._last_grant(n)
        observations, rewards, terms, truncs, infos, finals = [], [], [], [], [], []
        for i, env in enumerate(copies.envs):
            obs, reward, terminated, truncated, info = env.step(checked[i])
            truncated = truncated or last
            final = None
            if terminated or truncated:
                final = (obs, info)
                obs, info = env.reset()
            observations.append(obs)
            rewards.append(reward)
            terms.append(terminated)
            truncs.append(truncated)
            infos.append(info)
            finals.append(final)
        info_batch = _stack_infos(infos) if any(infos) else {}
        obs_batch = np.stack(observations)
        ended = [(i, f) for i, f in enumerate(finals) if f is not None]
        if ended:
            # Dense rather than an object array: same indexing (final_obs[i]), far cheaper to send.
            done = np.zeros(n, dtype=bool)
            final_obs = np.zeros_like(obs_batch)
            for i, (last_obs, _) in ended:
                done[i] = True
                final_obs[i] = last_obs
            info_batch.update(final_obs=final_obs, _final_obs=done)
            if any(last_info for _, (_, last_info) in ended):
                final_info = np.empty(n, dtype=object)
                for i, (_, last_info) in ended:
                    final_info[i] = last_info
                info_batch.update(final_info=final_info, _final_info=done)
        return (
            "ok",
            obs_batch,
            np.asarray(rewards, dtype=np.float64),
            np.asarray(terms, dtype=bool),
            np.asarray(truncs, dtype=bool),
            info_batch,
        )

    def _last_grant(self, n: int) -> bool:
        """True when no further step of ``n`` copies fits: this one must say truncated."""
        return self.budget.used + n > self.budget.steps or self.budget.time_left() <= 0


def _stack_infos(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Gymnasium's vector info layout for the keys every copy reports (action masks, mostly)."""
    out: dict[str, Any] = {}
    if not infos:
        return out
    for key in set.intersection(*(set(i) for i in infos)):
        values = [i[key] for i in infos]
        try:
            out[key] = np.stack([np.asarray(v) for v in values])
        except ValueError:
            out[key] = np.array(values, dtype=object)
        out["_" + key] = np.ones(len(infos), dtype=bool)
    return out


def fixed(variant: games.Variant) -> Iterator[games.Variant]:
    while True:
        yield variant
