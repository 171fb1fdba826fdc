"""Stable-Baselines3 on the envs an agent receives: ``from arena.sb3 import sb3_env``.

A single env (``num_envs = 1``, the default) is a plain Gymnasium env: SB3 takes it unchanged.
A vector env (an agent whose class sets ``num_envs > 1``) is a Gymnasium ``VectorEnv``, which SB3
does not take ("The environment is of type ProxyVectorEnv, not a Gymnasium environment"): SB3
wants its own ``VecEnv`` type. :func:`sb3_env` gives either in the shape SB3 learns on::

    model = PPO("MlpPolicy", sb3_env(env), seed=self.spec.seed)
    model.learn(total_timesteps=self.spec.budget_steps)

The vector env resets copies in the same step (Gymnasium's SAME_STEP autoreset, the last
observation in ``info["final_obs"]``); :class:`VecEnvAdapter` moves that into SB3's
``terminal_observation`` and ``TimeLimit.truncated`` infos, so value bootstrapping stays right.
Importing this module imports Stable-Baselines3 (the harness's agent processes have it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv


def _row(obs: Any, i: int) -> Any:
    return {key: value[i] for key, value in obs.items()} if isinstance(obs, dict) else obs[i]


class VecEnvAdapter(VecEnv):
    """A SAME_STEP-autoreset Gymnasium ``VectorEnv`` (what ``adapt`` gets with ``num_envs > 1``)
    as an SB3 ``VecEnv``. Every copy's steps count against the trial's one budget."""

    def __init__(self, venv: gym.vector.VectorEnv[Any, Any, Any]):
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: Any = None

    def reset(self) -> Any:
        obs, _ = self.venv.reset(seed=self._seeds[0] if self._seeds else None)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        final = info.get("final_obs")
        for i in np.flatnonzero(dones):
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if final is not None:
                infos[i]["terminal_observation"] = _row(final, int(i))
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name, None)] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [None] * self.num_envs

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


def sb3_env(env: gym.Env[Any, Any] | gym.vector.VectorEnv[Any, Any, Any]) -> Any:
    """The env ``adapt`` (or ``tasks.sample``) gave, in a shape SB3 learns on: a single env as it
    is, a vector env as a :class:`VecEnvAdapter`."""
    if isinstance(env, gym.vector.VectorEnv):
        return VecEnvAdapter(env)
    return env
