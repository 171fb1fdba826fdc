"""Agent side: the Gymnasium envs an agent adapts and meta-trains on.

They hold no game. Every ``reset``/``step`` is a request to the harness process, which owns the
real env, counts the steps and answers; the agent cannot reach the real env, its RNG or the
variant's parameters because none of them exist in this process.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from arena.api import BudgetExhausted
from arena.boundary import wire
from arena.boundary.lane import Lane
from arena.boundary.protocol import RESULTS, Kind

_OPEN, _SAMPLE, _RESET, _STEP, _CLOSE, _STEPS_LEFT = (
    Kind.OPEN, Kind.SAMPLE, Kind.RESET, Kind.STEP, Kind.CLOSE, Kind.STEPS_LEFT,
)  # fmt: skip


MAX_ANSWER = 1000  # characters of a text answer the harness reads


def to_wire(action: Any, text: bool = False) -> Any:
    """Plain numbers or a numeric array: the only action shapes the harness will read; on a
    text suite also a string (a move's name, parsed by the harness)."""
    if type(action) is int or isinstance(action, (bool, float)):
        return action
    if text and isinstance(action, str):
        return action[:MAX_ANSWER]
    array = np.asarray(action)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"action must be numeric, got {type(action).__name__} of dtype {array.dtype}")
    if array.ndim == 0 and array.dtype.kind in "iu":
        return int(array)  # the common discrete action, in its compact wire form
    return np.ascontiguousarray(array)


def _action(action: Any) -> Any:
    """A proxy's step action: a string goes as it is (the harness refuses one unless the suite is
    a text suite, where it is a move's name)."""
    return action[:MAX_ANSWER] if isinstance(action, str) else to_wire(action)


def _actions(actions: Any) -> Any:
    if isinstance(actions, (list, tuple)) and actions and all(isinstance(a, str) for a in actions):
        return [a[:MAX_ANSWER] for a in actions]
    return to_wire(actions)


def result(reply: tuple[Any, ...]) -> tuple[Any, ...]:
    """What an env request's answer carries; a spent budget raises BudgetExhausted, a refused
    request RuntimeError (the agent asked for something the env server cannot do)."""
    if reply[0] in RESULTS:
        return reply[1:]
    if reply[0] == Kind.EXHAUSTED:
        raise BudgetExhausted(reply[1])
    raise RuntimeError(reply[1])


class Requests(Protocol):
    """Where the proxies' requests go: the harness over the lane, or an env server in this process."""

    def request(self, *message: Any) -> tuple[Any, ...]: ...


class Channel:
    """The agent process's end of the lane: plain messages, and request/answer while the agent learns."""

    def __init__(self, lane: Lane):
        self.lane = lane

    def send(self, *message: Any) -> None:
        self.lane.send(wire.encode(message))

    def recv(self) -> tuple[Any, ...]:
        return wire.decode_trusted(self.lane.recv_writable())

    def request(self, *message: Any) -> tuple[Any, ...]:
        self.send(*message)
        return result(self.recv())


class ProxyEnv(gym.Env[Any, Any]):
    """One copy of a variant, stepped in the harness."""

    metadata = {"render_modes": []}

    def __init__(self, channel: Requests, handle: int, observation_space: gym.Space[Any], action_space: gym.Space[Any]):
        self._channel = channel
        self._handle = handle
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        # The agent's seed is mixed with a secret one in the harness: determinism, not control.
        obs, info = self._channel.request(_RESET, self._handle, seed)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self._channel.request(_STEP, self._handle, _action(action))
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        # Best effort: a closed proxy frees the harness's env; a spent budget must not make close() raise.
        try:
            self._channel.request(_CLOSE, self._handle)
        except (BudgetExhausted, RuntimeError, OSError, EOFError):
            pass


class ProxyVectorEnv(gym.vector.VectorEnv[Any, Any, Any]):
    """``num_envs`` copies of a variant, stepped in one message; autoreset in the same step.

    When a copy's episode ends, the returned observation is the first of its next episode and
    the last one is in ``info["final_obs"]`` (Gymnasium's SAME_STEP convention).
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(
        self,
        channel: Requests,
        handle: int,
        num_envs: int,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
    ):
        self._channel = channel
        self._handle = handle
        self.num_envs = num_envs
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.observation_space = batch_space(observation_space, num_envs)
        self.action_space = batch_space(action_space, num_envs)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if isinstance(seed, list):
            seed = seed[0]
        obs, info = self._channel.request(_RESET, self._handle, seed)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminations, truncations, infos = self._channel.request(_STEP, self._handle, _actions(actions))
        ended = infos.get("_final_obs")
        if ended is not None:  # the harness sends only the ended copies' rows: spread them out
            rows = infos["final_obs"]
            final_obs = np.zeros((self.num_envs, *rows.shape[1:]), dtype=rows.dtype)
            final_obs[ended] = rows
            infos["final_obs"] = final_obs
        return obs, rewards, terminations, truncations, infos

    def close_extras(self, **kwargs: Any) -> None:
        try:
            self._channel.request(_CLOSE, self._handle)
        except (BudgetExhausted, RuntimeError, OSError, EOFError):
            pass


def make_proxy(
    channel: Requests, handle: int, num_envs: int, obs_space: gym.Space[Any], act_space: gym.Space[Any]
) -> Any:
    if num_envs == 1:
        return ProxyEnv(channel, handle, obs_space, act_space)
    return ProxyVectorEnv(channel, handle, num_envs, obs_space, act_space)


def open_env(channel: Requests, num_envs: int) -> Any:
    """The env of the variant being adapted to (a vector env of ``num_envs`` copies when > 1)."""
    handle, obs_space, act_space = channel.request(_OPEN, num_envs)
    return make_proxy(channel, handle, num_envs, obs_space, act_space)


class ProxyTaskSampler:
    """``Agent.meta_train``'s view of the suite's train distribution."""

    def __init__(self, channel: Requests, budget_steps: int):
        self._channel = channel
        self.budget_steps = budget_steps

    def sample(self, num_envs: int = 1, independent: bool = False) -> Any:
        handle, obs_space, act_space = self._channel.request(_SAMPLE, int(num_envs), bool(independent))
        return make_proxy(self._channel, handle, int(num_envs), obs_space, act_space)

    @property
    def steps_left(self) -> int:
        (left,) = self._channel.request(_STEPS_LEFT)
        return int(left)
