"""MAML for policy gradients (Finn, Abbeel & Levine 2017): ``maml``.

The policy's parameters ``theta`` are meta-learned so that a few vanilla policy-gradient steps
on a new variant give a good policy there.

Inner loop (per task, ``inner_steps`` times): roll out ``episodes`` fresh whole episodes (one
per copy of a vector env, all started from a reset; a copy whose episode has ended waits, its
steps not used) with the current parameters, estimate advantages with a linear feature baseline
fitted to the returns (as in the paper's rllab code: features ``[o, o^2, t, t^2, t^3, 1]``), with
episodes cut by the time limit bootstrapped from the baseline's value of their last state, and
take one step of plain REINFORCE: ``theta' = theta - alpha * grad_theta L_in(theta)``, with
``L_in = -mean(log pi(a|s) * A)``.

Outer loop: for a batch of ``meta_batch`` train variants, roll out fresh post-update episodes
with ``theta'_i`` and maximise their return as a function of ``theta``, differentiating *through*
the inner step (second-order: the Hessian-vector terms of ``d theta' / d theta`` are kept). The
outer step is PPO-style, as in ProMP's "MAML with PPO": ``outer_epochs`` Adam steps on the clipped
surrogate ``min(r A, clip(r, 1 - eps, 1 + eps) A)``, ``r = pi_theta'(theta)(a|s) / pi_old(a|s)``,
recomputing ``theta'(theta)`` from the same pre-update data at every epoch. At the first epoch
``r = 1`` and the gradient is exactly MAML's. With ``inner_steps = 0`` the same loop is
multi-task pretraining (``maml-pretrain``: the paper's "pretrained" comparison).

Everything is written with ``torch.func``: ``functional_call`` runs the policy on any parameter
dict, ``torch.func.grad`` takes the inner gradient (differentiable by the outer autograd), and
on CUDA the tasks of a meta-batch are ``vmap``-ed into one batched computation when their
batches have one shape. On the CPU (the default) tasks are looped.

A trial spends its budget on the inner loop: inner steps of ``episodes`` whole episodes each,
as many as the budget pays for, up to ``max_test_inner_steps`` (on metarl-v2's nav2d, budgets
2,000, 6,000 and 20,000 buy 1, 3 and 10 steps), then evaluates ``theta'``: sampling from its
categorical policy (a greedy policy that never reaches a goal scores the same forever), or the
Gaussian's mean for continuous actions (Finn et al. evaluate so).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

import arena
from baselines.common import Actions, BatchedEnv, flatten_obs, init_torch, mlp, obs_size, pick_device, read_masks

Params = dict[str, torch.Tensor]
BASELINE_MAX_OBS = 32  # observation features of the linear baseline, at most


@dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = (100, 100)  # the paper: two layers of 100 ReLU units
    num_envs: int = 20  # whole episodes per inner step, one per copy (the paper: 20 trajectories)
    meta_batch: int = 20  # tasks per outer update (the paper: 20-40)
    inner_steps: int = 1  # during meta-training (0: multi-task pretraining, no inner step)
    max_episode_steps: int = 1000  # an episode not ended by then is cut (and bootstrapped)
    inner_lr: float = 0.1  # alpha (the paper's value for its RL experiments)
    outer_lr: float = 1e-3  # Adam
    outer_epochs: int = 5  # PPO-style epochs per meta-batch
    clip: float = 0.2
    max_grad_norm: float = 1.0
    gamma: float = 0.99
    baseline_ridge: float = 1e-5  # rllab's LinearFeatureBaseline reg_coeff
    max_test_inner_steps: int = 10
    vmap_tasks: str = "auto"  # "auto": vmap on CUDA, loop on CPU; "always"; "never"


CONFIG = Config()


# --------------------------------------------------------------------------------------------
# the policy, functionally
# --------------------------------------------------------------------------------------------


class Policy(nn.Module):
    """An MLP giving categorical logits (Discrete) or Gaussian means with a learned log-std (Box)."""

    def __init__(self, obs_dim: int, actions: Actions, hidden: tuple[int, ...]):
        super().__init__()
        self.discrete = actions.discrete
        self.net = mlp([obs_dim, *hidden, actions.size], out_gain=0.01)
        self.log_std = nn.Parameter(torch.zeros(actions.size)) if not actions.discrete else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


@dataclass
class TaskBatch:
    """Rollouts of one task, flattened over (step, copy): ``T`` rows."""

    obs: torch.Tensor  # [T, D]
    actions: torch.Tensor  # [T] long, or [T, A]
    masks: torch.Tensor  # [T, A] bool (all True without a family mask; [T, 1] for Box actions)
    advantages: torch.Tensor  # [T], normalised
    logp_old: torch.Tensor  # [T], under the parameters that sampled it

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        return (self.obs, self.actions, self.masks, self.advantages, self.logp_old)


def log_prob(
    policy: Policy, params: Params, obs: torch.Tensor, actions: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    out = functional_call(policy, params, (obs,))
    if policy.discrete:
        logits = out.masked_fill(~masks, -1e9)
        return torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    log_std = params["log_std"]
    z = (actions - out) / log_std.exp()
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def inner_loss(policy: Policy, params: Params, data: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Vanilla policy gradient (REINFORCE with a baseline): ``-mean(log pi(a|s) * A)``."""
    obs, actions, masks, advantages, _ = data
    return -(log_prob(policy, params, obs, actions, masks) * advantages).mean()


def adapt_params(policy: Policy, params: Params, pre: list[tuple[torch.Tensor, ...]], alpha: float) -> Params:
    """``theta'``: one inner PG step per pre-update batch. Differentiable in ``params`` (2nd order)."""
    for data in pre:
        grads = grad(lambda p, d=data: inner_loss(policy, p, d))(params)
        params = {k: params[k] - alpha * grads[k] for k in params}
    return params


def outer_loss(
    policy: Policy, params: Params, pre: list[tuple[torch.Tensor, ...]], post: tuple[torch.Tensor, ...], c: Config
) -> torch.Tensor:
    """Clipped surrogate of the post-update rollouts, as a function of the pre-update ``params``."""
    adapted = adapt_params(policy, params, pre, c.inner_lr)
    obs, actions, masks, advantages, logp_old = post
    ratio = (log_prob(policy, adapted, obs, actions, masks) - logp_old).exp()
    return -torch.min(ratio * advantages, ratio.clamp(1 - c.clip, 1 + c.clip) * advantages).mean()


def meta_loss(
    policy: Policy,
    params: Params,
    tasks: list[tuple[list[TaskBatch], TaskBatch]],
    c: Config,
    use_vmap: bool,
) -> torch.Tensor:
    """Mean outer loss over tasks: looped, or vmapped over the task dimension (equal shapes)."""
    if not use_vmap:
        losses = [outer_loss(policy, params, [b.as_tuple() for b in pre], post.as_tuple(), c) for pre, post in tasks]
        return torch.stack(losses).mean()
    steps = len(tasks[0][0])
    pre_stacked = [
        tuple(torch.stack(parts) for parts in zip(*(t[0][k].as_tuple() for t in tasks), strict=True))
        for k in range(steps)
    ]
    post_stacked = tuple(torch.stack(parts) for parts in zip(*(t[1].as_tuple() for t in tasks), strict=True))

    def one(pre: list[tuple[torch.Tensor, ...]], post: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return outer_loss(policy, params, pre, post, c)

    return vmap(one)(pre_stacked, post_stacked).mean()


# --------------------------------------------------------------------------------------------
# sampling and advantages
# --------------------------------------------------------------------------------------------


def _features(obs: np.ndarray, times: np.ndarray) -> np.ndarray:
    """rllab's LinearFeatureBaseline features of rows of observations at episode steps."""
    o = obs.astype(np.float64)
    if o.shape[1] > BASELINE_MAX_OBS:  # boards: a fixed random projection keeps the solve small
        o = o @ np.random.default_rng(0).normal(size=(o.shape[1], BASELINE_MAX_OBS)) / np.sqrt(o.shape[1])
    tt = times.reshape(-1, 1).astype(np.float64) / 100.0
    return np.concatenate([o, o**2, tt, tt**2, tt**3, np.ones_like(tt)], axis=1)


def _fit(features: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    for _ in range(5):  # rllab raises the regulariser until the solve is finite
        w = np.linalg.solve(features.T @ features + ridge * np.eye(features.shape[1]), features.T @ target)
        if np.all(np.isfinite(w)):
            return w
        ridge *= 10
    return np.zeros(features.shape[1])


def linear_baseline_advantages(
    obs: np.ndarray,
    next_obs: np.ndarray,
    rewards: np.ndarray,
    terminated: np.ndarray,
    cut: np.ndarray,
    times: np.ndarray,
    alive: np.ndarray,
    gamma: float,
    ridge: float,
) -> np.ndarray:
    """Returns-to-go minus a linear feature baseline fitted to them (Duan et al. 2016), over the
    ``alive`` steps; all ``[S, N]`` (``obs``, ``next_obs``: ``[S, N, D]``).

    ``cut`` marks an episode's last step where it did not terminate (the time limit, or the end
    of the collection): its return is bootstrapped from the baseline's value of the state it led
    to, with the baseline of a first fit, then fitted again. Normalised over the alive steps.
    """
    flat = alive.reshape(-1).astype(bool)
    features = _features(obs.reshape(-1, obs.shape[-1]), times)[flat]
    tail = np.zeros_like(rewards, dtype=np.float64)
    for _ in range(2):
        returns = np.zeros_like(rewards, dtype=np.float64)
        running = np.zeros(rewards.shape[1])
        for t in reversed(range(rewards.shape[0])):
            ended = terminated[t] | cut[t]
            running = rewards[t] + gamma * np.where(ended, tail[t], running)
            returns[t] = running
        target = returns.reshape(-1)[flat]
        w = _fit(features, target, ridge)
        value_next = _features(next_obs.reshape(-1, next_obs.shape[-1]), times + 1) @ w
        tail = np.where(cut, value_next.reshape(rewards.shape), 0.0)
    advantages = target - features @ w
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


@torch.no_grad()
def sample_episodes(
    env: BatchedEnv, policy: Policy, params: Params, c: Config, device: torch.device, seed: int
) -> TaskBatch | None:
    """One fresh whole episode per copy of ``env`` (reset first) with ``params``; None if the
    budget ended before every copy's episode did."""
    space = env.actions
    env.reset(seed=seed)
    n = env.n
    running = np.ones(n, dtype=bool)  # still in its first episode
    rows: dict[str, list[Any]] = {
        k: [] for k in ("obs", "act", "mask", "logp", "rew", "term", "cut", "t", "alive", "next")
    }
    for step_index in range(c.max_episode_steps):
        obs = torch.as_tensor(env.obs, device=device)
        if space.discrete:
            masks = torch.ones(n, space.size, dtype=torch.bool, device=device)
            if env.masks is not None:
                masks = torch.as_tensor(env.masks, device=device)
            logits = functional_call(policy, params, (obs,)).masked_fill(~masks, -1e9)
            actions = torch.distributions.Categorical(logits=logits).sample()
        else:
            masks = torch.ones(n, 1, dtype=torch.bool, device=device)
            mean = functional_call(policy, params, (obs,))
            actions = mean + params["log_std"].exp() * torch.randn_like(mean)
        rows["t"].append(env.episode_step.copy())
        try:
            step = env.step(space.to_env(actions.cpu().numpy(), n))
        except arena.BudgetExhausted:
            return None
        last = step_index == c.max_episode_steps - 1
        rows["obs"].append(obs)
        rows["act"].append(actions)
        rows["mask"].append(masks)
        rows["logp"].append(log_prob(policy, params, obs, actions, masks))
        rows["rew"].append(step.reward)
        rows["term"].append(step.terminated)
        rows["cut"].append(~step.terminated & (step.truncated | last))
        rows["alive"].append(running.copy())
        rows["next"].append(step.next_obs)
        running &= ~step.done
        if not running.any():
            break
        if env.exhausted:
            return None
    alive = np.stack(rows["alive"])
    advantages = linear_baseline_advantages(
        torch.stack(rows["obs"]).cpu().numpy(), np.stack(rows["next"]), np.stack(rows["rew"]),
        np.stack(rows["term"]), np.stack(rows["cut"]), np.stack(rows["t"]), alive, c.gamma, c.baseline_ridge,
    )  # fmt: skip
    keep = torch.as_tensor(alive.reshape(-1), device=device)
    return TaskBatch(
        obs=torch.stack(rows["obs"]).flatten(0, 1)[keep],
        actions=torch.stack(rows["act"]).flatten(0, 1)[keep],
        masks=torch.stack(rows["mask"]).flatten(0, 1)[keep],
        advantages=torch.as_tensor(advantages, dtype=torch.float32, device=device),
        logp_old=torch.stack(rows["logp"]).flatten(0, 1)[keep],
    )


# --------------------------------------------------------------------------------------------
# the agent
# --------------------------------------------------------------------------------------------


class MAML(arena.Agent):
    config = CONFIG
    num_envs = CONFIG.num_envs

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.device = pick_device(spec.device)
        self.actions = Actions(spec.action_space)
        self.policy = Policy(obs_size(spec.observation_space), self.actions, self.config.hidden).to(self.device)
        mode = self.config.vmap_tasks
        self.use_vmap = mode == "always" or (mode == "auto" and self.device.type == "cuda")
        self.adapted: Params = self._params()
        self.generator = torch.Generator(device=self.device).manual_seed(spec.seed)  # evaluation's sampling

    def _params(self) -> Params:
        return {k: v.detach() for k, v in self.policy.named_parameters()}

    def _inner(self, params: Params, batch: TaskBatch) -> Params:
        """A numeric inner step (no graph kept): for sampling with ``theta'`` and for trials."""
        with torch.enable_grad():
            out = adapt_params(self.policy, params, [batch.as_tuple()], self.config.inner_lr)
        return {k: v.detach() for k, v in out.items()}

    # -- meta-training ---------------------------------------------------------------------------

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.outer_lr)
        for iteration in itertools.count():
            batch: list[tuple[list[TaskBatch], TaskBatch]] = []
            theta = self._params()
            for i in range(c.meta_batch):
                seed = self.spec.seed + 1000 * iteration + 10 * i
                try:
                    env = BatchedEnv(tasks.sample(num_envs=c.num_envs))
                except arena.BudgetExhausted:
                    break
                try:
                    pre: list[TaskBatch] = []
                    params = theta
                    for k in range(c.inner_steps):
                        data = sample_episodes(env, self.policy, params, c, self.device, seed + k)
                        if data is None:
                            break
                        pre.append(data)
                        params = self._inner(params, data)
                    post = (
                        sample_episodes(env, self.policy, params, c, self.device, seed + 9)
                        if len(pre) == c.inner_steps
                        else None
                    )
                except arena.BudgetExhausted:
                    post = None
                finally:
                    env.close()
                if post is None:
                    break  # the budget ended inside this task: drop it, and stop
                batch.append((pre, post))
            if batch:
                self._outer_update(optimizer, batch)
            if len(batch) < c.meta_batch:
                return

    def _outer_update(self, optimizer: torch.optim.Optimizer, batch: list[tuple[list[TaskBatch], TaskBatch]]) -> None:
        c = self.config
        params = dict(self.policy.named_parameters())
        for _ in range(c.outer_epochs):
            loss = self._meta_loss(params, batch)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm)
            optimizer.step()

    def _meta_loss(self, params: Params, batch: list[tuple[list[TaskBatch], TaskBatch]]) -> torch.Tensor:
        shapes = {tuple(b.obs.shape[0] for b in (*pre, post)) for pre, post in batch}
        if self.use_vmap and len(shapes) == 1:  # vmap needs one shape: episodes of equal lengths
            try:
                return meta_loss(self.policy, params, batch, self.config, use_vmap=True)
            except (RuntimeError, NotImplementedError) as exc:  # an op without a batching rule here
                warnings.warn(f"maml: vmapped tasks failed ({exc}); looping over tasks", RuntimeWarning, stacklevel=2)
                self.use_vmap = False
        return meta_loss(self.policy, params, batch, self.config, use_vmap=False)

    def save(self, path: Path) -> None:
        torch.save({k: v.cpu() for k, v in self.policy.state_dict().items()}, Path(path) / "maml.pt")

    def load(self, path: Path) -> None:
        self.policy.load_state_dict(torch.load(Path(path) / "maml.pt", weights_only=True, map_location=self.device))
        self.adapted = self._params()

    # -- a trial: the budget buys the inner loop's rollouts ---------------------------------------

    def adapt(self, env: Any) -> None:
        """Inner steps of one whole episode per copy each, while the budget pays for another."""
        c = self.config
        benv = BatchedEnv(env)
        budget = self.spec.budget_steps
        params = self._params()
        for k in range(c.max_test_inner_steps):
            spent = benv.steps
            data = sample_episodes(benv, self.policy, params, c, self.device, self.spec.seed + k)
            if data is None:
                return  # the budget ended inside the episodes: no step on a partial batch
            params = self._inner(params, data)
            self.adapted = params
            cost = benv.steps - spent
            if budget - benv.steps < cost:
                return

    @torch.no_grad()
    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = torch.as_tensor(flatten_obs(self.spec.observation_space, observation, 1), device=self.device)
        out = functional_call(self.policy, self.adapted, (obs,))
        if not self.actions.discrete:
            return self.actions.one(out.cpu().numpy())  # the Gaussian's mean
        mask = read_masks(info, 1, self.actions.size, vector=False)
        if mask is not None:
            out = out.masked_fill(~torch.as_tensor(mask, device=self.device), -1e9)
        action = torch.multinomial(torch.softmax(out, -1), 1, generator=self.generator).squeeze(-1)
        return self.actions.one(action.cpu().numpy())
