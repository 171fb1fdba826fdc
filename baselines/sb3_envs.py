"""The harness's envs in the shapes Stable-Baselines3 expects; shared by ``ppo.py`` and ``dqn.py``.

SB3 learns unchanged on a plain ``gym.Env`` (it wraps it in ``Monitor`` and ``DummyVecEnv``
itself). What it cannot take directly:

* a Gymnasium ``VectorEnv`` (what an agent with ``num_envs > 1`` receives): :class:`VecEnvAdapter`
  turns one into an SB3 ``VecEnv``, moving ``info["final_obs"]`` into SB3's
  ``terminal_observation``/``TimeLimit.truncated`` infos so that bootstrapping stays right;
* a stream of meta-train variants: :class:`MultiTaskEnv` and :class:`MultiTaskVecEnv` present
  ``tasks.sample()`` as one endless env that moves to a fresh train variant every so often;
* Box actions for DQN: :class:`DiscreteActions` offers a grid of them as a Discrete space.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

import arena
from baselines.common import flatten_obs


def flat_space(space: gym.Space[Any]) -> gym.Space[Any]:
    return space if isinstance(space, gym.spaces.Box) else gym.spaces.flatten_space(space)


def flat_env(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
    """A single env with a Box observation space (SB3's MlpPolicy flattens any Box itself)."""
    return env if isinstance(env.observation_space, gym.spaces.Box) else gym.wrappers.FlattenObservation(env)


class DiscreteActions(gym.ActionWrapper):
    """A Box action space offered as ``bins`` values per dimension (at most ``max_actions`` in all)."""

    def __init__(self, env: gym.Env[Any, Any], bins: int = 5, max_actions: int = 256):
        super().__init__(env)
        box = env.action_space
        assert isinstance(box, gym.spaces.Box)
        dims = int(np.prod(box.shape))
        while bins > 2 and bins**dims > max_actions:
            bins -= 1
        low = np.where(np.isfinite(box.low), box.low, -1.0).reshape(-1)
        high = np.where(np.isfinite(box.high), box.high, 1.0).reshape(-1)
        grids = [np.linspace(lo, hi, bins) for lo, hi in zip(low, high, strict=True)]
        self.table = np.array(list(itertools.product(*grids)), dtype=box.dtype).reshape(-1, *box.shape)
        self.action_space = gym.spaces.Discrete(len(self.table))

    def action(self, action: Any) -> np.ndarray:
        return self.table[int(action)]


class _Base(VecEnv):
    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name, None)] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [None] * self.num_envs

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


class SpacesOnly(_Base):
    """Declares spaces so that a model can be built before any env exists; never stepped."""

    def __init__(self, num_envs: int, observation_space: gym.Space[Any], action_space: gym.Space[Any]):
        super().__init__(num_envs, flat_space(observation_space), action_space)

    def reset(self) -> Any:
        raise RuntimeError("SpacesOnly is a placeholder env")

    def step_async(self, actions: np.ndarray) -> None:
        raise RuntimeError("SpacesOnly is a placeholder env")

    def step_wait(self) -> Any:
        raise RuntimeError("SpacesOnly is a placeholder env")


class VecEnvAdapter(_Base):
    """A SAME_STEP-autoreset Gymnasium ``VectorEnv`` as an SB3 ``VecEnv``."""

    def __init__(self, venv: gym.vector.VectorEnv[Any, Any, Any]):
        self.venv = venv
        self.raw_space = venv.single_observation_space
        super().__init__(venv.num_envs, flat_space(self.raw_space), venv.single_action_space)
        self._actions: np.ndarray | None = None

    def _obs(self, obs: Any, n: int) -> np.ndarray:
        if isinstance(self.raw_space, gym.spaces.Box):
            return np.asarray(obs).reshape(n, *self.raw_space.shape)
        return flatten_obs(self.raw_space, obs, n)

    def reset(self) -> np.ndarray:
        obs, _ = self.venv.reset(seed=self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        return self._obs(obs, self.num_envs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        final = info.get("final_obs")
        for i in np.flatnonzero(dones):
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if final is not None and final[i] is not None:
                infos[i]["terminal_observation"] = self._obs(final[i], 1)[0]
        return self._obs(obs, self.num_envs), np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()


class MultiTaskEnv(gym.Env[Any, Any]):
    """Meta-training for single-env learners: every ``episodes_per_variant`` episodes, a new train variant.

    ``wrap`` is applied to each sampled env (observation flattening, an action grid...).
    """

    def __init__(
        self,
        tasks: arena.TaskSampler,
        episodes_per_variant: int,
        wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]] = flat_env,
    ):
        self.tasks = tasks
        self.episodes_per_variant = episodes_per_variant
        self.wrap = wrap
        self.env = wrap(tasks.sample(num_envs=1))
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.episodes_here = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self.episodes_here >= self.episodes_per_variant:
            self.env.close()
            self.env = self.wrap(self.tasks.sample(num_envs=1))
            self.episodes_here = 0
        self.episodes_here += 1
        return self.env.reset(seed=seed)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


class MultiTaskVecEnv(_Base):
    """Meta-training for vector learners: after ``switch_after`` steps every copy is cut (truncated,
    so values bootstrap) and a new variant's copies take over."""

    def __init__(self, tasks: arena.TaskSampler, num_envs: int, switch_after: int):
        self.tasks = tasks
        self.switch_after = switch_after
        self.current = VecEnvAdapter(tasks.sample(num_envs=num_envs))
        super().__init__(num_envs, self.current.observation_space, self.current.action_space)
        self.steps_here = 0

    def reset(self) -> np.ndarray:
        self.current._seeds = list(self._seeds)
        self._reset_seeds()
        return self.current.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self.current.step_async(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.current.step_wait()
        self.steps_here += self.num_envs
        if self.steps_here < self.switch_after:
            return obs, rewards, dones, infos
        for i in range(self.num_envs):
            if not dones[i]:
                infos[i]["terminal_observation"] = obs[i]
                infos[i]["TimeLimit.truncated"] = True
        self.current.close()
        self.current = VecEnvAdapter(self.tasks.sample(num_envs=self.num_envs))
        self.steps_here = 0
        return self.current.reset(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def close(self) -> None:
        self.current.close()
