"""DQN through Stable-Baselines3, unchanged: ``dqn-scratch`` and ``dqn-pretrain``.

``dqn-scratch`` builds a fresh SB3 DQN per trial and runs ``model.learn(total_timesteps=budget)``
on the harness's env (one copy, as the zoo trains it); the budget ends ``learn`` by raising
``arena.BudgetExhausted``. ``dqn-pretrain`` first learns one model across the suite's train
variants (a new variant at every episode), saves it with ``model.save``, and each trial loads it
and fine-tunes with the same ``learn`` call. A fine-tuned model starts learning after
``finetune_learning_starts`` steps and explores with the zoo's final epsilon: the zoo's values
(1000 warm-up steps, epsilon from 1.0) would spend a small budget undoing what was pretrained.

Hyperparameters are RL Baselines3 Zoo's for CartPole-v1. Box action spaces are offered to DQN
as a grid of actions. Evaluation is greedy on Q, over legal actions where the family sends
``info["action_mask"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.utils import LinearSchedule

import arena
from baselines.common import flatten_obs, init_torch, pick_device
from baselines.sb3_envs import DiscreteActions, MultiTaskEnv, SpacesOnly, flat_env


@dataclass(frozen=True)
class Config:
    # RL Baselines3 Zoo, hyperparams/dqn.yml, entry "CartPole-v1" (marked "# Almost Tuned"), verbatim.
    learning_rate: float = 2.3e-3
    batch_size: int = 64
    buffer_size: int = 100_000  # capped at the budget: a trial never stores more transitions than that
    learning_starts: int = 1000
    gamma: float = 0.99
    target_update_interval: int = 10
    train_freq: int = 256
    gradient_steps: int = 128
    exploration_fraction: float = 0.16
    exploration_final_eps: float = 0.04
    net_arch: tuple[int, ...] = (256, 256)
    # Not the zoo's: dqn-pretrain's fine-tuning, and how many Box-action values per dimension.
    finetune_learning_starts: int = 64
    finetune_eps: float = 0.04
    episodes_per_variant: int = 1  # meta-training: a new train variant at every episode
    action_bins: int = 5


CONFIG = Config()


def _discrete_env(env: gym.Env[Any, Any], bins: int) -> gym.Env[Any, Any]:
    env = flat_env(env)
    return DiscreteActions(env, bins) if isinstance(env.action_space, gym.spaces.Box) else env


class DQNScratch(arena.Agent):
    """SB3 DQN learning from scratch within each trial's budget."""

    config = CONFIG
    num_envs = 1

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.device = pick_device(spec.device)
        self.action_table: np.ndarray | None = None
        action_space = spec.action_space
        if isinstance(action_space, gym.spaces.Box):
            grid = DiscreteActions(_SpacesEnv(spec.observation_space, action_space), self.config.action_bins)
            self.action_table, action_space = grid.table, grid.action_space
        self.action_space = action_space
        self.model = self._new_model(spec.budget_steps)

    def _placeholder(self) -> SpacesOnly:
        return SpacesOnly(1, self.spec.observation_space, self.action_space)

    def _new_model(self, budget: int) -> DQN:
        c = self.config
        return DQN(
            "MlpPolicy",
            self._placeholder(),
            learning_rate=c.learning_rate,
            batch_size=c.batch_size,
            buffer_size=max(c.batch_size, min(c.buffer_size, budget)),
            learning_starts=c.learning_starts,
            gamma=c.gamma,
            target_update_interval=c.target_update_interval,
            train_freq=c.train_freq,
            gradient_steps=c.gradient_steps,
            exploration_fraction=c.exploration_fraction,
            exploration_final_eps=c.exploration_final_eps,
            policy_kwargs={"net_arch": list(c.net_arch)},
            seed=self.spec.seed,
            device=self.device,
            verbose=0,
        )

    def adapt(self, env: gym.Env[Any, Any]) -> None:
        self.model.set_env(_discrete_env(env, self.config.action_bins))
        self.model.get_env().seed(self.spec.seed)
        self.model.learn(total_timesteps=self.spec.budget_steps)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        space = self.spec.observation_space
        obs = np.asarray(observation) if isinstance(space, gym.spaces.Box) else flatten_obs(space, observation, 1)[0]
        obs_t, _ = self.model.policy.obs_to_tensor(obs)
        with torch.no_grad():
            q = self.model.q_net(obs_t)[0].cpu().numpy()
        mask = info.get("action_mask")
        if mask is not None and self.action_table is None:
            legal = np.asarray(mask).astype(bool).reshape(-1)
            if legal.shape == q.shape and legal.any():
                q = np.where(legal, q, -np.inf)
        index = int(np.argmax(q))
        return index if self.action_table is None else self.action_table[index]


class DQNPretrain(DQNScratch):
    """SB3 DQN trained across train variants, saved, then fine-tuned on each trial's budget."""

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        env = MultiTaskEnv(tasks, c.episodes_per_variant, wrap=lambda e: _discrete_env(e, c.action_bins))
        self.model.set_env(env)
        self.model.get_env().seed(self.spec.seed)
        try:
            self.model.learn(total_timesteps=tasks.budget_steps)
        finally:
            env.close()

    def save(self, path: Path) -> None:
        self.model.save(Path(path) / "dqn.zip")

    def load(self, path: Path) -> None:
        c = self.config
        budget = self.spec.budget_steps
        self.model = DQN.load(
            Path(path) / "dqn.zip",
            env=self._placeholder(),
            device=self.device,
            custom_objects={
                "buffer_size": max(c.batch_size, min(c.buffer_size, budget)),
                "learning_starts": c.finetune_learning_starts,
            },
        )
        self.model.exploration_schedule = LinearSchedule(c.finetune_eps, c.finetune_eps, 1.0)
        self.model.set_random_seed(self.spec.seed)


class _SpacesEnv(gym.Env[Any, Any]):
    def __init__(self, observation_space: gym.Space[Any], action_space: gym.Space[Any]):
        self.observation_space = observation_space
        self.action_space = action_space
