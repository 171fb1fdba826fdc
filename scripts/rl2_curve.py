"""RL²'s learning curve on one ``rl2-paper`` cell, past the suite's budget: steps -> score.

    python scripts/rl2_curve.py --family rl2_mdp_n10 --steps 16000000 [--tasks 500] [--out curve.json]
    python scripts/rl2_curve.py --family rl2_bandit_k5_n100 --checkpoint submissions/rl2/checkpoints/rl2-paper@1/rl2_bandit_k5_n100/seed-0 --tasks 1000
    python scripts/rl2_curve.py --family rl2_bandit_k5_n10 --steps 20000 --points 10000 --check 200

**Meta-training** runs in this process, without the sandbox (as ``scripts/gpu_demo.py``'s
in-process run does), through RL²'s own code: the agent is built from the spec that
``arena.harness.trial.run_meta_train`` gives it, with the seeds of the suite's meta-training run
(agent, train-variant sampler, env server), on ``cuda:0`` where there is one. Its train variants
come from the harness's :class:`~arena.harness.envserver.EnvServer` (batched as the suite asks),
which counts every step, through the proxies the agent process uses. The loop is
``RL2.meta_train``'s, written out so it can stop at each point: ``_trial_shape``, a batch of
``batch_trials`` trials (sized by the run's whole ``--steps``), ``_collect``, ``_update``, with one
Adam optimizer for the whole run. The steps left are counted to the next point, so the policy
scored at a point is what a suite budget of that many steps ends with, up to the batch size (a
run of ``--steps`` equal to the suite's budget is the suite's own run, up to the few extra small
batches of the points before it and the GPU's numerics).

**Scoring** at each point (1M, 2M, 4M, then every 4M by default): the same ``--tasks`` held-out
tasks every time, the first of the cell's dev variants (those ``arena reproduce rl2-paper``
scores, in its order), one trial each, played as ``agent._collect(env, 0, episodes)`` on one
vector env of those variants, with fixed seeds (the same env and sampling seeds at every point)
and the agent's own random state put back afterwards, so scoring never changes the training
run. A task's score is the trial's total reward: what ``arena.reproduce.trial_total`` counts.
This is what a harness trial of the cell scores: the suite's budget is 0, so the harness never
calls ``adapt`` and the whole trial is the evaluation, ``eval_episodes`` episodes (1 on bandit
cells, n on MDP cells) with the hidden state carried through; ``act`` then feeds the network
``scored = 1``, the reward of the previous action (across episode ends too: ``AgentHost.act``),
the previous action, and *new episode* at each reset, which are exactly the inputs
``_collect`` builds at ``adapt_steps = 0``. The policy is the stochastic one
(``deterministic_eval`` is off) with the actor rounded to float16 first, as ``save`` writes it
and the trial loads it. The two differ only in random numbers (env seeds, sampled actions):
``--check N`` plays N harness trials in this process (``arena.inprocess``, the reference a
sandboxed trial must equal) of the final policy on the first N tasks, with trial seed
``--check-seed``, and prints both means with their 95% intervals; ``--checkpoint DIR`` scores a
published checkpoint instead of training. One difference is not noise: every harness trial of
one trial seed builds its agent with the same seed (``TrialSeeds.agent`` derives from the trial
seed alone), so on a suite of ``seeds = 1`` the policy's samples of all tasks come from one
common random stream and the tasks' totals are not independent; here each task samples its own.

Prints a table (steps, score with its 95% CI over tasks (Student's t), training wall time,
steps/s) and writes ``--out`` (JSON) after every point. ``--seconds`` stops training in time
(one more point is scored where it stops); ``--state-out`` saves the whole run (weights, Adam,
random states, the sampler's position) and ``--resume`` continues it exactly. ``--set
FIELD=VALUE`` changes a field of RL²'s ``Config`` for this run (``hidden=256``, ``ent_coef=0``):
the questions the paper's settings raise, asked without touching ``baselines/rl2.py``, whose
hash the published checkpoints are tied to; the JSON records the whole config.

``--kl-line-search TARGET`` wraps each of RL²'s PPO updates in the guard of the RL² authors' own
optimiser (``PPOSGD`` with ``use_line_search=True`` in their research code, rllab's
``sandbox/rocky/neural_learner``, ``step_size = 0.01``): after the update, the mean KL divergence
of the new policy from the one that collected the batch, over every live step of the batch; while
it is above TARGET, the actor's weights are moved halfway back towards the old ones (at most 10
times). The critic keeps its update, and Adam its moments, as theirs do. Each point records how
many updates were shrunk and their mean KL.

``--normalize-values`` gives the critic the RL² authors' output scaling (their
``L2RNNBaseline``): its head predicts the return in units of running moments of the batches'
returns (``(R - mean) / std``, each moment moved 0.9 of the way to the new batch's before the
update) and the value is that prediction times ``std`` plus ``mean``. RL²'s own critic predicts
raw returns with a linear head (its loss is scaled, its output is not): values of ~10 on the
n = 10 bandits, of 100-2,000 on the long cells. The moments are the batch's discounted
reward-to-go (RL²'s ``γ``) over live steps, its own mean and spread.

``--authors-gru`` gives the actor and the critic the RL² authors' recurrent cell in place of
RL²'s tanh encoder and cuDNN GRU: rllab's ``GRULayer`` as their launchers ran it
(``hidden_nonlinearity = relu``, ``weight_normalization = True``), fed the step's inputs directly,
``c = relu(x W_xc + r * (h W_hc) + b_c)``, ``h = (1 - u) h + u c``, each weight matrix
weight-normalized per output unit (``w = g v / |v|``), Xavier-uniform initial ``v``, zero biases. A
ReLU cell's state is not squashed into [-1, 1]: sums over a trial's rewards need not saturate.
One step at a time in Python (no cuDNN kernel for it): slower per step than RL²'s GRU.

``--run N`` trains with the seeds of meta-training run N (agent, train-variant sampler, env
server) instead of the suite's run 0: the RL² authors trained five runs a cell and reported the
one with the highest mean training return over its last 50 batches. The JSON records every
update's training return (its batch's mean trial total) and the mean of the last quarter of them
(``train_return_last_quarter``), so runs of one cell can be chosen between as theirs were.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the agent process's setting (init_torch reads it)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Distribution, kl_divergence  # noqa: E402

import games  # noqa: E402
from arena.api import AgentSpec  # noqa: E402
from arena.harness.envserver import Budget, EnvServer  # noqa: E402
from arena.harness.trial import MetaTrainSeeds  # noqa: E402
from arena.inprocess import DirectRequests  # noqa: E402
from arena.reproduce import mean_interval  # noqa: E402
from arena.seeding import derive_seed  # noqa: E402
from arena.suites import Suite, load_suite  # noqa: E402
from arena.worker.host import seeded  # noqa: E402
from arena.worker.proxy import ProxyTaskSampler  # noqa: E402
from baselines.common import BatchedEnv  # noqa: E402
from baselines.rl2 import CONFIG, RL2, RecurrentPolicy, Trials, batch_trials  # noqa: E402

SUITE = "rl2-paper"
NO_LIMIT = 10**15  # the scoring server's budget: scoring is not meta-training


def meta_train_spec(
    suite: Suite, family: str, steps: int, device: str, run: int = 0
) -> tuple[AgentSpec, MetaTrainSeeds]:
    """The spec and seeds ``run_meta_train`` gives the agent of the suite's meta-training run
    ``run``. ``rl2-paper@1`` has one run (its seeds predate ``meta_train_seeds``); its run N ≥ 1
    here has the seeds run N of a version with ``meta_train_seeds`` > N would have."""
    seeds = MetaTrainSeeds.of(suite.id, family, run, legacy=not suite.meta_train_seeds and run == 0)
    spaces = games.make(games.Variant.of(family))
    spec = AgentSpec(
        observation_space=spaces.observation_space,
        action_space=spaces.action_space,
        family=family,
        seed=seeds.agent,
        device=device,
        budget_steps=steps,
        budget_seconds=0,  # no time cap: the points are in steps (the agent's own cap is unused here)
        adapt_budgets=suite.budgets,
        eval_episodes=suite.eval_episodes_of(family),
    )
    return seeded(spec), seeds


def resolve_device(name: str) -> str:
    """``--device``: ``auto`` is ``cuda:0`` where there is one, else ``cpu``."""
    return ("cuda:0" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def scoring_seed(family: str) -> int:
    """The seed every point of a cell is scored with (here and in ``rl2_scale.py``)."""
    return derive_seed("rl2-curve", family, "score")


def torch_random_states() -> dict[str, Any]:
    """torch's global random states (CPU and every GPU), as a run's saved state holds them."""
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_torch_random_states(saved: dict[str, Any]) -> None:
    torch.set_rng_state(saved["torch_rng"])
    if saved["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])


def trial_totals(trials: Trials) -> torch.Tensor:
    """Each trial's total reward over its live steps, [N]: what a task scores."""
    return (trials.rewards * trials.alive).sum(0)


class CountingVariants:
    """The suite's train-variant stream, counting what it yields (a resumed run skips as many)."""

    def __init__(self, suite: Suite, family: str, seed: int, skip: int = 0):
        self.stream = suite.train_sampler(family, seed=seed)
        self.drawn = 0
        for _ in range(skip):
            next(self)

    def __iter__(self) -> CountingVariants:
        return self

    def __next__(self) -> games.Variant:
        self.drawn += 1
        return next(self.stream)


class NormalizedValues(RecurrentPolicy):
    """RL²'s policy whose critic head predicts normalized returns (``--normalize-values``)."""

    critic_return_mean: torch.Tensor
    critic_return_std: torch.Tensor
    rate = 0.9  # the authors' moments_update_rate

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, value, h = super().forward(x, h)
        return out, value * self.critic_return_std + self.critic_return_mean, h

    def update_moments(self, trials: Trials) -> None:
        """Move the moments towards this batch's discounted returns, before the update fits them."""
        alive = trials.alive
        gamma = 1.0 - 1.0 / max(2.0, float(alive.sum(0).max().item()))
        rewards = trials.rewards * alive
        returns = torch.zeros_like(rewards)
        running = torch.zeros_like(rewards[0])
        for t in reversed(range(rewards.shape[0])):
            running = rewards[t] + gamma * running * (alive[t + 1] if t + 1 < rewards.shape[0] else 0.0)
            returns[t] = running
        weight = alive.sum().clamp(min=1.0)
        mean = (returns * alive).sum() / weight
        std = (((returns - mean) * alive).pow(2).sum() / weight).sqrt().clamp(min=1e-3)
        self.critic_return_mean.mul_(1 - self.rate).add_(self.rate * mean)
        self.critic_return_std.mul_(1 - self.rate).add_(self.rate * std)


def normalize_values(policy: RecurrentPolicy) -> None:
    """Make ``policy`` (in place) a :class:`NormalizedValues`, moments 0 and 1. The buffers' names
    start with ``critic`` so ``RL2.save`` leaves them out, as it does the critic."""
    device = next(policy.parameters()).device
    policy.__class__ = NormalizedValues
    policy.register_buffer("critic_return_mean", torch.zeros((), device=device))
    policy.register_buffer("critic_return_std", torch.ones((), device=device))


class AuthorsGRU(torch.nn.Module):
    """The RL² authors' GRU cell (``--authors-gru``) with ``nn.GRU``'s call: ``x`` [T, N, in],
    ``h`` [1, N, H] -> (outputs [T, N, H], last ``h`` [1, N, H]). Gates in the order r, u, c."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.vx = torch.nn.Parameter(torch.empty(3 * hidden, input_size))
        self.vh = torch.nn.Parameter(torch.empty(3 * hidden, hidden))
        for v, fan_in in ((self.vx, input_size), (self.vh, hidden)):
            bound = (6.0 / (fan_in + hidden)) ** 0.5  # Xavier per gate matrix, as rllab's xavier_init
            torch.nn.init.uniform_(v, -bound, bound)
        self.gx = torch.nn.Parameter(self.vx.detach().norm(dim=1))  # weight norm: starts at w = v
        self.gh = torch.nn.Parameter(self.vh.detach().norm(dim=1))
        self.b = torch.nn.Parameter(torch.zeros(3 * hidden))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wx = self.gx[:, None] * self.vx / self.vx.norm(dim=1, keepdim=True)
        wh = self.gh[:, None] * self.vh / self.vh.norm(dim=1, keepdim=True)
        gates_x = (x @ wx.T + self.b).split(self.hidden, dim=-1)  # every step's input part at once
        state, outputs = h[0], []
        for t in range(x.shape[0]):
            h_r, h_u, h_c = (state @ wh.T).split(self.hidden, dim=-1)
            r = torch.sigmoid(gates_x[0][t] + h_r)
            u = torch.sigmoid(gates_x[1][t] + h_u)
            c = torch.relu(gates_x[2][t] + r * h_c)
            state = (1 - u) * state + u * c
            outputs.append(state)
        return torch.stack(outputs), state[None]


def authors_gru(policy: RecurrentPolicy) -> None:
    """Give ``policy`` (in place) the authors' cells: no encoder, an :class:`AuthorsGRU` each for
    the actor and the critic, on the policy's device. Build the optimizer after this."""
    device = next(policy.parameters()).device
    for side in ("actor", "critic"):
        setattr(policy, f"{side}_encoder", torch.nn.Identity())
        setattr(policy, f"{side}_gru", AuthorsGRU(policy.input_size, policy.hidden).to(device))


@dataclasses.dataclass
class Run:
    """One meta-training run of RL² on a cell, driven batch by batch as ``RL2.meta_train`` does."""

    agent: RL2
    optimizer: torch.optim.Optimizer
    server: EnvServer
    variants: CountingVariants
    expected_length: float | None = None
    train_seconds: float = 0.0
    updates: int = 0
    kl_target: float | None = None  # --kl-line-search
    searched: list[tuple[float, int]] = dataclasses.field(
        default_factory=list
    )  # (KL kept, halvings) since the last point
    # each update's batch: its trials' mean total reward (the RL² authors pick a cell's run by these)
    train_returns: list[float] = dataclasses.field(default_factory=list)

    @property
    def steps(self) -> int:
        return self.server.steps_used

    def train_to(self, point: int, stop_at: float | None) -> bool:
        """Meta-train until ``point`` steps (a budget ending there); False if stopped by the clock."""
        agent = self.agent
        tasks = ProxyTaskSampler(DirectRequests(self.server), self.server.budget.steps)
        while True:
            if stop_at is not None and time.monotonic() >= stop_at:
                return False
            adapt_steps, episodes = agent._trial_shape()
            left = point - self.steps
            n = batch_trials(agent.config, adapt_steps, self.expected_length, left, self.server.budget.steps)
            if n < 1:
                return True
            started = time.monotonic()
            env = BatchedEnv(tasks.sample(num_envs=n, independent=True))
            try:
                trials = agent._collect(env, adapt_steps, episodes)
            finally:
                env.close()
            self.expected_length = float(trials.alive.sum(0).max().item()) - adapt_steps
            self.train_returns.append(round(float(trial_totals(trials).mean()), 4))
            if isinstance(agent.policy, NormalizedValues):
                agent.policy.update_moments(trials)
            if self.kl_target is None:
                agent._update(self.optimizer, trials)
            else:
                self.searched.append(kl_line_search(agent, self.optimizer, trials, self.kl_target))
            if agent.device.type == "cuda":
                torch.cuda.synchronize()
            self.train_seconds += time.monotonic() - started
            self.updates += 1

    def take_line_search(self) -> dict[str, Any]:
        """The line search's updates since the previous point: how many, how many shrunk, their mean KL."""
        searched, self.searched = self.searched, []
        mean_kl = round(sum(kl for kl, _ in searched) / len(searched), 5) if searched else None
        return {"updates": len(searched), "shrunk": sum(halvings > 0 for _, halvings in searched), "mean_kl": mean_kl}

    def state(self) -> dict[str, Any]:
        return {
            "policy": self.agent.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "agent_rng": self.agent.rng.bit_generator.state,
            **torch_random_states(),
            "steps": self.steps,
            "drawn": self.variants.drawn,
            "handles": self.server.next_handle,
            "expected_length": self.expected_length,
            "train_seconds": self.train_seconds,
            "updates": self.updates,
            "train_returns": self.train_returns,
        }


def _actions_dist(policy: RecurrentPolicy, trials: Trials) -> Distribution:
    """The actor's distribution at every step of a batch, [T, N], as RL²'s update builds it."""
    with torch.no_grad():
        h = torch.zeros(1, trials.x.shape[1], policy.hidden, device=trials.x.device)
        out, _ = policy.actor(trials.x, h)
        return policy.dist(out, trials.masks)


def _mean_kl(old: Distribution, new: Distribution, alive: torch.Tensor) -> float:
    return float((kl_divergence(old, new) * alive).sum() / alive.sum().clamp(min=1.0))


def kl_line_search(
    agent: RL2, optimizer: torch.optim.Optimizer, trials: Trials, target: float, backtracks: int = 10
) -> tuple[float, int]:
    """RL²'s update, then the actor moved back halfway towards its old weights while its mean KL
    from the collecting policy exceeds ``target``: (the KL kept, how many halvings)."""
    if not agent.policy.discrete:
        raise SystemExit("--kl-line-search: only for discrete actions (every rl2-paper cell)")
    actor = [p for name, p in agent.policy.named_parameters() if not name.startswith(("critic", "v."))]
    before = [p.detach().clone() for p in actor]
    old = _actions_dist(agent.policy, trials)
    agent._update(optimizer, trials)
    after = [p.detach().clone() for p in actor]
    kl, fraction, done = _mean_kl(old, _actions_dist(agent.policy, trials), trials.alive), 1.0, 0
    while kl > target and done < backtracks:
        fraction, done = fraction / 2, done + 1
        with torch.no_grad():
            for p, b, a in zip(actor, before, after, strict=True):
                p.copy_(b + fraction * (a - b))
        kl = _mean_kl(old, _actions_dist(agent.policy, trials), trials.alive)
    return kl, done


def start_run(
    suite: Suite,
    family: str,
    total: int,
    device: str,
    resume: dict[str, Any] | None,
    normalized: bool = False,
    run_index: int = 0,
    authors_cell: bool = False,
) -> Run:
    spec, seeds = meta_train_spec(suite, family, total, device, run_index)
    agent = RL2(spec)
    if authors_cell:
        authors_gru(agent.policy)
    if normalized:
        normalize_values(agent.policy)
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=agent.config.lr, eps=1e-5)  # meta_train's
    variants = CountingVariants(suite, family, seeds.sampler, skip=resume["drawn"] if resume else 0)
    server = EnvServer(Budget(total, float(NO_LIMIT)), variants, seeds.env, suite.batched_envs)
    run = Run(agent, optimizer, server, variants)
    if resume:
        agent.policy.load_state_dict(resume["policy"])
        optimizer.load_state_dict(resume["optimizer"])
        agent.rng.bit_generator.state = resume["agent_rng"]
        set_torch_random_states(resume)
        server.budget.used = resume["steps"]
        server.next_handle = resume["handles"]
        run.expected_length = resume["expected_length"]
        run.train_seconds = resume["train_seconds"]
        run.updates = resume["updates"]
        run.train_returns = list(resume.get("train_returns", []))
    return run


def test_variants(suite: Suite, family: str, count: int) -> list[games.Variant]:
    found = [tv.variant for tv in suite.variants("dev") if tv.family == family][:count]
    if len(found) < count:
        raise SystemExit(f"{family} has {len(found)} dev variants, fewer than --tasks {count}")
    return found


def rounded(policy: RecurrentPolicy) -> RecurrentPolicy:
    """The policy as a trial plays it: the weights through float16 (what ``RL2.save`` writes)."""
    out = copy.deepcopy(policy)
    with torch.no_grad():
        for p in out.parameters():
            p.copy_(p.half().float())
    for module in out.modules():
        if isinstance(module, torch.nn.GRU):
            module.flatten_parameters()  # a copy's cuDNN weights are scattered: re-pack them (a no-op on CPU)
    return out


def score(agent: RL2, suite: Suite, variants: list[games.Variant], seed: int) -> list[float]:
    """Each task's trial total under the current policy, with fixed seeds; the agent's random
    state (numpy and torch) is put back, so scoring does not change the training run."""
    saved_rng = agent.rng.bit_generator.state
    saved_torch = torch_random_states()
    training_policy = agent.policy
    try:
        agent.policy = rounded(training_policy)
        agent.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        server = EnvServer(Budget(NO_LIMIT, float(NO_LIMIT)), iter(variants), seed, suite.batched_envs)
        tasks = ProxyTaskSampler(DirectRequests(server), NO_LIMIT)
        env = BatchedEnv(tasks.sample(num_envs=len(variants), independent=True))
        try:
            trials = agent._collect(env, 0, max(1, agent.spec.eval_episodes or 1))
        finally:
            env.close()
            server.close()
        return [float(x) for x in trial_totals(trials).cpu().numpy().astype(np.float64)]
    finally:
        agent.policy = training_policy
        agent.rng.bit_generator.state = saved_rng
        set_torch_random_states(saved_torch)


def harness_check(agent: RL2, suite: Suite, family: str, count: int, seed: int = 0) -> list[float]:
    """``count`` trials (trial seed ``seed``) through the harness's trial procedure in this
    process, of the policy saved as a checkpoint, on the cell's first ``count`` dev variants: each
    trial's total reward."""
    import tempfile

    from arena import campaign
    from arena.harness.jobs import TrialJob
    from arena.inprocess import run_trial
    from arena.submission import load_submission

    submission = load_submission(ROOT / "submissions" / "rl2")
    totals = []
    with tempfile.TemporaryDirectory(prefix="rl2-curve-check-") as folder:
        agent.save(Path(folder))
        for tv in [tv for tv in suite.variants("dev") if tv.family == family][:count]:
            job = TrialJob(
                submission=submission, suite=suite, split="dev", variant=tv.variant.id, group=tv.group,
                budget=suite.budgets[0], adapt_seconds=suite.adapt_seconds[0], seed=seed,
                split_seed=campaign.split_seed(suite, "dev", None), checkpoint=folder, device=str(agent.device),
            )  # fmt: skip
            totals.append(float(sum(run_trial(job).episode_returns)))
    return totals


def point_row(steps: int, values: list[float], run: Run | None, wall: float, paper: float | None) -> dict[str, Any]:
    mean, (low, high) = mean_interval(values)
    row: dict[str, Any] = {"steps": steps, "score": round(mean, 3), "ci": [round(low, 3), round(high, 3)]}
    if run is not None:
        row.update(
            updates=run.updates,
            train_seconds=round(run.train_seconds, 1),
            wall_seconds=round(wall, 1),
            steps_per_s=round(steps / run.train_seconds, 1) if run.train_seconds else None,
        )
    if run is not None and run.kl_target is not None:
        row["line_search"] = run.take_line_search()
    if paper:
        row["of_paper"] = round(mean / paper, 4)
    return row


def schedule(points: list[int], every: int, total: int) -> list[int]:
    out = sorted({p for p in points if p <= total})
    step = out[-1] + every if out else every
    while every > 0 and step <= total:
        out.append(step)
        step += every
    if not out or out[-1] != total:
        out.append(total)
    return out


def last_quarter_mean(returns: list[float]) -> float | None:
    """The mean training return of a run's last quarter of updates: the RL² authors chose a cell's
    run (of 5) by the mean of its last 50 batches of thousands; a quarter of 196 updates is 49."""
    if not returns:
        return None
    tail = returns[-max(1, len(returns) // 4) :]
    return round(sum(tail) / len(tail), 4)


def config_overrides(pairs: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs as typed values of RL²'s ``Config`` fields; a misspelt field or a
    value of the wrong type is a one-line error."""
    fields = {f.name: type(getattr(CONFIG, f.name)) for f in dataclasses.fields(CONFIG)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in fields:
            raise SystemExit(f"--set {pair}: RL²'s Config has no field {name!r} (fields: {', '.join(fields)})")
        kind = fields[name]
        try:
            out[name] = BOOLS[text.lower()] if kind is bool else kind(text)
        except (KeyError, ValueError):
            raise SystemExit(f"--set {pair}: {name} takes a {kind.__name__}") from None
    return out


BOOLS = {"true": True, "1": True, "false": False, "0": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="rl2_bandit_k5_n100")
    parser.add_argument("--steps", type=int, default=16_000_000, help="meta-training steps in all")
    parser.add_argument("--points", default="1000000,2000000,4000000", help="steps scored, comma-separated")
    parser.add_argument("--every", type=int, default=4_000_000, help="then a point every this many steps")
    parser.add_argument("--tasks", type=int, default=500, help="held-out tasks (dev variants) per point")
    parser.add_argument("--device", default="auto", help="auto (cuda:0 where there is one), cpu or cuda:N")
    parser.add_argument("--seconds", type=float, default=None, help="stop training after this long")
    parser.add_argument("--out", type=Path, default=None, help="the JSON, written after every point")
    parser.add_argument("--state-out", type=Path, default=None, help="save the run here where it stops")
    parser.add_argument("--resume", type=Path, default=None, help="continue a run saved with --state-out")
    parser.add_argument("--checkpoint", type=Path, default=None, help="score this RL² checkpoint; no training")
    parser.add_argument("--check", type=int, default=0, help="also N harness trials of the last policy")
    parser.add_argument("--check-seed", type=int, default=0, help="the trial seed of those trials")
    parser.add_argument(
        "--run", type=int, default=0, metavar="N",
        help="the meta-training run's seeds: 0 the suite's own run, N > 0 another (the authors ran 5 a cell)",
    )  # fmt: skip
    parser.add_argument(
        "--kl-line-search",
        type=float,
        default=None,
        metavar="TARGET",
        help="after each update, shrink the actor's step until its mean KL is at most TARGET (the RL² authors' 0.01)",
    )
    parser.add_argument(
        "--normalize-values", action="store_true",
        help="the critic predicts returns in running mean/std units (the RL² authors' value function)",
    )  # fmt: skip
    parser.add_argument(
        "--authors-gru", action="store_true",
        help="the RL² authors' recurrent cell: a weight-normalized GRU with a ReLU candidate, no encoder",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="an RL² Config field for this run only (e.g. hidden=256): an experiment, not the published agent",
    )  # fmt: skip
    args = parser.parse_args()
    overrides = config_overrides(args.set)
    if overrides:  # the class attribute every RL2 reads: this process's agents only, rl2.py unchanged
        RL2.config = dataclasses.replace(CONFIG, **overrides)
    begun = time.monotonic()
    stop_at = begun + args.seconds if args.seconds else None
    device = resolve_device(args.device)
    suite = load_suite(SUITE)
    cell = suite.published.get("cells", {}).get(args.family, {})
    paper = cell.get("paper", {}).get("RL²")
    variants = test_variants(suite, args.family, args.tasks)
    eval_seed = scoring_seed(args.family)
    report: dict[str, Any] = {
        "family": args.family, "suite": suite.id, "paper_rl2": paper, "paper": cell.get("paper", {}),
        "suite_budget": suite.meta_train_steps_of(args.family), "tasks": args.tasks, "split": "dev",
        "eval_episodes": suite.eval_episodes_of(args.family), "device": device,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "",
        "torch": torch.__version__, "python": platform.python_version(),
        "commit": os.environ.get("ARENA_COMMIT", ""), "config": dataclasses.asdict(RL2.config),
        "overrides": overrides, "kl_line_search": args.kl_line_search,
        "normalize_values": args.normalize_values, "run": args.run, "authors_gru": args.authors_gru, "points": [],
    }  # fmt: skip

    def write() -> None:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")

    print(f"{args.family} on {device}: {args.tasks} tasks a point, paper RL² {paper}", flush=True)
    print(f"{'steps':>11} {'score':>9} {'95% CI':>21} {'updates':>7} {'train s':>8} {'steps/s':>8}", flush=True)

    def show(row: dict[str, Any]) -> None:
        ci = f"[{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]"
        rate = row.get("steps_per_s") or 0
        print(
            f"{row['steps']:>11,} {row['score']:>9.2f} {ci:>21} {row.get('updates', ''):>7} "
            f"{row.get('train_seconds', ''):>8} {rate:>8.0f}",
            flush=True,
        )

    if args.checkpoint:
        spec, _ = meta_train_spec(suite, args.family, 0, device)
        agent = RL2(spec)
        agent.load(args.checkpoint)
        report["checkpoint"] = str(args.checkpoint)
        row = point_row(0, score(agent, suite, variants, eval_seed), None, 0.0, paper)
        row["steps"] = None
        report["points"].append(row)
        print(f"checkpoint {args.checkpoint}: {row['score']:.2f} [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]")
        run = None
    else:
        resume = torch.load(args.resume, weights_only=False) if args.resume else None
        saved = (resume.get("config", report["config"]), resume.get("kl_line_search"),
                 resume.get("normalize_values", False), resume.get("run", 0),
                 resume.get("authors_gru", False)) if resume else None  # fmt: skip
        chosen = (report["config"], args.kl_line_search, args.normalize_values, args.run, args.authors_gru)
        if saved and saved != chosen:
            raise SystemExit(
                f"--resume {args.resume}: saved with other RL² settings; pass its --set, --kl-line-search, "
                "--normalize-values, --run and --authors-gru again"
            )
        if resume:
            report["points"] = resume.get("points", [])
            for row in report["points"]:
                show(row)
        run = start_run(
            suite, args.family, args.steps, device, resume, args.normalize_values, args.run, args.authors_gru
        )
        run.kl_target = args.kl_line_search
        report["train_returns"] = run.train_returns  # the run's own list, growing with each update
        agent = run.agent
        for point in schedule([int(float(p)) for p in args.points.split(",") if p], args.every, args.steps):
            if point <= run.steps:
                continue
            finished = run.train_to(point, stop_at)
            if run.steps == (report["points"][-1]["steps"] if report["points"] else 0):
                break  # stopped before taking a step: nothing new to score
            row = point_row(run.steps, score(agent, suite, variants, eval_seed), run, time.monotonic() - begun, paper)
            row["scheduled"] = finished
            report["points"].append(row)
            report["train_return_last_quarter"] = last_quarter_mean(run.train_returns)
            show(row)
            write()
            if not finished:
                break
        if args.state_out:
            args.state_out.parent.mkdir(parents=True, exist_ok=True)
            saved_run = {**run.state(), "points": report["points"], "config": report["config"]}
            extra = {"kl_line_search": args.kl_line_search, "normalize_values": args.normalize_values,
                     "run": args.run, "authors_gru": args.authors_gru}  # fmt: skip
            torch.save({**saved_run, **extra}, args.state_out)
    if args.check:
        harness = harness_check(agent, suite, args.family, args.check, args.check_seed)
        batched = score(agent, suite, variants[: args.check], eval_seed + 1)
        h_mean, h_ci = mean_interval(harness)
        b_mean, b_ci = mean_interval(batched)
        report["check"] = {"tasks": args.check, "trial_seed": args.check_seed, "harness": [h_mean, *h_ci],
                           "batched": [b_mean, *b_ci]}  # fmt: skip
        print(f"check on {args.check} tasks: harness trials (seed {args.check_seed}) {h_mean:.3f} [{h_ci[0]:.3f}, {h_ci[1]:.3f}], "
              f"batched scoring {b_mean:.3f} [{b_ci[0]:.3f}, {b_ci[1]:.3f}]")  # fmt: skip
    report["wall_seconds"] = round(time.monotonic() - begun, 1)
    write()


if __name__ == "__main__":
    main()
