"""Asynchronous advantage actor-critic (Mnih et al. 2016), with Hogwild updates: ``a3c``.

In the paper each actor-learner thread owns an env, copies the shared parameters ``theta`` into
its local ``theta'``, acts ``t_max`` steps (or to the episode's end) with ``theta'``, computes the
n-step advantage actor-critic gradient at ``theta'`` and applies it to the shared ``theta`` with
a shared RMSProp, without locks (Hogwild, Recht et al. 2011), while the other actor-learners go
on acting and updating.

Here only the agent's process may talk to the harness, so the actor-learners are split in two:

* **actors** live in the agent process. The agent asks for ``num_actors`` copies of the variant
  (one Gymnasium vector env, one message per step for all of them); actor ``i`` owns copy ``i``
  and a local snapshot ``theta'_i`` of the shared parameters, taken at the start of each of its
  segments, and samples its actions from that snapshot. Segments end after ``t_max`` steps or at
  an episode's end, and the actors' segment boundaries are staggered, so their segments finish
  at different steps, as independent threads' would.
* **learners** are ``num_actors`` ``torch.multiprocessing`` processes, one per actor. A finished
  segment goes to its actor's learner with the snapshot it was acted with. The learner loads the
  snapshot into its local model, computes the n-step returns (bootstrapped with ``V_theta'``
  unless the episode terminated), the policy-gradient, value and entropy losses and their
  gradient, clips it, and applies it to the shared parameters in shared memory with a shared
  RMSProp (statistics in shared memory too, initialised at one as in the TF/SB3 RMSProp), with
  no lock. The learning rate is annealed linearly to zero over the budget, as in the paper.

So gradients are computed on exactly the parameters that produced the segment and applied,
stale, to parameters other learners keep changing: the asynchrony of A3C, with real concurrent
writers. The agent process never waits for a learner unless one falls a pipe's worth of
messages behind. Every step of every copy counts against the trial's one budget.

Processes are forked (``spawn`` where fork is unavailable) and ask the kernel to kill them with
their parent; messages are plain numpy arrays, never tensors, so no file descriptors travel. If
processes cannot be started (resource limits), the learners run as threads: torch releases the
GIL inside its kernels, so their Hogwild updates still overlap. Evaluation is greedy on the
shared model. Hyperparameters: the paper's ``t_max = 5``, shared RMSProp and entropy bonus 0.01;
learning rate, RMSProp constants, value coefficient and gradient clipping from SB3's A2C
defaults (which follow OpenAI Baselines' A2C/A3C).
"""

from __future__ import annotations

import ctypes
import queue
import threading
import traceback
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import arena
from baselines.common import Actions, ActorCritic, BatchedEnv, flatten_obs, init_torch, obs_size, read_masks


@dataclass(frozen=True)
class Config:
    num_actors: int = 4  # env copies and learner processes
    backend: str = "processes"  # "processes" or "threads" (processes fall back to threads if they can't start)
    t_max: int = 5  # the paper's n-step segment length
    gamma: float = 0.99
    lr: float = 7e-4  # annealed linearly to 0 over the budget
    rms_alpha: float = 0.99
    rms_eps: float = 1e-5
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    join_seconds: float = 10.0  # how long the learners may take to drain their queues at the end


CONFIG = Config()


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except OSError:
        pass


def learner(
    rank: int,
    shared: ActorCritic,
    square_avg: list[torch.Tensor],
    inbox: Any,
    errors: Any,
    action_space: gym.Space[Any],
    obs_dim: int,
    config: dict[str, Any],
    in_process: bool,
) -> None:
    """One learner: segments in, Hogwild RMSProp updates of the shared parameters out."""
    try:
        c = Config(**config)
        if in_process:
            _die_with_parent()
            torch.set_num_threads(1)
        local = ActorCritic(obs_dim, Actions(action_space), c.hidden)
        params = list(local.parameters())
        while True:
            message = inbox.get()
            if message is None:
                return
            snapshot, obs, actions, rewards, masks, last_obs, bootstrap, lr = message
            with torch.no_grad():
                vector_to_parameters(torch.from_numpy(snapshot), params)
            obs_t = torch.from_numpy(obs)
            with torch.no_grad():
                running = local.value(torch.from_numpy(last_obs)[None])[0] if bootstrap else torch.zeros(())
            returns = torch.zeros(len(rewards))
            for t in reversed(range(len(rewards))):
                running = float(rewards[t]) + c.gamma * running
                returns[t] = running
            dist = local.dist(obs_t, None if masks is None else torch.from_numpy(masks))
            values = local.value(obs_t)
            advantages = returns - values
            loss = (
                -(dist.log_prob(torch.from_numpy(actions)) * advantages.detach()).mean()
                + c.vf_coef * advantages.pow(2).mean()
                - c.ent_coef * dist.entropy().mean()
            )
            local.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, c.max_grad_norm)
            with torch.no_grad():  # Hogwild: no lock around the shared writes
                for p, local_p, avg in zip(shared.parameters(), params, square_avg, strict=True):
                    g = local_p.grad
                    avg.mul_(c.rms_alpha).addcmul_(g, g, value=1 - c.rms_alpha)
                    p.addcdiv_(g, avg.sqrt().add_(c.rms_eps), value=-lr)
    except Exception:
        errors.put(f"a3c learner {rank}: {traceback.format_exc()}")


class A3C(arena.Agent):
    config = CONFIG
    num_envs = CONFIG.num_actors

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        init_torch(spec.seed)
        self.actions = Actions(spec.action_space)
        self.obs_dim = obs_size(spec.observation_space)
        self.shared = ActorCritic(self.obs_dim, self.actions, self.config.hidden)
        self.shared.share_memory()
        self.square_avg = [torch.ones_like(p).share_memory_() for p in self.shared.parameters()]
        self.learners: list[Any] = []
        self.inboxes: list[Any] = []
        self.errors: Any = None
        self.learner_pids: list[int] = []  # of the last adaptation's learner processes (empty: threads)

    # -- learners --------------------------------------------------------------------------------

    def _start_learners(self) -> None:
        c = self.config
        if c.backend == "processes":
            try:
                method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
                ctx = mp.get_context(method)
                self.errors = ctx.SimpleQueue()
                self.inboxes = [ctx.SimpleQueue() for _ in range(c.num_actors)]
                for rank in range(c.num_actors):
                    proc = ctx.Process(target=learner, args=self._learner_args(rank, in_process=True), daemon=True)
                    proc.start()
                    self.learners.append(proc)
                self.learner_pids = [proc.pid for proc in self.learners]
                return
            except OSError:  # process or file limits: learn in threads instead
                self._stop_learners(graceful=False)
        self.errors = queue.SimpleQueue()
        self.inboxes = [queue.SimpleQueue() for _ in range(c.num_actors)]
        self.learner_pids = []
        for rank in range(c.num_actors):
            thread = threading.Thread(target=learner, args=self._learner_args(rank, in_process=False), daemon=True)
            thread.start()
            self.learners.append(thread)

    def _learner_args(self, rank: int, in_process: bool) -> tuple[Any, ...]:
        return (
            rank,
            self.shared,
            self.square_avg,
            self.inboxes[rank],
            self.errors,
            self.spec.action_space,
            self.obs_dim,
            asdict(self.config),
            in_process,
        )

    def _check_learners(self) -> None:
        if self.errors is not None and not self.errors.empty():
            raise RuntimeError(self.errors.get())
        for worker in self.learners:
            if not worker.is_alive():
                raise RuntimeError(
                    f"an a3c learner stopped unexpectedly (exit code {getattr(worker, 'exitcode', None)})"
                )

    def _stop_learners(self, graceful: bool) -> None:
        for inbox, worker in zip(self.inboxes, self.learners, strict=False):
            if graceful and worker.is_alive():
                inbox.put(None)
        for worker in self.learners:
            worker.join(self.config.join_seconds if graceful else 0.1)
            if hasattr(worker, "terminate") and worker.is_alive():
                worker.terminate()
                worker.join(1.0)
        for inbox in self.inboxes:
            if hasattr(inbox, "close"):
                inbox.close()
        self.learners, self.inboxes = [], []
        if self.errors is not None and not self.errors.empty():
            message = self.errors.get()
            self.errors = None
            if graceful:
                raise RuntimeError(message)

    # -- a trial ---------------------------------------------------------------------------------

    def adapt(self, env: Any) -> None:
        c = self.config
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        n = benv.n
        budget = max(1, self.spec.budget_steps)
        self._start_learners()
        graceful = False
        try:
            local = [ActorCritic(self.obs_dim, self.actions, c.hidden) for _ in range(n)]
            snapshots = [self._sync(model) for model in local]
            segments: list[list[tuple[Any, ...]]] = [[] for _ in range(n)]
            # staggered first segments: actor i's boundaries are offset by i * t_max / n steps
            targets = [c.t_max - (i * c.t_max) // n for i in range(n)]
            lr = c.lr
            while True:
                chosen = []
                with torch.no_grad():
                    for i in range(n):
                        mask = None if benv.masks is None else torch.as_tensor(benv.masks[i : i + 1])
                        chosen.append(local[i].dist(torch.as_tensor(benv.obs[i : i + 1]), mask).sample()[0])
                actions = torch.stack(chosen).numpy()
                obs, masks = benv.obs.copy(), None if benv.masks is None else benv.masks.copy()
                try:
                    step = benv.step(self.actions.to_env(actions, n))
                except arena.BudgetExhausted:
                    break
                lr = c.lr * max(0.0, 1.0 - benv.steps / budget)
                for i in range(n):
                    segments[i].append((obs[i], actions[i], step.reward[i], None if masks is None else masks[i]))
                    if step.done[i] or len(segments[i]) >= targets[i]:
                        self._send(i, snapshots[i], segments[i], step.next_obs[i], not step.terminated[i], lr)
                        segments[i], targets[i] = [], c.t_max
                        snapshots[i] = self._sync(local[i])
                if benv.exhausted:
                    break
            for i in range(n):  # what the budget cut short is a valid, bootstrapped segment too
                if segments[i]:
                    self._send(i, snapshots[i], segments[i], benv.obs[i], True, lr)
            graceful = True
        finally:
            self._stop_learners(graceful)

    def _sync(self, model: ActorCritic) -> np.ndarray:
        """theta'_i <- theta: a copy of the shared parameters, loaded into actor i's model."""
        snapshot = parameters_to_vector(self.shared.parameters()).detach().clone()
        vector_to_parameters(snapshot, model.parameters())
        return snapshot.numpy()

    def _send(
        self,
        i: int,
        snapshot: np.ndarray,
        segment: list[tuple[Any, ...]],
        last_obs: np.ndarray,
        bootstrap: bool,
        lr: float,
    ) -> None:
        self._check_learners()
        obs = np.stack([s[0] for s in segment]).astype(np.float32)
        actions = np.stack([s[1] for s in segment])
        rewards = np.array([s[2] for s in segment], dtype=np.float32)
        masks = None if segment[0][3] is None else np.stack([s[3] for s in segment])
        self.inboxes[i].put(
            (snapshot, obs, actions, rewards, masks, np.asarray(last_obs, np.float32), bool(bootstrap), lr)
        )

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        obs = flatten_obs(self.spec.observation_space, observation, 1)
        mask = read_masks(info, 1, self.actions.size, vector=False) if self.actions.discrete else None
        return self.actions.one(np.asarray(self.shared.greedy(obs, mask)))
