"""RL^2 (Duan et al. 2016; Wang et al. 2016): a recurrent policy that learns to learn. ``rl2``.

A GRU policy (with a GRU critic of its own) sees, at every step, the observation, its previous
action, the previous reward, and two flags: *reward visible* and *new episode*. Its hidden
state is kept across the episodes of one variant, so what it has seen of the variant so far
lives in its activations; adapting to a new variant needs no gradient step at all.

The harness's protocol shapes the training trials. A meta-training *trial* on one variant is an
adaptation phase of ``L`` steps (``L`` drawn per trial: 0 with probability ``zero_shot_prob``,
else uniform up to ``visible_steps_max``, like the suite's budgets), then the rest of that episode
and ``hidden_episodes`` more, like the evaluation episodes. Evaluation's ``act`` gets the previous
reward in ``info["reward"]``, so rewards stay visible throughout; ``hide_eval_rewards`` zeroes the
reward input (and its flag) after the adaptation phase instead, for a harness without it. The trial's return (both phases, not cut at episode ends, cut at
the trial's end) is maximised with PPO over whole sequences: truncated BPTT over segments of
``segment_steps``, each PPO epoch recomputing the GRU from the hidden state stored at the
segment's start. ``num_envs`` trials run side by side, each on its own sampled train variant
(one single-copy env each), and every trial starts on a fresh variant: a batch always mixes
variants, which is what makes the recurrent inputs worth using.

A trial plays the stochastic policy for the whole budget (updating only the hidden state), then
evaluates, carrying the hidden state into and across the evaluation episodes (``reset`` only
raises the new-episode flag).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

import arena
from baselines.common import Actions, BatchedEnv, Step, flatten_obs, init_torch, masked_logits, obs_size, read_masks


@dataclass(frozen=True)
class Config:
    num_envs: int = 8  # trials run side by side in meta-training, each on its own variant
    hidden: int = 64  # units of each GRU (actor and critic)
    visible_steps_max: int = 512  # longest reward-visible phase of a training trial
    zero_shot_prob: float = 0.25  # trials with no visible phase (a budget of 0)
    hidden_episodes: int = 1  # full reward-hidden episodes after the visible phase's last episode
    segment_steps: int = 128  # vector steps per PPO update (truncated BPTT length)
    gamma: float = 0.99
    gae_lambda: float = 0.3  # Duan et al.'s value for bandits: low-variance advantages
    lr: float = 1e-3
    epochs: int = 4
    minibatches: int = 4  # of whole sequences, per epoch
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hide_eval_rewards: bool = False  # True: zero the reward input after the visible phase
    deterministic_eval: bool = False  # sampling is the learned algorithm's own exploration


CONFIG = Config()


class RecurrentPolicy(nn.Module):
    """Actor and critic, each an encoder and a GRU of its own: value targets of tens must not
    drown the policy's gradient in shared weights. The state is both GRUs' hidden states."""

    def __init__(self, obs_dim: int, actions: Actions, hidden: int):
        super().__init__()
        self.discrete = actions.discrete
        self.hidden = hidden
        self.state_size = 2 * hidden
        self.input_size = obs_dim + actions.size + 3  # + previous reward, reward-visible, new-episode
        self.actor_encoder = nn.Sequential(nn.Linear(self.input_size, hidden), nn.Tanh())
        self.actor_gru = nn.GRU(hidden, hidden)
        self.pi = nn.Linear(hidden, actions.size)
        self.critic_encoder = nn.Sequential(nn.Linear(self.input_size, hidden), nn.Tanh())
        self.critic_gru = nn.GRU(hidden, hidden)
        self.v = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.pi.weight, 0.01)
        nn.init.zeros_(self.pi.bias)
        self.log_std = None if actions.discrete else nn.Parameter(torch.zeros(actions.size))

    def actor_parameters(self) -> list[nn.Parameter]:
        rest = [] if self.log_std is None else [self.log_std]
        return [*self.actor_encoder.parameters(), *self.actor_gru.parameters(), *self.pi.parameters(), *rest]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [*self.critic_encoder.parameters(), *self.critic_gru.parameters(), *self.v.parameters()]

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` [T, N, in], ``h`` [1, N, 2H] -> policy outputs [T, N, A], values [T, N], last ``h``."""
        h_pi, h_v = h.split(self.hidden, dim=-1)
        out_pi, h_pi = self.actor_gru(self.actor_encoder(x), h_pi.contiguous())
        out_v, h_v = self.critic_gru(self.critic_encoder(x), h_v.contiguous())
        return self.pi(out_pi), self.v(out_v).squeeze(-1), torch.cat([h_pi, h_v], dim=-1)

    def forward_resetting(self, x: torch.Tensor, h: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """As ``forward``, zeroing a copy's hidden state where ``starts`` [T, N] marks a new trial.

        The fused GRU runs over each stretch between the times at which some copy starts a trial.
        """
        cuts = [0, *(t for t in range(1, x.shape[0]) if bool(starts[t].any())), x.shape[0]]
        outs, values = [], []
        for begin, end in itertools.pairwise(cuts):
            h = h * (1.0 - starts[begin]).view(1, -1, 1)
            out, value, h = self.forward(x[begin:end], h)
            outs.append(out)
            values.append(value)
        return torch.cat(outs), torch.cat(values), h

    def dist(self, out: torch.Tensor, mask: torch.Tensor | None) -> Distribution:
        if self.discrete:
            return Categorical(logits=masked_logits(out, mask))
        assert self.log_std is not None
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)


class TrialSlots:
    """``n`` single-copy envs, each of its own train variant: one trial per variant, so that
    every batch mixes ``n`` variants (one vector env would give ``n`` copies of one)."""

    def __init__(self, tasks: arena.TaskSampler, n: int, seed: int):
        self.tasks = tasks
        self.seed = seed
        self.opened = 0
        self.envs: list[BatchedEnv] = []
        for _ in range(n):
            self.envs.append(self._open())

    def _open(self) -> BatchedEnv:
        env = BatchedEnv(self.tasks.sample(num_envs=1))
        env.reset(seed=self.seed + self.opened)
        self.opened += 1
        return env

    @property
    def obs(self) -> np.ndarray:
        return np.concatenate([env.obs for env in self.envs])

    @property
    def masks(self) -> np.ndarray | None:
        masks = [env.masks for env in self.envs]
        return None if any(m is None for m in masks) else np.concatenate(masks)  # type: ignore[arg-type]

    @property
    def exhausted(self) -> bool:
        return any(env.exhausted for env in self.envs)

    def step(self, env_actions: np.ndarray) -> Step:
        steps = [env.step(env_actions[i : i + 1]) for i, env in enumerate(self.envs)]
        return Step(
            *(np.concatenate([getattr(s, f) for s in steps]) for f in ("next_obs", "reward", "terminated", "truncated"))
        )

    def replace(self, i: int) -> None:
        self.envs[i].close()
        self.envs[i] = self._open()

    def close(self) -> None:
        for env in self.envs:
            env.close()


class RL2(arena.Agent):
    config = CONFIG
    num_envs = 1  # a trial's adaptation is one stream of experience

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        self.actions = Actions(spec.action_space)
        self.policy = RecurrentPolicy(obs_size(spec.observation_space), self.actions, self.config.hidden)
        self._start_trial()

    def _inputs(
        self,
        obs: np.ndarray,
        prev_action: np.ndarray,
        prev_reward: np.ndarray,
        visible: np.ndarray,
        new_episode: np.ndarray,
    ) -> torch.Tensor:
        n = obs.shape[0]
        extra = np.stack([prev_reward * visible, visible, new_episode], axis=1).astype(np.float32)
        return torch.as_tensor(np.concatenate([obs, self.actions.features(prev_action, n), extra], axis=1))

    def _no_action(self, n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.int64) if self.actions.discrete else np.zeros((n, self.actions.size), np.float32)

    # -- meta-training ---------------------------------------------------------------------------

    def _draw_visible(self, n: int) -> np.ndarray:
        c = self.config
        lengths = self.rng.integers(1, c.visible_steps_max + 1, size=n)
        return np.where(self.rng.random(n) < c.zero_shot_prob, 0, lengths)

    def _visible(self, visible_left: np.ndarray) -> np.ndarray:
        """The reward-visible flag per slot: always on, as in evaluation (``info["reward"]``),
        unless ``hide_eval_rewards`` trains for a harness that hides rewards after the budget."""
        if not self.config.hide_eval_rewards:
            return np.ones(len(visible_left), np.float32)
        return (visible_left > 0).astype(np.float32)

    def meta_train(self, tasks: arena.TaskSampler) -> None:
        c = self.config
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.lr)
        n = c.num_envs
        try:
            slots = TrialSlots(tasks, n, self.spec.seed)
        except arena.BudgetExhausted:
            return
        h = torch.zeros(1, n, self.policy.state_size)
        visible_left = self._draw_visible(n)
        hidden_left = np.full(n, -1)  # -1: the visible phase's last episode has not ended yet
        prev_action, prev_reward = self._no_action(n), np.zeros(n, np.float32)
        new_episode, trial_start = np.ones(n, np.float32), np.ones(n, np.float32)
        exhausted = False
        while not exhausted:
            h0 = h.detach()
            xs, acts, logps, vals, rews, ends, starts, masks = [], [], [], [], [], [], [], []
            for _ in range(c.segment_steps):
                x = self._inputs(slots.obs, prev_action, prev_reward, self._visible(visible_left), new_episode)
                mask = None if slots.masks is None else torch.as_tensor(slots.masks)
                with torch.no_grad():
                    h = h * (1.0 - torch.as_tensor(trial_start)).view(1, -1, 1)
                    out, value, h = self.policy(x[None], h)
                    dist = self.policy.dist(out[0], mask)
                    action = dist.sample()
                try:
                    step = slots.step(self.actions.to_env(action.numpy(), n))
                except arena.BudgetExhausted:
                    exhausted = True
                    break
                # where each slot's trial stands after this step
                trial_end = np.zeros(n, np.float32)
                visible_left = np.maximum(visible_left - 1, 0)
                for i in np.flatnonzero(step.done):
                    if visible_left[i] > 0:
                        continue
                    hidden_left[i] = c.hidden_episodes if hidden_left[i] < 0 else hidden_left[i] - 1
                    if hidden_left[i] <= 0:
                        trial_end[i] = 1.0
                xs.append(x)
                acts.append(action)
                logps.append(dist.log_prob(action))
                vals.append(value[0])
                rews.append(torch.as_tensor(step.reward))
                ends.append(torch.as_tensor(trial_end))
                starts.append(torch.as_tensor(trial_start))
                masks.append(mask)
                prev_action, prev_reward = action.numpy().copy(), step.reward.copy()
                new_episode = step.done.astype(np.float32)
                trial_start = trial_end
                try:
                    for i in np.flatnonzero(trial_end):  # the slot's next trial: a new variant, a fresh start
                        slots.replace(i)
                        visible_left[i] = self._draw_visible(1)[0]
                        hidden_left[i] = -1
                        prev_action[i] = self._no_action(1)[0]
                        prev_reward[i] = 0.0
                except arena.BudgetExhausted:
                    exhausted = True
                    break
                if slots.exhausted:
                    exhausted = True
                    break
            if xs:
                with torch.no_grad():
                    h_next = h * (1.0 - torch.as_tensor(trial_start)).view(1, -1, 1)
                    x = self._inputs(slots.obs, prev_action, prev_reward, self._visible(visible_left), new_episode)
                    _, last_value, _ = self.policy(x[None], h_next)
                self._update(
                    optimizer, h0, torch.stack(xs), torch.stack(acts), torch.stack(logps), torch.stack(vals),
                    torch.stack(rews), torch.stack(ends), torch.stack(starts), last_value[0],
                    None if any(m is None for m in masks) else torch.stack(masks),  # type: ignore[misc]
                )  # fmt: skip
        slots.close()

    def _update(
        self,
        optimizer: torch.optim.Optimizer,
        h0: torch.Tensor,
        x: torch.Tensor,
        actions: torch.Tensor,
        logp_old: torch.Tensor,
        values: torch.Tensor,
        rewards: torch.Tensor,
        trial_ends: torch.Tensor,
        trial_starts: torch.Tensor,
        last_value: torch.Tensor,
        masks: torch.Tensor | None,
    ) -> None:
        """PPO over the segment's sequences; advantages cut only where a trial ended."""
        c = self.config
        advantages = torch.zeros_like(rewards)
        running = torch.zeros_like(last_value)
        next_value = last_value
        for t in reversed(range(rewards.shape[0])):
            alive = 1.0 - trial_ends[t]
            delta = rewards[t] + c.gamma * next_value * alive - values[t]
            running = delta + c.gamma * c.gae_lambda * alive * running
            advantages[t] = running
            next_value = values[t]
        returns = advantages + values
        normalized = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        n = x.shape[1]
        for _ in range(c.epochs):
            for idx in torch.randperm(n).chunk(min(c.minibatches, n)):  # minibatches of whole sequences
                out, value, _ = self.policy.forward_resetting(x[:, idx], h0[:, idx], trial_starts[:, idx])
                dist = self.policy.dist(out, None if masks is None else masks[:, idx])
                ratio = (dist.log_prob(actions[:, idx]) - logp_old[:, idx]).exp()
                adv = normalized[:, idx]
                surrogate = torch.min(ratio * adv, ratio.clamp(1 - c.clip, 1 + c.clip) * adv).mean()
                value_loss = (value - returns[:, idx]).pow(2).mean()
                loss = -surrogate + c.vf_coef * value_loss - c.ent_coef * dist.entropy().mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.actor_parameters(), c.max_grad_norm)
                nn.utils.clip_grad_norm_(self.policy.critic_parameters(), c.max_grad_norm)
                optimizer.step()

    def save(self, path: Path) -> None:
        torch.save(self.policy.state_dict(), Path(path) / "rl2.pt")

    def load(self, path: Path) -> None:
        self.policy.load_state_dict(torch.load(Path(path) / "rl2.pt", weights_only=True))

    # -- a trial: adaptation is in the hidden state ----------------------------------------------

    def _start_trial(self) -> None:
        self.h = torch.zeros(1, 1, self.policy.state_size)
        self.prev_action = self._no_action(1)
        self.prev_reward = np.zeros(1, np.float32)
        self.new_episode = np.ones(1, np.float32)

    @torch.no_grad()
    def _step(self, obs: np.ndarray, visible: float, mask: np.ndarray | None, greedy: bool) -> np.ndarray:
        x = self._inputs(obs, self.prev_action, self.prev_reward, np.array([visible], np.float32), self.new_episode)
        out, _, self.h = self.policy(x[None], self.h)
        dist = self.policy.dist(out[0], None if mask is None else torch.as_tensor(mask))
        if not greedy:
            return dist.sample().numpy()
        if self.actions.discrete:
            return masked_logits(out[0], None if mask is None else torch.as_tensor(mask)).argmax(-1).numpy()
        return out[0].numpy()

    def adapt(self, env: Any) -> None:
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        self._start_trial()
        while True:
            action = self._step(benv.obs, 1.0, benv.masks, greedy=False)
            try:
                step = benv.step(self.actions.to_env(action, 1))
            except arena.BudgetExhausted:
                return
            self.prev_action, self.prev_reward = action.copy(), step.reward.copy()
            self.new_episode = step.done.astype(np.float32)

    def reset(self) -> None:
        self.new_episode = np.ones(1, np.float32)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = flatten_obs(self.spec.observation_space, observation, 1)
        mask = read_masks(info, 1, self.actions.size, vector=False) if self.actions.discrete else None
        if "reward" in info:  # what the previous action earned (absent on evaluation's first call)
            self.prev_reward = np.array([float(info["reward"])], np.float32)
        visible = 0.0 if self.config.hide_eval_rewards else 1.0
        action = self._step(obs, visible, mask, greedy=self.config.deterministic_eval)
        self.prev_action = action
        self.new_episode = np.zeros(1, np.float32)
        return self.actions.one(action)
