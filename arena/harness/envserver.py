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
from arena.boundary.protocol import LLM_REQUESTS, Kind
from arena.harness.gateway import Gateway
from arena.harness.jobs import TextAnswers
from arena.seeding import derive_seed

MAX_LIVE_ENVS = 256  # handles an agent may hold open at once during meta-training
MAX_LIVE_COPIES = 1024  # env copies over all those handles: each is a real env in the harness
_OK, _EXHAUSTED, _REFUSED = Kind.OK, Kind.EXHAUSTED, Kind.REFUSED
_STEP_RESULT, _VECTOR_STEP_RESULT, _RESET_RESULT = Kind.STEP_RESULT, Kind.VECTOR_STEP_RESULT, Kind.RESET_RESULT
_STEP, _RESET, _OPEN, _SAMPLE, _CLOSE, _STEPS_LEFT = (
    Kind.STEP, Kind.RESET, Kind.OPEN, Kind.SAMPLE, Kind.CLOSE, Kind.STEPS_LEFT,
)  # fmt: skip


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
    deadline: float = field(init=False)  # checked twice a step: a sum per check adds up

    def __post_init__(self) -> None:
        self.deadline = self.started + self.seconds

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def make_env(variant: games.Variant, text: bool = False) -> gym.Env[Any, Any]:
    """The real env of a variant; on a text suite wrapped to render text and read answers."""
    if not text:
        return games.make(variant)
    from games.text import make_text  # only text suites need it

    return make_text(variant)


class _Copies:
    """``n`` copies of a variant (or each of its own variant), harness side."""

    def __init__(self, variants: list[games.Variant], vector: bool, seed_base: int, text: bool = False):
        self.variant = variants[0]
        self.text = text
        self.envs = [make_env(variant, text) for variant in variants]
        n = len(variants)
        self.vector = vector
        self.seed_base = seed_base
        self.needs_reset = [True] * n
        self.resets = 0
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        # The integer actions a Discrete space admits, as a range a step checks in one comparison.
        space = self.action_space
        self.int_actions = (
            range(int(space.start), int(space.start) + int(space.n)) if isinstance(space, gym.spaces.Discrete) else None
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


class _BatchCopies:
    """A vector env's copies stepped in one numpy call by the family's batch (games/batched.py)."""

    def __init__(self, variants: list[games.Variant], seed_base: int):
        family = games.get_family(variants[0].family)
        assert family.make_batch is not None
        self.variant = variants[0]
        self.batch = family.make_batch([v.params for v in variants], derive_seed(seed_base, "batch"))
        self.n = len(variants)
        self.vector = True
        self.seed_base = seed_base
        self.started = False
        self.resets = 0
        self.observation_space = self.batch.observation_space
        self.action_space = self.batch.action_space

    def close(self) -> None:
        pass


def _batchable(variants: list[games.Variant]) -> bool:
    return len(variants) > 1 and games.get_family(variants[0].family).make_batch is not None


class EnvServer:
    """Answers an agent's env requests against one budget.

    ``variants`` yields the variant for each new env: a single fixed one for adaptation, a stream
    of train variants for meta-training.
    """

    def __init__(
        self,
        budget: Budget,
        variants: Iterator[games.Variant],
        secret: int,
        batched: bool = False,
        text: bool = False,
        gateway: Gateway | None = None,
    ):
        self.budget = budget
        self.variants = variants
        self.secret = secret
        self.text = text  # a text suite: envs render text, and a step may take a move's name
        self.batched = batched and not text  # the suite asks for batched vector envs where a family has them
        self.gateway = gateway  # the text track's model calls, charged to this phase
        self.copies: dict[int, _Copies | _BatchCopies] = {}
        self.next_handle = 0
        self.reward_sum = 0.0  # every granted step's reward, all copies: what the agent earned here
        self.answers = TextAnswers()  # of closed envs; see answers_seen

    @property
    def steps_used(self) -> int:
        return self.budget.used

    def open(self, num_envs: int, independent: bool = False) -> tuple[int, _Copies | _BatchCopies]:
        """A new env of ``num_envs`` copies: of the next variant, or (``independent``, for
        meta-training) each of its own next variant."""
        if not 1 <= num_envs <= 1024:
            raise ValueError(f"num_envs must be in [1, 1024], got {num_envs}")
        if len(self.copies) >= MAX_LIVE_ENVS:
            raise ValueError(f"more than {MAX_LIVE_ENVS} envs open at once; close() the ones you are done with")
        live = sum(c.n if isinstance(c, _BatchCopies) else len(c.envs) for c in self.copies.values())
        if live + num_envs > MAX_LIVE_COPIES:
            raise ValueError(f"more than {MAX_LIVE_COPIES} env copies open at once; close() the ones you are done with")
        handle = self.next_handle
        self.next_handle += 1
        first = next(self.variants)
        variants = [first, *(next(self.variants) if independent else first for _ in range(num_envs - 1))]
        seed_base = derive_seed(self.secret, "env", handle)
        copies: _Copies | _BatchCopies = (
            _BatchCopies(variants, seed_base)
            if self.batched and _batchable(variants)
            else _Copies(variants, num_envs > 1, seed_base, self.text)
        )
        self.copies[handle] = copies
        return handle, copies

    def close(self) -> None:
        for copies in self.copies.values():
            self._retire(copies)
        self.copies.clear()

    def _retire(self, copies: _Copies | _BatchCopies) -> None:
        if isinstance(copies, _Copies):
            for env in copies.envs:
                self.answers.add(env)
        copies.close()

    def answers_seen(self) -> TextAnswers:
        """Unparsable answers over every env this server served, open or closed."""
        seen = TextAnswers(self.answers.count, list(self.answers.first))
        for copies in self.copies.values():
            for env in getattr(copies, "envs", ()):
                seen.add(env)
        return seen

    # -- requests ------------------------------------------------------------------------------

    def handle(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        """One env request of the agent's (see :mod:`arena.boundary.protocol`); returns the
        answer. Raises InvalidAction to end the trial."""
        kind = message[0]
        if kind in LLM_REQUESTS:  # model calls: their own (token) budget, not the steps'
            if self.gateway is None:
                return (_REFUSED, "this trial has no language model (only text suites have one)")
            return self.gateway.handle(message)
        if kind == _STEPS_LEFT:
            return (_OK, max(0, self.budget.steps - self.budget.used))
        if self._spent():
            return (_EXHAUSTED, self.budget.spent_reason)
        try:
            if kind == _STEP:
                copies = self.copies.get(message[1])
                return self._step(copies if copies is not None else self._get(message[1]), message[2])
            if kind == _RESET:
                return self._reset(self._get(message[1]), message[2])
            if kind in (_OPEN, _SAMPLE):
                independent = kind == _SAMPLE and len(message) > 2 and bool(message[2])
                handle, copies = self.open(int(message[1]), independent)
                return (_OK, handle, copies.observation_space, copies.action_space)
            if kind == _CLOSE:
                closed = self.copies.pop(int(message[1]), None)
                if closed is not None:
                    self._retire(closed)
                return (_OK,)
        except InvalidAction:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            return (_REFUSED, f"bad request {kind!r}: {exc}")
        return (_REFUSED, f"unknown request {kind!r}")

    def _get(self, handle: Any) -> _Copies | _BatchCopies:
        copies = self.copies.get(int(handle))
        if copies is None:
            raise KeyError(f"env {handle} is closed or was never opened")
        return copies

    def _spent(self) -> bool:
        budget = self.budget
        if not budget.spent_reason:
            if budget.used >= budget.steps:
                budget.spent_reason = f"step budget of {budget.steps} spent"
            elif time.monotonic() >= budget.deadline:
                budget.spent_reason = f"time budget of {budget.seconds:g}s spent"
        return bool(budget.spent_reason)

    def _reset(self, copies: _Copies | _BatchCopies, agent_seed: Any) -> tuple[Any, ...]:
        copies.resets += 1
        if isinstance(copies, _BatchCopies):
            # Seeded from a secret, as a copy's env is: repeatability, not knowledge.
            if agent_seed is not None:
                copies.batch.seed(derive_seed(copies.seed_base, "agent", int(agent_seed)))
            copies.started = True
            obs, info = copies.batch.reset()
            return (_RESET_RESULT, obs, _batched_info(info, copies.n))
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
            return (_RESET_RESULT, obs, info)
        obs = np.stack([r[0] for r in results])
        return (_RESET_RESULT, obs, _batch_infos([r[1] for r in results], len(results)))

    def _step(self, copies: _Copies | _BatchCopies, raw_action: Any) -> tuple[Any, ...]:
        if isinstance(copies, _BatchCopies):
            return self._step_batch(copies, raw_action)
        budget = self.budget
        n = len(copies.envs)
        if budget.used + n > budget.steps:
            budget.spent_reason = f"step budget of {budget.steps} spent"
            return (_EXHAUSTED, budget.spent_reason)
        if not copies.vector:
            # The harness's whole cost per step of one env: keep it to a few attribute reads.
            if copies.needs_reset[0]:
                return (_REFUSED, "step() called before reset() (or after the episode ended)")
            action: Any
            if type(raw_action) is int and copies.int_actions is not None and raw_action in copies.int_actions:
                action = raw_action
            elif copies.text and isinstance(raw_action, str):
                action = raw_action  # a move's name: the text wrapper reads it (or forfeits)
            else:
                action = check_action(copies.action_space, raw_action)
            obs, reward, terminated, truncated, info = copies.envs[0].step(action)
            budget.used += 1
            self.reward_sum += float(reward)
            if terminated or truncated:
                copies.needs_reset[0] = True
            if budget.used + 1 > budget.steps or time.monotonic() >= budget.deadline:  # _last_grant(1)
                truncated = True
            return (_STEP_RESULT, obs, float(reward), bool(terminated), bool(truncated), info)

        if any(copies.needs_reset):
            return (_REFUSED, "step() called before reset()")
        if copies.text and isinstance(raw_action, list) and all(isinstance(a, str | int) for a in raw_action):
            if len(raw_action) != n:
                raise InvalidAction(f"a vector env of {n} copies needs {n} actions, got {len(raw_action)}")
            checked = [a if isinstance(a, str) else check_action(copies.action_space, a) for a in raw_action]
        else:
            checked = check_actions(copies.action_space, raw_action, n)
        self.budget.used += n
        last = self._last_grant(n)
        # One pass over the copies, then whole-batch work: this loop is the harness's own cost
        # per vector step, so it does nothing per copy beyond what stepping requires.
        results = [env.step(action) for env, action in zip(copies.envs, checked, strict=True)]
        observation_row, reward_row, term_row, trunc_row, info_row = zip(*results, strict=True)  # one C-level pass
        observations, infos = list(observation_row), list(info_row)
        terms = np.array(term_row, dtype=bool)
        truncs = np.array(trunc_row, dtype=bool)
        if last:
            truncs[:] = True
        ended = np.flatnonzero(terms | truncs).tolist()
        final_obs: np.ndarray | None = None
        final_infos: list[dict[str, Any]] = []
        if ended:
            final_obs = np.array([observations[i] for i in ended])
            for i in ended:
                final_infos.append(infos[i])
                observations[i], infos[i] = copies.envs[i].reset()
        rewards = np.array(reward_row, dtype=np.float64)
        self.reward_sum += float(rewards.sum())
        reply_info = _batch_infos(infos, n) if any(infos) else {}
        if ended:
            # Gymnasium's SAME_STEP layout, but final_obs travels as the ended copies' rows only
            # (a few of 64, say); the worker's proxy spreads them into a dense (n, ...) array.
            done = np.zeros(n, dtype=bool)
            done[ended] = True
            reply_info.update(final_obs=final_obs, _final_obs=done)
            if any(final_infos):
                reply_info.update(final_info=_batch_infos(final_infos, n, ended), _final_info=done)
        return (
            _VECTOR_STEP_RESULT,
            np.array(observations),  # np.stack's result at half the cost for 64 small arrays
            rewards,
            terms,
            truncs,
            reply_info,
        )

    def _step_batch(self, copies: _BatchCopies, raw_action: Any) -> tuple[Any, ...]:
        """One numpy step of every copy, with the same budget and autoreset as the per-copy path."""
        n = copies.n
        if self.budget.used + n > self.budget.steps:
            self.budget.spent_reason = f"step budget of {self.budget.steps} spent"
            return (_EXHAUSTED, self.budget.spent_reason)
        if not copies.started:
            return (_REFUSED, "step() called before reset()")
        actions = np.asarray(check_actions(copies.action_space, raw_action, n), dtype=np.int64)
        self.budget.used += n
        last = self._last_grant(n)
        obs, rewards, terms, truncs, info = copies.batch.step(actions)
        self.reward_sum += float(rewards.sum())
        if last:
            truncs = np.ones(n, dtype=bool)
        ended = np.flatnonzero(terms | truncs)
        reply_info = _batched_info(info, n)
        if len(ended):
            final_obs = obs[ended].copy()
            final_mask = info["action_mask"][ended]
            fresh_obs, fresh_info = copies.batch.reset_rows(ended)
            obs = obs.copy()
            obs[ended] = fresh_obs
            reply_info["action_mask"][ended] = fresh_info["action_mask"]
            done = np.zeros(n, dtype=bool)
            done[ended] = True
            full_mask = np.zeros((n, final_mask.shape[1]), dtype=final_mask.dtype)
            full_mask[ended] = final_mask
            reply_info.update(
                final_obs=final_obs,
                _final_obs=done,
                final_info={"action_mask": full_mask, "_action_mask": done},
                _final_info=done,
            )
        return (_VECTOR_STEP_RESULT, obs, rewards.astype(np.float64), terms, truncs, reply_info)

    def _last_grant(self, n: int) -> bool:
        """True when no further step of ``n`` copies fits: this one must say truncated."""
        return self.budget.used + n > self.budget.steps or time.monotonic() >= self.budget.deadline


def _batch_infos(infos: list[dict[str, Any]], n: int, rows: list[int] | None = None) -> dict[str, Any]:
    """Gymnasium's vector info layout: per key, a batch of ``n`` values and a ``_key`` mask of the
    copies that reported it. ``infos[j]`` belongs to copy ``rows[j]`` (default: copy ``j``).
    Numeric values become one dense array (zeros where unreported), anything else an object array."""
    out: dict[str, Any] = {}
    rows = list(range(len(infos))) if rows is None else rows
    keys = infos[0].keys() if infos else {}.keys()
    if len(infos) == n and all(info.keys() == keys for info in infos):
        everyone = np.ones(n, dtype=bool)
        for key in keys:  # the common case (action masks from every copy): one stack per key
            values = [info[key] for info in infos]
            try:
                batch = np.array(values)  # stacks like np.stack, at half its cost for small arrays
            except ValueError:  # ragged values
                batch = _objects(values, range(n), n)
            out[key], out["_" + key] = batch, everyone
        return out
    for key in dict.fromkeys(k for info in infos for k in info):
        have = [(row, info[key]) for row, info in zip(rows, infos, strict=True) if key in info]
        mask = np.zeros(n, dtype=bool)
        mask[[row for row, _ in have]] = True
        values = [np.asarray(value) for _, value in have]
        first = values[0]
        if first.dtype.kind in "biuf" and all(v.shape == first.shape and v.dtype == first.dtype for v in values):
            batch = np.zeros((n, *first.shape), dtype=first.dtype)
            for (row, _), value in zip(have, values, strict=True):
                batch[row] = value
        else:
            batch = _objects([value for _, value in have], [row for row, _ in have], n)
        out[key], out["_" + key] = batch, mask
    return out


def _batched_info(info: dict[str, np.ndarray], n: int) -> dict[str, Any]:
    """A batch's infos in Gymnasium's vector layout (every copy reports every key)."""
    everyone = np.ones(n, dtype=bool)
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key], out["_" + key] = value, everyone
    return out


def _objects(values: list[Any], rows: Any, n: int) -> np.ndarray:
    batch = np.full(n, None, dtype=object)
    for row, value in zip(rows, values, strict=True):
        batch[row] = value  # one by one: numpy would otherwise make a 2-D array of equal lists
    return batch


def fixed(variant: games.Variant) -> Iterator[games.Variant]:
    while True:
        yield variant
