"""MAML for policy gradients (Finn, Abbeel & Levine 2017): ``maml``.

The policy's parameters ``theta`` are meta-learned so that a few vanilla policy-gradient steps
on a new variant give a good policy there.

Inner loop (per task, ``inner_steps`` times): sample ``rollout_steps`` env steps with the current
parameters, estimate advantages with a linear feature baseline fitted to the returns (as in
the paper's rllab code: features ``[o, o^2, t, t^2, t^3, 1]``), and take one step of plain
REINFORCE: ``theta' = theta - alpha * grad_theta L_in(theta)``, with
``L_in = -mean(log pi(a|s) * A)``.

Outer loop: for a batch of ``meta_batch`` train variants, sample post-update rollouts with
``theta'_i`` and maximise their return as a function of ``theta``, differentiating *through* the
inner step (second-order: the Hessian-vector terms of ``d theta' / d theta`` are kept). The outer
step is PPO-style, as in ProMP's "MAML with PPO": ``outer_epochs`` Adam steps on the clipped
surrogate ``min(r A, clip(r, 1 - eps, 1 + eps) A)``, ``r = pi_theta'(theta)(a|s) / pi_old(a|s)``,
recomputing ``theta'(theta)`` from the same pre-update data at every epoch. At the first epoch
``r = 1`` and the gradient is exactly MAML's.

Everything is written with ``torch.func``: ``functional_call`` runs the policy on any parameter
dict, ``torch.func.grad`` takes the inner gradient (differentiable by the outer autograd), and
on CUDA the tasks of a meta-batch are ``vmap``-ed into one batched computation. On the CPU (the
default) tasks are looped; if the vmapped path fails on some device, it falls back to the loop.

A trial spends its budget on the inner loop: ``k = clamp(budget // rollout_steps, 1,
max_test_inner_steps)`` inner steps of ``budget // k`` env steps each (Finn et al. also evaluate
with up to three inner steps after meta-training with one), then evaluates ``theta'``
greedily.
"""

from __future__ import annotations

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
    hidden: tuple[int, ...] = (64, 64)  # the paper: two layers of 100 ReLU units
    num_envs: int = 8  # copies of a variant stepped together
    meta_batch: int = 4  # tasks per outer update (the paper: 20-40)
    rollout_steps: int = 200  # env steps (all copies) per task per inner step (the paper: 20 episodes)
    inner_steps: int = 1  # during meta-training
    inner_lr: float = 0.1  # alpha (the paper's value for its RL experiments)
    outer_lr: float = 1e-3  # Adam
    outer_epochs: int = 5  # PPO-style epochs per meta-batch
    clip: float = 0.2
    max_grad_norm: float = 1.0
    gamma: float = 0.99
    baseline_ridge: float = 1e-5  # rllab's LinearFeatureBaseline reg_coeff
    max_test_inner_steps: int = 3
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


def linear_baseline_advantages(
    obs: np.ndarray, rewards: np.ndarray, dones: np.ndarray, times: np.ndarray, gamma: float, ridge: float
) -> np.ndarray:
    """Returns-to-go minus a linear feature baseline fitted to them (Duan et al. 2016); all ``[S, N]``.

    Episodes cut by the end of the batch are not bootstrapped (the paper's batches are whole
    episodes; here a batch is a fixed number of steps).
    """
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running * (1.0 - dones[t])
        returns[t] = running
    o = obs.reshape(-1, obs.shape[-1]).astype(np.float64)
    if o.shape[1] > BASELINE_MAX_OBS:  # boards: a fixed random projection keeps the solve small
        o = o @ np.random.default_rng(0).normal(size=(o.shape[1], BASELINE_MAX_OBS)) / np.sqrt(o.shape[1])
    tt = times.reshape(-1, 1).astype(np.float64) / 100.0
    features = np.concatenate([o, o**2, tt, tt**2, tt**3, np.ones_like(tt)], axis=1)
    target = returns.reshape(-1)
    reg = ridge
    for _ in range(5):  # rllab raises the regulariser until the solve is finite
        w = np.linalg.solve(features.T @ features + reg * np.eye(features.shape[1]), features.T @ target)
        if np.all(np.isfinite(w)):
            break
        reg *= 10
    advantages = target - features @ w
    return ((advantages - advantages.mean()) / (advantages.std() + 1e-8)).reshape(rewards.shape)


@torch.no_grad()
def sample(
    env: BatchedEnv, policy: Policy, params: Params, steps: int, c: Config, device: torch.device
) -> TaskBatch | None:
    """``steps`` vector steps with ``params``; None if the budget ended before ``steps`` were taken."""
    actions_space = env.actions
    obs_l, act_l, mask_l, logp_l, rew_l, done_l, time_l = [], [], [], [], [], [], []
    for _ in range(steps):
        obs = torch.as_tensor(env.obs, device=device)
        if actions_space.discrete:
            masks = torch.ones(env.n, actions_space.size, dtype=torch.bool, device=device)
            if env.masks is not None:
                masks = torch.as_tensor(env.masks, device=device)
            logits = functional_call(policy, params, (obs,)).masked_fill(~masks, -1e9)
            actions = torch.distributions.Categorical(logits=logits).sample()
        else:
            masks = torch.ones(env.n, 1, dtype=torch.bool, device=device)
            mean = functional_call(policy, params, (obs,))
            actions = mean + params["log_std"].exp() * torch.randn_like(mean)
        logp = log_prob(policy, params, obs, actions, masks)
        time_l.append(env.episode_step.copy())
        try:
            step = env.step(actions_space.to_env(actions.cpu().numpy(), env.n))
        except arena.BudgetExhausted:
            break
        obs_l.append(obs)
        act_l.append(actions)
        mask_l.append(masks)
        logp_l.append(logp)
        rew_l.append(step.reward)
        done_l.append(step.done.astype(np.float64))
        if env.exhausted:
            break
    if not obs_l:
        return None
    advantages = linear_baseline_advantages(
        torch.stack(obs_l).cpu().numpy(),
        np.stack(rew_l),
        np.stack(done_l),
        np.stack(time_l[: len(obs_l)]),
        c.gamma,
        c.baseline_ridge,
    )
    return TaskBatch(
        obs=torch.stack(obs_l).flatten(0, 1),
        actions=torch.stack(act_l).flatten(0, 1),
        masks=torch.stack(mask_l).flatten(0, 1),
        advantages=torch.as_tensor(advantages, dtype=torch.float32, device=device).flatten(0, 1),
        logp_old=torch.stack(logp_l).flatten(0, 1),
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
        steps = max(1, c.rollout_steps // c.num_envs)
        running, iteration = True, 0
        while running:
            batch: list[tuple[list[TaskBatch], TaskBatch]] = []
            theta = self._params()
            for i in range(c.meta_batch):
                try:
                    env = BatchedEnv(tasks.sample(num_envs=c.num_envs))
                    env.reset(seed=self.spec.seed + 1000 * iteration + i)
                except arena.BudgetExhausted:
                    running = False
                    break
                pre: list[TaskBatch] = []
                params = theta
                for _ in range(c.inner_steps):
                    data = sample(env, self.policy, params, steps, c, self.device)
                    if data is None or data.obs.shape[0] < steps * env.n:
                        break
                    pre.append(data)
                    params = self._inner(params, data)
                post = sample(env, self.policy, params, steps, c, self.device) if len(pre) == c.inner_steps else None
                env.close()
                if post is None or post.obs.shape[0] < steps * env.n:
                    running = False  # the budget ended inside this task: drop it
                    break
                batch.append((pre, post))
            if batch:
                self._outer_update(optimizer, batch)
            iteration += 1

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
        if self.use_vmap:
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
        c = self.config
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        budget = self.spec.budget_steps
        k = int(np.clip(budget // c.rollout_steps, 1, c.max_test_inner_steps))
        steps = max(1, budget // k // benv.n)
        params = self._params()
        for _ in range(k):
            data = sample(benv, self.policy, params, steps, c, self.device)
            if data is None:
                break
            params = self._inner(params, data)
            self.adapted = params
            if benv.exhausted or data.obs.shape[0] < steps * benv.n:
                break

    @torch.no_grad()
    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = torch.as_tensor(flatten_obs(self.spec.observation_space, observation, 1), device=self.device)
        out = functional_call(self.policy, self.adapted, (obs,))
        if not self.actions.discrete:
            return self.actions.one(out.cpu().numpy())
        mask = read_masks(info, 1, self.actions.size, vector=False)
        if mask is not None:
            out = out.masked_fill(~torch.as_tensor(mask, device=self.device), -1e9)
        return self.actions.one(out.argmax(-1).cpu().numpy())
