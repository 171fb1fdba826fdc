"""Plumbing the baselines share: spaces, a batched view of the harness's envs, rollouts, GAE, PPO.

None of this is a meta-learning algorithm: every baseline's algorithm reads top to bottom in its
own module. What lives here is what several of them would otherwise copy word for word:

* :class:`Actions` maps a Discrete or Box action space to a policy head (categorical with the
  family's ``info["action_mask"]`` applied, or a diagonal Gaussian clipped into the box);
* :class:`BatchedEnv` shows a single ``gym.Env`` and a Gymnasium ``VectorEnv`` (SAME_STEP
  autoreset, as the harness hands out) as the same ``N`` copies with flattened observations, and
  turns the budget's end (``arena.BudgetExhausted``) into a flag instead of a lost transition;
* :class:`ActorCritic`, :func:`collect`, :func:`gae` and :func:`ppo_update`: the small on-policy
  learner that Reptile's inner loop and the prototype baseline train with.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

import arena

# --------------------------------------------------------------------------------------------
# torch and devices
# --------------------------------------------------------------------------------------------


def init_torch(seed: int) -> None:
    """One intra-op thread (the worker sets OMP_NUM_THREADS=1; small nets are fastest so) and a seed."""
    threads = int(os.environ.get("OMP_NUM_THREADS", "1") or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)


def pick_device(requested: str) -> torch.device:
    """``spec.device`` when it names a CUDA device that works here, else the CPU, with a warning
    saying why (the harness records the device actually used, so the fall-back shows there too)."""
    if not requested.startswith("cuda"):
        return torch.device("cpu")
    reason = "torch sees no CUDA device"
    if torch.cuda.is_available():
        try:
            device = torch.device(requested)
            torch.zeros(1, device=device)
            return device
        except (RuntimeError, AssertionError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = f"{requested} was offered but does not work here ({reason}); computing on the CPU"
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return torch.device("cpu")


# --------------------------------------------------------------------------------------------
# spaces
# --------------------------------------------------------------------------------------------


def check_observation_space(space: gym.Space[Any]) -> None:
    if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)):
        raise TypeError(f"this baseline needs a Box (or flat discrete) observation space, got {space}")


def obs_size(space: gym.Space[Any]) -> int:
    check_observation_space(space)
    return int(gym.spaces.flatdim(space))


def flatten_obs(space: gym.Space[Any], obs: Any, n: int) -> np.ndarray:
    """A batch of ``n`` observations as a float32 ``[n, obs_size]`` array."""
    if isinstance(space, gym.spaces.Box):
        return np.asarray(obs, dtype=np.float32).reshape(n, -1)
    items = np.asarray(obs).reshape(n, *space.shape)
    return np.stack([gym.spaces.flatten(space, item) for item in items]).astype(np.float32).reshape(n, -1)


class Actions:
    """A Discrete or Box action space seen by a policy: ``size`` outputs, conversion to env actions."""

    def __init__(self, space: gym.Space[Any]):
        self.space = space
        if isinstance(space, gym.spaces.Discrete):
            self.discrete = True
            self.size = int(space.n)
            self.start = int(space.start)
        elif isinstance(space, gym.spaces.Box):
            self.discrete = False
            self.size = int(np.prod(space.shape))
            self.shape = space.shape
            self.low = space.low.reshape(-1).astype(np.float32)
            self.high = space.high.reshape(-1).astype(np.float32)
        else:
            raise TypeError(f"this baseline needs a Discrete or Box action space, got {space}")

    def to_env(self, actions: np.ndarray, n: int) -> np.ndarray:
        """Policy samples ``[n]`` (indices) or ``[n, size]`` (reals) as what the env accepts."""
        if self.discrete:
            return np.asarray(actions, dtype=np.int64).reshape(n) + self.start
        clipped = np.clip(np.asarray(actions, dtype=np.float32).reshape(n, -1), self.low, self.high)
        return clipped.reshape(n, *self.shape).astype(self.space.dtype)

    def one(self, action: np.ndarray) -> Any:
        """One env action from a batch of one (a plain int for Discrete)."""
        out = self.to_env(action, 1)
        return int(out[0]) if self.discrete else out[0]

    def features(self, actions: np.ndarray, n: int) -> np.ndarray:
        """One-hot (Discrete) or the clipped vector (Box): the action as a network input."""
        if self.discrete:
            out = np.zeros((n, self.size), dtype=np.float32)
            out[np.arange(n), np.asarray(actions, dtype=np.int64).reshape(n)] = 1.0
            return out
        return np.clip(np.asarray(actions, dtype=np.float32).reshape(n, -1), self.low, self.high)


def read_masks(info: dict[str, Any], n: int, size: int, vector: bool) -> np.ndarray | None:
    """``info["action_mask"]`` as a ``[n, size]`` bool array (rows with no legal action: all legal)."""
    mask = info.get("action_mask") if isinstance(info, dict) else None
    if mask is None:
        return None
    array = np.asarray(mask).astype(bool).reshape(n if vector else 1, -1)[:, :size]
    if array.shape[1] != size:
        return None
    array[~array.any(axis=1)] = True
    return array


def masked_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return logits if mask is None else logits.masked_fill(~mask, -1e9)


# --------------------------------------------------------------------------------------------
# the harness's env as N copies
# --------------------------------------------------------------------------------------------


@dataclass
class Step:
    next_obs: np.ndarray  # [n, d]: the observation each action led to (the final one where an episode ended)
    reward: np.ndarray  # [n] float32
    terminated: np.ndarray  # [n] bool
    truncated: np.ndarray  # [n] bool

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class BatchedEnv:
    """A ``gym.Env`` or a SAME_STEP-autoreset ``VectorEnv`` as ``n`` copies with flat observations.

    After :meth:`step`, ``obs`` and ``masks`` are the copies' current observations (the first of a
    new episode where one ended). When the budget ends while resetting a single env, the step's
    transition is still returned and ``exhausted`` is set; the next :meth:`step` raises
    ``arena.BudgetExhausted``.
    """

    def __init__(self, env: Any):
        self.env = env
        self.vector = isinstance(env, gym.vector.VectorEnv)
        self.n = int(env.num_envs) if self.vector else 1
        self.observation_space = env.single_observation_space if self.vector else env.observation_space
        self.action_space = env.single_action_space if self.vector else env.action_space
        self.actions = Actions(self.action_space)
        self.obs_size = obs_size(self.observation_space)
        self.obs = np.zeros((self.n, self.obs_size), dtype=np.float32)
        self.masks: np.ndarray | None = None
        self.episode_step = np.zeros(self.n, dtype=np.int64)  # steps into each copy's current episode
        self.episode_return = np.zeros(self.n, dtype=np.float64)
        self.finished_returns: list[float] = []
        self.steps = 0  # env steps taken through this view (every copy counted)
        self.exhausted = False

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        self.obs = flatten_obs(self.observation_space, obs, self.n)
        self.masks = read_masks(info, self.n, self.actions.size, self.vector) if self.actions.discrete else None
        self.episode_step[:] = 0
        self.episode_return[:] = 0.0
        return self.obs

    def step(self, env_actions: np.ndarray) -> Step:
        if self.exhausted:
            raise arena.BudgetExhausted("the budget ended with the last step")
        if self.vector:
            obs, reward, terminated, truncated, info = self.env.step(env_actions)
            terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
            self.obs = flatten_obs(self.observation_space, obs, self.n)
            next_obs = self.obs.copy()
            final = info.get("final_obs")
            if final is not None:
                for i in np.flatnonzero(terminated | truncated):
                    if final[i] is not None:
                        next_obs[i] = flatten_obs(self.observation_space, final[i], 1)[0]
            reward = np.asarray(reward, dtype=np.float32).reshape(self.n)
        else:
            action = env_actions[0] if not self.actions.discrete else int(env_actions[0])
            obs, r, term, trunc, info = self.env.step(action)
            terminated, truncated = np.array([bool(term)]), np.array([bool(trunc)])
            next_obs = flatten_obs(self.observation_space, obs, 1)
            self.obs = next_obs.copy()
            reward = np.array([r], dtype=np.float32)
            if term or trunc:
                try:
                    obs, info = self.env.reset()
                    self.obs = flatten_obs(self.observation_space, obs, 1)
                except arena.BudgetExhausted:
                    self.exhausted = True
        if self.actions.discrete:
            self.masks = read_masks(info, self.n, self.actions.size, self.vector)
        self.steps += self.n
        self.episode_return += reward
        self.episode_step += 1
        for i in np.flatnonzero(terminated | truncated):
            self.finished_returns.append(float(self.episode_return[i]))
            self.episode_return[i] = 0.0
            self.episode_step[i] = 0
        return Step(next_obs, reward, terminated, truncated)

    def close(self) -> None:
        try:
            self.env.close()
        except Exception:  # a spent budget or a closed channel: nothing left to free
            pass


# --------------------------------------------------------------------------------------------
# a small actor-critic and its on-policy learner
# --------------------------------------------------------------------------------------------


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh, out_gain: float = 1.0) -> nn.Sequential:
    """Orthogonally initialised MLP (the init of SB3/CleanRL), linear last layer."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs; a categorical (masked) or diagonal Gaussian policy."""

    def __init__(self, obs_dim: int, actions: Actions, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        self.discrete = actions.discrete
        self.pi = mlp([obs_dim, *hidden, actions.size], out_gain=0.01)
        self.v = mlp([obs_dim, *hidden, 1], out_gain=1.0)
        self.log_std = None if actions.discrete else nn.Parameter(torch.zeros(actions.size))

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution:
        out = self.pi(obs)
        if self.discrete:
            return Categorical(logits=masked_logits(out, mask))
        assert self.log_std is not None
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def actor_parameters(self) -> list[nn.Parameter]:
        return [*self.pi.parameters(), *([] if self.log_std is None else [self.log_std])]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v(obs).squeeze(-1)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        out = self.pi(torch.as_tensor(obs))
        if self.discrete:
            return masked_logits(out, None if mask is None else torch.as_tensor(mask)).argmax(-1).numpy()
        return out.numpy()


@dataclass
class Rollout:
    """``T`` steps of ``N`` copies. Rewards of truncated steps already include ``gamma * V(final obs)``."""

    obs: torch.Tensor  # [T, N, D]
    actions: torch.Tensor  # [T, N] or [T, N, A]
    logp: torch.Tensor  # [T, N]
    values: torch.Tensor  # [T, N]
    rewards: torch.Tensor  # [T, N]
    dones: torch.Tensor  # [T, N] float: the episode ended with this step
    masks: torch.Tensor | None  # [T, N, A] bool
    last_value: torch.Tensor  # [N]
    episode_returns: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.obs.shape[0] * self.obs.shape[1])


@torch.no_grad()
def collect(env: BatchedEnv, policy: ActorCritic, n_steps: int, gamma: float) -> Rollout | None:
    """Up to ``n_steps`` steps of every copy; fewer when the budget ends (None if none at all)."""
    obs, acts, logps, vals, rews, dones, masks = [], [], [], [], [], [], []
    returns_before = len(env.finished_returns)
    for _ in range(n_steps):
        o = torch.as_tensor(env.obs)
        m = None if env.masks is None else torch.as_tensor(env.masks)
        dist = policy.dist(o, m)
        a = dist.sample()
        v = policy.value(o)
        try:
            step = env.step(env.actions.to_env(a.numpy(), env.n))
        except arena.BudgetExhausted:
            break
        reward = torch.as_tensor(step.reward)
        cut = step.truncated & ~step.terminated
        if cut.any():  # a time limit, not a terminal state: bootstrap from the final observation
            reward = reward + gamma * torch.as_tensor(cut, dtype=torch.float32) * policy.value(
                torch.as_tensor(step.next_obs)
            )
        obs.append(o)
        acts.append(a)
        logps.append(dist.log_prob(a))
        vals.append(v)
        rews.append(reward)
        dones.append(torch.as_tensor(step.done, dtype=torch.float32))
        masks.append(m)
        if env.exhausted:
            break
    if not obs:
        return None
    return Rollout(
        obs=torch.stack(obs),
        actions=torch.stack(acts),
        logp=torch.stack(logps),
        values=torch.stack(vals),
        rewards=torch.stack(rews),
        dones=torch.stack(dones),
        masks=None if any(m is None for m in masks) else torch.stack(masks),  # type: ignore[misc]
        last_value=policy.value(torch.as_tensor(env.obs)),
        episode_returns=env.finished_returns[returns_before:],
    )


def gae(rollout: Rollout, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and value targets (Schulman et al. 2016)."""
    advantages = torch.zeros_like(rollout.rewards)
    running = torch.zeros_like(rollout.last_value)
    next_value = rollout.last_value
    for t in reversed(range(rollout.rewards.shape[0])):
        alive = 1.0 - rollout.dones[t]
        delta = rollout.rewards[t] + gamma * next_value * alive - rollout.values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        next_value = rollout.values[t]
    return advantages, advantages + rollout.values


@dataclass
class PPOParams:
    epochs: int = 10
    minibatch: int = 64
    clip: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5


def ppo_update(
    policy: ActorCritic, optimizer: torch.optim.Optimizer, rollout: Rollout, gamma: float, lam: float, p: PPOParams
) -> None:
    """Clipped-surrogate PPO epochs over one rollout (Schulman et al. 2017)."""
    advantages, returns = gae(rollout, gamma, lam)
    obs = rollout.obs.flatten(0, 1)
    actions = rollout.actions.flatten(0, 1)
    old_logp = rollout.logp.flatten(0, 1)
    adv = advantages.flatten(0, 1)
    ret = returns.flatten(0, 1)
    masks = None if rollout.masks is None else rollout.masks.flatten(0, 1)
    n = obs.shape[0]
    for _ in range(p.epochs):
        for idx in torch.randperm(n).split(p.minibatch):
            dist = policy.dist(obs[idx], None if masks is None else masks[idx])
            ratio = (dist.log_prob(actions[idx]) - old_logp[idx]).exp()
            a = adv[idx]
            if len(idx) > 1:
                a = (a - a.mean()) / (a.std() + 1e-8)
            surrogate = torch.min(ratio * a, ratio.clamp(1 - p.clip, 1 + p.clip) * a).mean()
            value_loss = (policy.value(obs[idx]) - ret[idx]).pow(2).mean()
            loss = -surrogate + p.vf_coef * value_loss - p.ent_coef * dist.entropy().mean()
            optimizer.zero_grad()
            loss.backward()
            # clipped apart: the value loss's large gradients must not shrink the policy's
            nn.utils.clip_grad_norm_(policy.actor_parameters(), p.max_grad_norm)
            nn.utils.clip_grad_norm_(policy.v.parameters(), p.max_grad_norm)
            optimizer.step()
