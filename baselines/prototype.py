"""A metric-based meta-learner: ``prototype``. Identify the variant, then reuse a stored policy.

Meta-training builds a small library of prototypes. For each of up to ``max_prototypes`` sampled
train variants it

1. probes the variant with ``probe_steps`` uniformly random (legal) actions and *embeds* those
   transitions: the ridge-regression coefficients that predict ``[s' - s, r]`` from
   ``[s, action features, 1]``. That is a one-step system identification: for CartPole it
   measures how gravity, pole length and force move the state, for a bandit each arm's mean
   payoff (large observations and action sets go through fixed random projections first);
2. trains a policy on the variant with PPO (:func:`baselines.common.ppo_update`), starting from
   the policy of the nearest prototype already in the library, so skill accumulates across
   prototypes even when each gets few steps.

The library is the embeddings (standardised per dimension across the library) and the policies.
A trial spends its first ``probe_steps`` steps on the same random probe, embeds them, and plays
the greedy policy of the nearest prototype (Euclidean distance on the standardised embedding);
the rest of the budget goes unused: this baseline measures identification, not learning. With a
budget of 0 it plays the medoid's policy (the prototype nearest the library's mean embedding).
"""

from __future__ import annotations

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
    probe_steps: int = 64  # transitions (all copies counted) that identify a variant
    ridge: float = 1e-2  # regularisation of the embedding's least squares
    max_obs_features: int = 16  # larger observations (boards) are randomly projected to this many
    max_action_features: int = 16  # likewise for large action spaces' one-hot features
    max_prototypes: int = 16
    min_steps_per_prototype: int = 512  # fewer prototypes rather than fewer steps than this each
    hidden: tuple[int, ...] = (64, 64)
    rollout_steps: int = 32  # vector steps per PPO update
    lr: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ppo: PPOParams = field(default_factory=lambda: PPOParams(epochs=4, minibatch=64))


CONFIG = Config()


class Features:
    """Fixed Gaussian random projections (seed 0: the same in meta-training and every trial) that
    keep the regression small for boards and large action sets; identity when already small."""

    def __init__(self, obs_dim: int, action_size: int, c: Config):
        rng = np.random.default_rng(0)
        self.obs = (
            None if obs_dim <= c.max_obs_features else rng.normal(size=(obs_dim, c.max_obs_features)) / np.sqrt(obs_dim)
        )
        self.act = (
            None if action_size <= c.max_action_features else rng.normal(size=(action_size, c.max_action_features))
        )
        self.obs_dim = obs_dim if self.obs is None else c.max_obs_features
        self.action_dim = action_size if self.act is None else c.max_action_features
        self.n_inputs = self.obs_dim + self.action_dim + 1

    def state(self, s: np.ndarray) -> np.ndarray:
        return s if self.obs is None else (s @ self.obs).astype(np.float32)

    def action(self, a: np.ndarray) -> np.ndarray:
        return a if self.act is None else (a @ self.act).astype(np.float32)


def probe(env: BatchedEnv, steps: int, rng: np.random.Generator, features: Features) -> list[np.ndarray]:
    """``steps`` random legal transitions as rows ``[s, action features, 1 | s' - s, r]`` (projected)."""
    rows = []
    actions = env.actions
    for _ in range(max(1, steps // env.n)):
        if actions.discrete:
            if env.masks is None:
                a = rng.integers(actions.size, size=env.n)
            else:
                a = np.array([rng.choice(np.flatnonzero(m)) for m in env.masks])
        else:
            a = rng.uniform(actions.low, actions.high, size=(env.n, actions.size)).astype(np.float32)
        s = env.obs.copy()
        try:
            step = env.step(actions.to_env(a, env.n))
        except arena.BudgetExhausted:
            break
        fs = features.state(s)
        x = np.concatenate([fs, features.action(actions.features(a, env.n)), np.ones((env.n, 1), np.float32)], axis=1)
        y = np.concatenate([features.state(step.next_obs) - fs, step.reward[:, None]], axis=1)
        rows.extend(np.concatenate([x, y], axis=1))
        if env.exhausted:
            break
    return rows


def embed(rows: list[np.ndarray], n_inputs: int, ridge: float) -> np.ndarray:
    """Ridge-regression coefficients of the transitions' outcomes on their inputs, flattened."""
    data = np.asarray(rows, dtype=np.float64)
    x, y = data[:, :n_inputs], data[:, n_inputs:]
    w = np.linalg.solve(x.T @ x + ridge * np.eye(n_inputs), x.T @ y)
    return w.reshape(-1).astype(np.float32)


class Prototype(arena.Agent):
    config = CONFIG
    num_envs = CONFIG.num_envs

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        self.actions = Actions(spec.action_space)
        self.obs_dim = obs_size(spec.observation_space)
        self.features = Features(self.obs_dim, self.actions.size, self.config)
        self.n_inputs = self.features.n_inputs
        self.embeddings = np.zeros((0, self.n_inputs * (self.features.obs_dim + 1)), dtype=np.float32)
        self.policies: list[ActorCritic] = []
        self.center = np.zeros(self.embeddings.shape[1], dtype=np.float32)
        self.scale = np.ones(self.embeddings.shape[1], dtype=np.float32)
        self.chosen = self._new_policy()

    def _new_policy(self) -> ActorCritic:
        return ActorCritic(self.obs_dim, self.actions, self.config.hidden)

    def _nearest(self, embedding: np.ndarray) -> int:
        distances = np.linalg.norm((self.embeddings - embedding) / self.scale, axis=1)
        return int(np.argmin(distances))

    # -- meta-training: the library --------------------------------------------------------------

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        count = int(np.clip(tasks.budget_steps // (c.probe_steps + c.min_steps_per_prototype), 1, c.max_prototypes))
        per_prototype = tasks.budget_steps // count
        embeddings: list[np.ndarray] = []
        for k in range(count):
            try:
                env = BatchedEnv(tasks.sample(num_envs=c.num_envs))
                env.reset(seed=self.spec.seed + k)
            except arena.BudgetExhausted:
                break
            rows = probe(env, c.probe_steps, self.rng, self.features)
            if not rows:
                break
            embedding = embed(rows, self.n_inputs, c.ridge)
            policy = self._new_policy()
            if self.policies:  # warm start from the nearest prototype so far
                self.embeddings = np.stack(embeddings)
                policy.load_state_dict(self.policies[self._nearest(embedding)].state_dict())
            optimizer = torch.optim.Adam(policy.parameters(), lr=c.lr)
            env.reset()
            while env.steps < per_prototype and not env.exhausted:
                rollout = collect(
                    env, policy, min(c.rollout_steps, max(1, (per_prototype - env.steps) // env.n)), c.gamma
                )
                if rollout is None:
                    break
                ppo_update(policy, optimizer, rollout, c.gamma, c.gae_lambda, c.ppo)
            env.close()
            embeddings.append(embedding)
            self.policies.append(policy)
            if env.exhausted:
                break
        if embeddings:
            self._set_library(np.stack(embeddings))

    def _set_library(self, embeddings: np.ndarray) -> None:
        self.embeddings = embeddings.astype(np.float32)
        self.center = self.embeddings.mean(0)
        spread = self.embeddings.std(0) if len(self.embeddings) > 1 else np.ones_like(self.center)
        self.scale = np.maximum(spread, 1e-6).astype(np.float32)
        self.chosen = self.policies[self._nearest(self.center)]  # the medoid, for a budget of 0

    def save(self, path: Path) -> None:
        torch.save(
            {"embeddings": torch.as_tensor(self.embeddings), "policies": [p.state_dict() for p in self.policies]},
            Path(path) / "prototypes.pt",
        )

    def load(self, path: Path) -> None:
        state = torch.load(Path(path) / "prototypes.pt", weights_only=True)
        self.policies = []
        for weights in state["policies"]:
            policy = self._new_policy()
            policy.load_state_dict(weights)
            self.policies.append(policy)
        if self.policies:
            self._set_library(state["embeddings"].numpy())

    # -- a trial: identify, then reuse ------------------------------------------------------------

    def adapt(self, env: Any) -> None:
        if not self.policies:
            return
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        rows = probe(benv, min(self.config.probe_steps, self.spec.budget_steps), self.rng, self.features)
        if rows:
            self.chosen = self.policies[self._nearest(embed(rows, self.n_inputs, self.config.ridge))]

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = flatten_obs(self.spec.observation_space, observation, 1)
        mask = read_masks(info, 1, self.actions.size, vector=False) if self.actions.discrete else None
        return self.actions.one(np.asarray(self.chosen.greedy(obs, mask)))
