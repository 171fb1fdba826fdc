"""PPO through Stable-Baselines3, unchanged: ``ppo-scratch`` and ``ppo-pretrain``.

``ppo-scratch`` builds a fresh SB3 PPO per trial and runs ``model.learn(total_timesteps=budget)``
on the harness's env, exactly as a Gymnasium user would; the budget ends ``learn`` by raising
``arena.BudgetExhausted`` out of the env. ``ppo-pretrain`` first learns one model across the
suite's train variants (a new variant every ``steps_per_variant`` steps), saves it with
``model.save``, and every trial loads it and fine-tunes with the same ``learn`` call.

Hyperparameters are RL Baselines3 Zoo's tuned ones for CartPole-v1, the nearest tuned env to
the families here; the agent asks the harness for ``n_envs`` copies as the zoo's vector env.
Evaluation plays the deterministic policy (SB3's convention), restricted to legal actions where
the family sends ``info["action_mask"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule

import arena
from baselines.common import flatten_obs, init_torch, pick_device
from baselines.sb3_envs import MultiTaskVecEnv, SpacesOnly, VecEnvAdapter, flat_env


@dataclass(frozen=True)
class Config:
    # RL Baselines3 Zoo, hyperparams/ppo.yml, entry "CartPole-v1" (marked "# Tuned"), verbatim.
    # ``lin_X`` there is a linear decay from X to 0 over the ``total_timesteps`` given to learn().
    n_envs: int = 8
    n_steps: int = 32
    batch_size: int = 256
    gae_lambda: float = 0.8
    gamma: float = 0.98
    n_epochs: int = 20
    ent_coef: float = 0.0
    learning_rate: float = 0.001  # lin_0.001
    clip_range: float = 0.2  # lin_0.2
    # SB3's defaults for the rest (policy MlpPolicy: 64x64 tanh, separate pi/vf; vf_coef 0.5; max_grad_norm 0.5).
    # ppo-pretrain only (not the zoo's): steps on one train variant before moving to the next.
    steps_per_variant: int = 2048


CONFIG = Config()


class PPOScratch(arena.Agent):
    """SB3 PPO learning from scratch within each trial's budget."""

    config = CONFIG
    num_envs = CONFIG.n_envs

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.device = pick_device(spec.device)
        self.model = self._new_model()

    def _new_model(self) -> PPO:
        c = self.config
        return PPO(
            "MlpPolicy",
            SpacesOnly(c.n_envs, self.spec.observation_space, self.spec.action_space),
            n_steps=c.n_steps,
            batch_size=c.batch_size,
            gae_lambda=c.gae_lambda,
            gamma=c.gamma,
            n_epochs=c.n_epochs,
            ent_coef=c.ent_coef,
            learning_rate=LinearSchedule(c.learning_rate, 0.0, 1.0),
            clip_range=LinearSchedule(c.clip_range, 0.0, 1.0),
            seed=self.spec.seed,
            device=self.device,
            verbose=0,
        )

    def adapt(self, env: Any) -> None:
        venv = VecEnvAdapter(env) if isinstance(env, gym.vector.VectorEnv) else flat_env(env)
        self.model.set_env(venv)
        self.model.get_env().seed(self.spec.seed)
        self.model.learn(total_timesteps=self.spec.budget_steps)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        space = self.spec.observation_space
        obs = np.asarray(observation) if isinstance(space, gym.spaces.Box) else flatten_obs(space, observation, 1)[0]
        mask = info.get("action_mask")
        if mask is None or not isinstance(self.spec.action_space, gym.spaces.Discrete):
            action, _ = self.model.predict(obs, deterministic=True)
            return int(action) if isinstance(self.spec.action_space, gym.spaces.Discrete) else action
        obs_t, _ = self.model.policy.obs_to_tensor(obs)
        with torch.no_grad():
            logits = self.model.policy.get_distribution(obs_t).distribution.logits[0].cpu().numpy()
        legal = np.asarray(mask).astype(bool).reshape(-1)
        if legal.any():
            logits = np.where(legal, logits, -np.inf)
        return int(np.argmax(logits))


class PPOPretrain(PPOScratch):
    """SB3 PPO trained across train variants, saved, then fine-tuned on each trial's budget."""

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        env = MultiTaskVecEnv(tasks, c.n_envs, c.steps_per_variant)
        self.model.set_env(env)
        env.seed(self.spec.seed)
        try:
            self.model.learn(total_timesteps=tasks.budget_steps)
        finally:
            env.close()

    def save(self, path: Path) -> None:
        self.model.save(Path(path) / "ppo.zip")

    def load(self, path: Path) -> None:
        c = self.config
        placeholder = SpacesOnly(c.n_envs, self.spec.observation_space, self.spec.action_space)
        self.model = PPO.load(Path(path) / "ppo.zip", env=placeholder, device=self.device)
        self.model.set_random_seed(self.spec.seed)
