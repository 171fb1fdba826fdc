"""RL² (Duan et al. 2016; Wang et al. 2016): a recurrent policy that learns to learn. ``rl2``.

A GRU policy (with a GRU critic of its own) sees, at every step, the observation, its previous
action (a zero vector before the first), the previous reward, and two flags: *new episode* and
*scored* (the trial's evaluation part, where the harness scores it). Its hidden state is kept
across the episodes of one variant, so what it has seen of the variant so far lives in its
activations; adapting to a new variant needs no gradient step at all.

Meta-training trials are shaped like the suite's evaluation trials. The agent spec says the
suite's adaptation budgets and its evaluation episodes, and a training trial is exactly such a
trial on a train variant: an adaptation phase of ``L`` steps (one of the suite's budgets, drawn
per batch), a fresh reset, then ``eval_episodes`` whole episodes, rewards visible throughout (as
``info["reward"]`` shows them to ``act``). On ``rl2-paper`` that is the paper's trial: n pulls
of one bandit, or n episodes of one MDP. Up to ``trials`` tasks (as many as leave the budget
``min_updates`` updates: fewer where trials are long) run side by side in one vector env of
independent train variants (``tasks.sample(n, independent=True)``; the env server steps the
meta-RL families in one numpy call where the suite asks for it), and their whole trials are one
PPO update: truncated BPTT over segments of ``segment`` steps, each epoch recomputing the GRU
from the hidden state stored at the segment's start, GAE cut only at the trial's end, with the
discount ``γ = 1 - 1/T`` for a trial of ``T`` steps (its effective horizon is the trial).

A trial through the harness plays the stochastic policy while adapting (updating only the hidden
state; the step after which the budget is spent ends it, with no step on an action never taken),
then evaluates, carrying the hidden state into and across the evaluation episodes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

import arena
from baselines.common import (
    Actions,
    BatchedEnv,
    flatten_obs,
    init_torch,
    masked_logits,
    obs_size,
    pick_device,
    read_masks,
)


@dataclass(frozen=True)
class Config:
    # The optimiser's settings are the RL² authors' own (their research code's PPOSGD: clip 0.1,
    # 5 epochs, Adam 1e-3, no entropy bonus, no gradient clipping to speak of): on rl2-paper's
    # bandit n=100 k=10 they reached in 4M steps what PPO's usual settings reached in 88M
    # (docs/reproducing.md, "The RL² authors' own recipe").
    trials: int = 1024  # at most, side by side per update, each on its own train variant
    min_updates: int = 40  # fewer trials per update where the budget would afford fewer updates
    min_trials: int = 16  # and never fewer than this (the first batch, which measures T, is this)
    max_batch_steps: int = 1 << 19  # fewer trials per update where trials are long (memory)
    hidden: int = 128  # units of each GRU (actor and critic); the paper's 256 makes 4x the checkpoint
    segment: int = 256  # truncated BPTT length, in steps
    gae_lambda: float = 0.3  # Duan et al.'s value for bandits: low-variance advantages
    lr: float = 1e-3
    epochs: int = 5
    minibatches: int = 8  # of whole sequences (trials), per epoch
    clip: float = 0.1
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 40.0
    max_trial_steps: int = 25_000  # adaptation phases beyond this are not trained on (memory)
    deterministic_eval: bool = False  # sampling is the learned algorithm's own exploration
    time_share: float = 0.9  # of the meta-training seconds, after which no new update starts


CONFIG = Config()
EXTRA_INPUTS = 3  # previous reward, new episode, scored


def batch_trials(c: Config, adapt_steps: int, eval_length: float | None, steps_left: int, total_steps: int) -> int:
    """Trials in the next update: as many as leave the whole budget ``min_updates`` updates,
    between ``min_trials`` and ``trials`` (and ``max_batch_steps``). A fixed count would give
    trials of 1,000 steps a handful of updates in a budget that gives 10-step trials hundreds.
    Before the first batch the evaluation phase's length is unknown: that batch is
    ``min_trials`` trials, and measures it. Never more trials than the steps left can finish."""
    length = max(1, int(adapt_steps + (eval_length or 1)))
    if eval_length is None:
        n = min(c.min_trials, c.trials)
    else:
        n = min(c.trials, max(c.min_trials, total_steps // (c.min_updates * length)), c.max_batch_steps // length)
    return int(min(max(1, n), steps_left // length))


class RecurrentPolicy(nn.Module):
    """Actor and critic, each an encoder and a GRU of its own: value targets of tens must not
    drown the policy's gradient in shared weights. The state is both GRUs' hidden states."""

    def __init__(self, obs_dim: int, actions: Actions, hidden: int):
        super().__init__()
        self.discrete = actions.discrete
        self.hidden = hidden
        self.state_size = 2 * hidden
        self.input_size = obs_dim + actions.size + EXTRA_INPUTS
        self.actor_encoder = nn.Sequential(nn.Linear(self.input_size, hidden), nn.Tanh())
        self.actor_gru = nn.GRU(hidden, hidden)
        self.pi = nn.Linear(hidden, actions.size)
        self.critic_encoder = nn.Sequential(nn.Linear(self.input_size, hidden), nn.Tanh())
        self.critic_gru = nn.GRU(hidden, hidden)
        self.v = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.pi.weight, 0.01)
        nn.init.zeros_(self.pi.bias)
        self.log_std = None if actions.discrete else nn.Parameter(torch.zeros(actions.size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` [T, N, in], ``h`` [1, N, 2H] -> policy outputs [T, N, A], values [T, N], last ``h``."""
        h_pi, h_v = h.split(self.hidden, dim=-1)
        out_pi, h_pi = self.actor_gru(self.actor_encoder(x), h_pi.contiguous())
        out_v, h_v = self.critic_gru(self.critic_encoder(x), h_v.contiguous())
        return self.pi(out_pi), self.v(out_v).squeeze(-1), torch.cat([h_pi, h_v], dim=-1)

    def actor(self, x: torch.Tensor, h_pi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy alone (what a trial needs): ``x`` [T, N, in], ``h_pi`` [1, N, H]."""
        out_pi, h_pi = self.actor_gru(self.actor_encoder(x), h_pi)
        return self.pi(out_pi), h_pi

    def dist(self, out: torch.Tensor, mask: torch.Tensor | None) -> Distribution:
        if self.discrete:
            return Categorical(logits=masked_logits(out, mask))
        assert self.log_std is not None
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)


class Inputs:
    """The network's input at a step: observation, previous action, previous reward, flags."""

    def __init__(self, actions: Actions, n: int):
        self.actions = actions
        self.n = n
        self.prev_action = np.zeros((n, actions.size), dtype=np.float32)  # no action yet: zeros
        self.prev_reward = np.zeros(n, dtype=np.float32)
        self.new_episode = np.ones(n, dtype=np.float32)

    def __call__(self, obs: np.ndarray, scored: float) -> np.ndarray:
        extra = np.stack([self.prev_reward, self.new_episode, np.full(self.n, scored, np.float32)], axis=1)
        return np.concatenate([obs, self.prev_action, extra], axis=1)

    def after(self, actions: np.ndarray, reward: np.ndarray, done: np.ndarray) -> None:
        self.prev_action = self.actions.features(actions, self.n)
        self.prev_reward = np.asarray(reward, dtype=np.float32).reshape(self.n)
        self.new_episode = np.asarray(done, dtype=np.float32).reshape(self.n)


@dataclass
class Trials:
    """One batch of trials, [T, N, ...]: inputs, actions, log-probabilities, values, rewards, and
    which steps belong to each copy's trial (a copy whose trial ended waits for the others)."""

    x: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    alive: torch.Tensor
    masks: torch.Tensor | None


class RL2(arena.Agent):
    config = CONFIG
    num_envs = 1  # a trial's adaptation is one stream of experience

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        self.device = pick_device(spec.device)
        self.actions = Actions(spec.action_space)
        self.obs_size = obs_size(spec.observation_space)
        self.policy = RecurrentPolicy(self.obs_size, self.actions, self.config.hidden).to(self.device)
        self._start_trial()

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    # -- meta-training ---------------------------------------------------------------------------

    def _trial_shape(self) -> tuple[int, int]:
        """(adaptation steps, evaluation episodes) of the next batch of training trials."""
        budgets = [b for b in self.spec.adapt_budgets if b <= self.config.max_trial_steps] or [0]
        return int(self.rng.choice(budgets)), max(1, self.spec.eval_episodes or 1)

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.lr, eps=1e-5)
        expected_length: float | None = None  # of an evaluation phase, learned from the first batch
        # The step budget is the suite's; its seconds are a cap. On a slow machine stop in time
        # to save what was learned (the record says how many steps that was).
        stop_at = time.monotonic() + c.time_share * self.spec.budget_seconds if self.spec.budget_seconds else None
        total_steps = tasks.steps_left
        while stop_at is None or time.monotonic() < stop_at:
            adapt_steps, episodes = self._trial_shape()
            n = batch_trials(c, adapt_steps, expected_length, tasks.steps_left, total_steps)
            if n < 1:
                return
            try:
                env = BatchedEnv(tasks.sample(num_envs=n, independent=True))
            except arena.BudgetExhausted:
                return
            try:
                trials = self._collect(env, adapt_steps, episodes)
            except arena.BudgetExhausted:
                return  # the budget ended inside a trial: a partial trial teaches the wrong horizon
            finally:
                env.close()
            expected_length = float(trials.alive.sum(0).max().item()) - adapt_steps
            self._update(optimizer, trials)

    def _collect(self, env: BatchedEnv, adapt_steps: int, episodes: int) -> Trials:
        """One trial per copy: ``adapt_steps`` unscored steps, a reset, ``episodes`` scored episodes."""
        n = env.n
        env.reset(seed=int(self.rng.integers(2**31)))
        inputs = Inputs(self.actions, n)
        h = torch.zeros(1, n, self.policy.state_size, device=self.device)
        rows: dict[str, list[Any]] = {k: [] for k in ("x", "a", "logp", "v", "r", "alive", "mask")}
        alive = np.ones(n, dtype=np.float32)
        left = np.full(n, episodes)
        for t in itertools.count():  # until every copy's trial has ended
            if t == adapt_steps and adapt_steps > 0:
                env.reset()  # evaluation starts with fresh episodes of the same variants
                inputs.new_episode[:] = 1.0
            scored = 1.0 if t >= adapt_steps else 0.0
            x = self._tensor(inputs(env.obs, scored))
            mask = None if env.masks is None else self._tensor(env.masks)
            with torch.no_grad():
                out, value, h = self.policy(x[None], h)
                dist = self.policy.dist(out[0], mask)
                action = dist.sample()
            step = env.step(self.actions.to_env(action.cpu().numpy(), n))
            for key, item in (("x", x), ("a", action), ("logp", dist.log_prob(action)), ("v", value[0])):
                rows[key].append(item)
            rows["r"].append(self._tensor(step.reward))
            rows["alive"].append(self._tensor(alive.copy()))
            rows["mask"].append(mask)
            inputs.after(action.cpu().numpy(), step.reward, step.done)
            if t >= adapt_steps:
                left = left - step.done
                alive = alive * (left > 0)
                if not alive.any():
                    break
        masks = None if any(m is None for m in rows["mask"]) else torch.stack(rows["mask"])
        return Trials(
            torch.stack(rows["x"]), torch.stack(rows["a"]), torch.stack(rows["logp"]), torch.stack(rows["v"]),
            torch.stack(rows["r"]), torch.stack(rows["alive"]), masks,
        )  # fmt: skip

    def _update(self, optimizer: torch.optim.Optimizer, trials: Trials) -> None:
        """PPO over whole trials: GAE with ``γ = 1 - 1/T`` cut at each trial's end, truncated BPTT."""
        c = self.config
        length = float(trials.alive.sum(0).max().item())
        gamma = 1.0 - 1.0 / max(2.0, length)
        rewards, values, alive = trials.rewards * trials.alive, trials.values, trials.alive
        advantages = torch.zeros_like(rewards)
        running = torch.zeros_like(rewards[0])
        next_value = torch.zeros_like(values[0])  # a trial's end: nothing follows
        for t in reversed(range(rewards.shape[0])):
            live_next = alive[t + 1] if t + 1 < rewards.shape[0] else torch.zeros_like(alive[t])
            delta = rewards[t] + gamma * next_value * live_next - values[t]
            running = delta + gamma * c.gae_lambda * live_next * running
            advantages[t] = running * alive[t]
            next_value = values[t]
        returns = advantages + values
        weight = alive.sum().clamp(min=1.0)
        mean = (advantages * alive).sum() / weight
        std = (((advantages - mean) * alive).pow(2).sum() / weight).sqrt()
        normalized = (advantages - mean) / (std + 1e-8)
        steps, n = rewards.shape
        scale = returns.abs().mul(alive).sum() / weight + 1.0  # value targets of any size: one scale
        for _ in range(c.epochs):
            for idx in torch.randperm(n, device=self.device).chunk(min(c.minibatches, n)):
                h = torch.zeros(1, len(idx), self.policy.state_size, device=self.device)
                for begin in range(0, steps, c.segment):
                    end = min(steps, begin + c.segment)
                    live = alive[begin:end, idx]
                    if not bool(live.any()):
                        break
                    out, value, h = self.policy(trials.x[begin:end, idx], h.detach())
                    masks = None if trials.masks is None else trials.masks[begin:end, idx]
                    dist = self.policy.dist(out, masks)
                    ratio = (dist.log_prob(trials.actions[begin:end, idx]) - trials.logp[begin:end, idx]).exp()
                    adv = normalized[begin:end, idx]
                    surrogate = torch.min(ratio * adv, ratio.clamp(1 - c.clip, 1 + c.clip) * adv)
                    value_loss = ((value - returns[begin:end, idx]) / scale).pow(2)
                    total = live.sum().clamp(min=1.0)
                    loss = (
                        -(surrogate * live).sum() / total
                        + c.vf_coef * (value_loss * live).sum() / total
                        - c.ent_coef * (dist.entropy() * live).sum() / total
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm)
                    optimizer.step()

    def save(self, path: Path) -> None:
        """The actor only, in float16: all a trial plays with, and ~100 KB a cell (checkpoints are
        committed). The evaluated policy is the one loaded from here, rounding included."""
        actor = {k: v.cpu().half() for k, v in self.policy.state_dict().items() if not k.startswith("critic")}
        torch.save(actor, Path(path) / "rl2.pt")

    def load(self, path: Path) -> None:
        state = torch.load(Path(path) / "rl2.pt", weights_only=True, map_location=self.device)
        missing, unexpected = self.policy.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        if unexpected or any(not k.startswith("critic") for k in missing):
            raise ValueError(f"not an RL² checkpoint of this shape: missing {missing}, unexpected {unexpected}")

    # -- a trial: adaptation is in the hidden state ----------------------------------------------

    def _start_trial(self) -> None:
        self.h = torch.zeros(1, 1, self.policy.hidden, device=self.device)  # the actor's
        self.inputs = Inputs(self.actions, 1)

    @torch.no_grad()
    def _step(self, obs: np.ndarray, scored: float, mask: np.ndarray | None, greedy: bool) -> np.ndarray:
        x = self._tensor(self.inputs(obs, scored))
        out, self.h = self.policy.actor(x[None], self.h)
        legal = None if mask is None else self._tensor(mask)
        if greedy and self.actions.discrete:
            return masked_logits(out[0], legal).argmax(-1).cpu().numpy()
        if greedy:
            return out[0].cpu().numpy()
        return self.policy.dist(out[0], legal).sample().cpu().numpy()

    def adapt(self, env: Any) -> None:
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        self._start_trial()
        while not benv.exhausted:
            action = self._step(benv.obs, 0.0, benv.masks, greedy=False)
            try:
                step = benv.step(self.actions.to_env(action, 1))
            except arena.BudgetExhausted:
                return
            # After the step the budget ends on, BatchedEnv's reset is refused and the loop
            # ends: the hidden state never takes a step on an action that was not played.
            self.inputs.after(action, step.reward, step.done)

    def reset(self) -> None:
        self.inputs.new_episode = np.ones(1, np.float32)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = flatten_obs(self.spec.observation_space, observation, 1)
        mask = read_masks(info, 1, self.actions.size, vector=False) if self.actions.discrete else None
        if "reward" in info:  # what the previous action earned (absent on evaluation's first call)
            self.inputs.prev_reward = np.array([float(info["reward"])], np.float32)
        action = self._step(obs, 1.0, mask, greedy=self.config.deterministic_eval)
        self.inputs.prev_action = self.actions.features(action, 1)
        self.inputs.new_episode = np.zeros(1, np.float32)
        return self.actions.one(action)
