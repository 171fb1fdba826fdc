"""Reptile (Nichol, Achiam & Schulman 2018): first-order meta-learning of an initialisation. ``reptile``.

Meta-training repeats: sample a train variant, copy the meta-parameters ``theta`` into ``phi``,
run ``inner_updates`` updates of an ordinary RL learner on that variant (PPO on an actor-critic,
a fresh Adam per task, as the paper resets the inner optimiser), then move ``theta`` toward the
result, ``theta <- theta + eps * mean_i(phi_i - theta)``, with ``eps`` annealed linearly to
``outer_lr_end`` over the meta-training budget. No second-order terms: the update direction is
just where training went. Each trial then runs the same inner learner from ``theta`` for the
whole budget, and evaluates the greedy policy.

The inner learner is :func:`baselines.common.ppo_update` on rollouts of ``num_envs`` copies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import arena
from baselines.common import (
    Actions,
    ActorCritic,
    BatchedEnv,
    PPOParams,
    collect,
    flatten_obs,
    init_torch,
    obs_size,
    ppo_update,
    read_masks,
)


@dataclass(frozen=True)
class Config:
    num_envs: int = 8
    hidden: tuple[int, ...] = (64, 64)
    rollout_steps: int = 32  # vector steps per inner update: 256 env steps with 8 copies
    inner_updates: int = 4  # PPO updates on one task per meta-iteration
    inner_lr: float = 1e-3
    meta_batch: int = 2  # tasks whose (phi - theta) are averaged into one outer step
    outer_lr_start: float = 1.0  # eps, annealed linearly (the paper's schedule)
    outer_lr_end: float = 0.1
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ppo: PPOParams = field(default_factory=lambda: PPOParams(epochs=4, minibatch=64, ent_coef=0.0))


CONFIG = Config()


class Reptile(arena.Agent):
    config = CONFIG
    num_envs = CONFIG.num_envs

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.actions = Actions(spec.action_space)
        self.policy = ActorCritic(obs_size(spec.observation_space), self.actions, self.config.hidden)

    # -- the inner learner: PPO from a given initialisation --------------------------------------

    def _train(self, policy: ActorCritic, env: BatchedEnv, updates: int | None) -> bool:
        """``updates`` PPO updates (None: until the budget ends). False once the budget is spent."""
        c = self.config
        optimizer = torch.optim.Adam(policy.parameters(), lr=c.inner_lr)
        done = 0
        while updates is None or done < updates:
            rollout = collect(env, policy, c.rollout_steps, c.gamma)
            if rollout is None:
                return False
            ppo_update(policy, optimizer, rollout, c.gamma, c.gae_lambda, c.ppo)
            done += 1
            if rollout.obs.shape[0] < c.rollout_steps or env.exhausted:
                return False
        return True

    # -- meta-training ---------------------------------------------------------------------------

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        budget = max(1, tasks.budget_steps)
        theta = self.policy
        iteration = 0
        running = True
        while running:
            progress = 1.0 - tasks.steps_left / budget
            eps = c.outer_lr_start + (c.outer_lr_end - c.outer_lr_start) * min(1.0, progress)
            deltas: list[list[torch.Tensor]] = []
            for i in range(c.meta_batch):
                try:
                    env = BatchedEnv(tasks.sample(num_envs=c.num_envs))
                    env.reset(seed=self.spec.seed + 1000 * iteration + i)
                except arena.BudgetExhausted:
                    running = False
                    break
                phi = copy.deepcopy(theta)
                running = self._train(phi, env, c.inner_updates)
                env.close()
                if env.steps > 0:
                    deltas.append(
                        [p.detach() - q.detach() for p, q in zip(phi.parameters(), theta.parameters(), strict=True)]
                    )
                if not running:
                    break
            if deltas:
                with torch.no_grad():
                    for k, p in enumerate(theta.parameters()):
                        p.add_(eps * torch.stack([d[k] for d in deltas]).mean(0))
            iteration += 1

    def save(self, path: Path) -> None:
        torch.save(self.policy.state_dict(), Path(path) / "reptile.pt")

    def load(self, path: Path) -> None:
        self.policy.load_state_dict(torch.load(Path(path) / "reptile.pt", weights_only=True))

    # -- a trial ---------------------------------------------------------------------------------

    def adapt(self, env: Any) -> None:
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        self._train(self.policy, benv, None)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = flatten_obs(self.spec.observation_space, observation, 1)
        mask = read_masks(info, 1, self.actions.size, vector=False) if self.actions.discrete else None
        return self.actions.one(np.asarray(self.policy.greedy(obs, mask)))
