"""The baselines: each one runs real trials through the Runner; some of them learn; MAML's gradient is right.

* a matrix (SB3's test style) of every baseline x {cartpole, bandit}: meta-training where the
  baseline has it, then a zero-shot trial and a trial with a tiny budget, each ``ok``, within
  budget, with a finite return;
* learning: tabular-q beats the random agent on a bandit variant by a clear margin;
* MAML's second-order meta-gradient against central finite differences (looped and vmapped);
* the Bayes-optimal bandit rule: its dynamic programme against hand-computed values, its look-ahead
  through the agent API, and its score on real bandit tasks against the programme's value;
* the posterior-mean MDP planners against PSRL and against the prior the RL² authors' baselines had;
* A3C's learners are separate processes that really update the shared parameters;
* ``-m slow``: PPO and DQN solving CartPole through the proxy (see scripts/proxy_learning_check.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import arena
import games
from arena.harness.jobs import MetaTrainJob, TrialJob
from arena.harness.runner import Runner
from arena.submission import load_submission
from arena.suites import load_suite, parse_suite

SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"
BASELINES = [
    "dqn-scratch",
    "dqn-pretrain",
    "ppo-scratch",
    "ppo-pretrain",
    "a3c",
    "maml",
    "reptile",
    "rl2",
    "tabular-q",
    "prototype",
]
VARIANTS = {"cartpole": "cartpole(gravity=9.5,length=1.2)", "bandit": "bandit(arms=5,task=3)"}
BUDGET = 64

SUITE = parse_suite(
    {
        "suite": {
            "name": "baselines-test",
            "version": 1,
            "budgets": [0, BUDGET],
            "adapt_seconds": [10, 20],
            "seeds": 1,
            "eval_episodes": 2,
            "eval_seconds": 60,
            "meta_train_steps": 2000,  # enough for one outer step of every meta-learner
            "meta_train_seconds": 60,
            "dev_seed": 1,
        },
        "families": {
            "cartpole": {
                "interpolation": 1,
                "train": {"length": [0.5, 1.5], "gravity": [8.0, 12.0]},
                "reference": {"random": 22.0, "reference": 500.0},
            },
            "bandit": {"interpolation": 1, "train": {"arms": [2, 5], "task": [0, 1000000]}},
        },
    },
    "<baselines-test>",
)


@pytest.fixture(scope="module")
def runner() -> Any:
    r = Runner()
    yield r
    r.close()


def trial(
    runner: Runner,
    name: str,
    variant: str,
    budget: int,
    seed: int = 0,
    checkpoint: str | None = None,
    suite: Any = SUITE,
) -> Any:
    job = TrialJob(submission=load_submission(SUBMISSIONS / name), suite=suite, split="dev", variant=variant, group="interpolation", budget=budget, adapt_seconds=20.0 if budget else 10.0, seed=seed, split_seed=suite.dev_seed, checkpoint=checkpoint)  # fmt: skip
    return runner.run_trial(job)


# --------------------------------------------------------------------------------------------
# every baseline x every smoke family, through the Runner
# --------------------------------------------------------------------------------------------


def test_every_baseline_has_a_submission() -> None:
    for name in BASELINES:
        submission = load_submission(SUBMISSIONS / name)
        assert submission.name == name


@pytest.mark.parametrize("family", sorted(VARIANTS))
@pytest.mark.parametrize("name", BASELINES)
def test_baseline_runs_a_trial(runner: Runner, tmp_path: Path, name: str, family: str) -> None:
    submission = load_submission(SUBMISSIONS / name)
    checkpoint = None
    if runner.defines_meta_train(submission):
        checkpoint = str(tmp_path / "checkpoint")
        meta = runner.run_meta_train(
            MetaTrainJob(submission=submission, suite=SUITE, family=family, checkpoint=checkpoint)
        )
        assert meta.status == "ok", meta.error
        assert 0 < meta.steps_used <= SUITE.meta_train_steps
        assert any(Path(checkpoint).iterdir()), "save() wrote nothing"
    for budget in SUITE.budgets:
        outcome = trial(runner, name, VARIANTS[family], budget, checkpoint=checkpoint)
        assert outcome.status == "ok", outcome.error
        assert outcome.steps_used <= budget
        if budget:
            assert outcome.steps_used > 0
        assert outcome.eval_return is not None and math.isfinite(outcome.eval_return)
        assert len(outcome.episode_returns) == SUITE.eval_episodes


# --------------------------------------------------------------------------------------------
# learning, where it is cheap
# --------------------------------------------------------------------------------------------


def test_tabular_q_beats_random_on_a_bandit(runner: Runner) -> None:
    # bandit(arms=5,task=3): arm means 0.09 0.24 0.80 0.58 0.09; random pays ~36 per 100 pulls, the best arm ~80.
    suite = parse_suite({**_raw_suite(), "suite": {**_raw_suite()["suite"], "eval_episodes": 3}}, "<bandit-learning>")
    variant = VARIANTS["bandit"]
    learned = [trial(runner, "tabular-q", variant, 500, seed, suite=suite) for seed in range(3)]
    random = [trial(runner, "random", variant, 500, seed, suite=suite) for seed in range(3)]
    for outcome in learned + random:
        assert outcome.status == "ok", outcome.error
    learned_mean = float(np.mean([o.eval_return for o in learned]))
    random_mean = float(np.mean([o.eval_return for o in random]))
    assert learned_mean >= random_mean + 20, (learned_mean, random_mean)


@pytest.mark.parametrize(("family", "length", "episodes"), [("rl2_bandit_k5_n10", 10, 1), ("rl2_mdp_n10", 100, 10)])
def test_rl2_trains_on_trials_shaped_like_the_suites(tmp_path: Path, family: str, length: int, episodes: int) -> None:
    """RL²'s training trials are the suite's evaluation trials (budget 0 and the cell's episodes
    on rl2-paper: 10 pulls, or 10 episodes of 10 steps), every step flagged scored, the previous
    action a zero vector at a trial's start, and a new-episode flag at each episode's start."""
    from arena.harness import trial as procedure
    from arena.harness.jobs import Outcome
    from arena.inprocess import InProcessAgent
    from arena.records import Status
    from baselines import rl2

    seen: list[Any] = []

    class Recording(rl2.RL2):
        config = dataclasses.replace(rl2.CONFIG, trials=8, epochs=1, minibatches=2)

        def _update(self, optimizer: Any, trials: Any) -> None:
            seen.append(trials)
            super()._update(optimizer, trials)

    paper = load_suite("rl2-paper")
    plan = dataclasses.replace(paper.plan(family), meta_train_steps=None)
    suite = dataclasses.replace(paper, meta_train_steps=8 * length * 3, families=(plan,))
    submission = load_submission(SUBMISSIONS / "rl2")
    job = MetaTrainJob(submission=submission, suite=suite, family=family, checkpoint=str(tmp_path / "checkpoint"))
    outcome = Outcome(status=Status.OK)
    procedure.run_meta_train(InProcessAgent(Recording), job, outcome, 0.0)
    assert outcome.status == Status.OK and len(seen) == 3 and outcome.steps_used == 3 * 8 * length
    assert (tmp_path / "checkpoint" / "rl2.pt").is_file()
    env = games.make(games.Variant.of(family))
    actions = rl2.Actions(env.action_space).size  # the input layout: obs, action, reward, flags
    for trials in seen:
        assert trials.alive.shape[0] == length and bool((trials.alive == 1).all())  # whole trials, none cut
        x = trials.x
        obs_dim = x.shape[-1] - actions - rl2.EXTRA_INPUTS
        assert bool((x[0, :, obs_dim : obs_dim + actions] == 0).all())  # no action yet: zeros
        assert bool((x[1:, :, obs_dim : obs_dim + actions].sum(-1) == 1).all())  # then one-hot
        assert bool((x[..., -1] == 1).all())  # budget 0: the whole trial is scored
        starts = (x[..., -2] == 1).all(-1).nonzero().flatten().tolist()
        assert starts == list(range(0, length, length // episodes))


def test_rl2_sizes_its_batches_to_leave_the_budget_enough_updates() -> None:
    """Up to 1,024 trials an update where the budget affords 40 such updates, fewer where trials
    are long (4M steps of rl2-paper's 500-step trials: 200 trials, 40 updates, not 8 updates of
    1,024), never fewer than 16 unless the steps left cannot finish them, and a first batch of 16
    (its trials' length is not known yet)."""
    from baselines.rl2 import CONFIG, batch_trials

    assert batch_trials(CONFIG, 0, 10, 2_000_000, 2_000_000) == 1024  # bandit n=10: ~195 updates
    assert batch_trials(CONFIG, 0, 100, 4_000_000, 4_000_000) == 1000  # bandit n=100, mdp n=10: 40
    assert batch_trials(CONFIG, 0, 500, 4_000_000, 4_000_000) == 200  # bandit n=500, mdp n=50
    assert batch_trials(CONFIG, 0, 1000, 4_000_000, 4_000_000) == 100  # mdp n=100
    assert batch_trials(CONFIG, 0, None, 4_000_000, 4_000_000) == 16  # the first batch
    assert batch_trials(CONFIG, 2000, 200, 200_000, 200_000) == 16  # a small budget: the floor
    assert batch_trials(CONFIG, 20_000, 200, 200_000, 200_000) == 9  # what the steps left can finish
    assert batch_trials(CONFIG, 0, 100, 1_050, 4_000_000) == 10  # the budget's last batch
    assert batch_trials(CONFIG, 0, 100, 99, 4_000_000) == 0  # none: meta-training ends
    for length in (10, 100, 250, 500, 750, 1000):  # every rl2-paper cell at 4M: at least 40 updates
        n = batch_trials(CONFIG, 0, length, 4_000_000, 4_000_000)
        assert 4_000_000 // (n * length) >= CONFIG.min_updates


def _raw_suite() -> dict[str, Any]:
    return {
        "suite": {
            "name": "baselines-test", "version": 1, "budgets": [0, 500], "adapt_seconds": [10, 30], "seeds": 1,
            "eval_episodes": 2, "eval_seconds": 60, "meta_train_steps": 2000, "meta_train_seconds": 60, "dev_seed": 1,
        },
        "families": {"bandit": {"interpolation": 1, "train": {"arms": [2, 5], "task": [0, 1000000]}}},
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# MAML: the second-order meta-gradient is the gradient
# --------------------------------------------------------------------------------------------


def _maml_problem(discrete: bool) -> tuple[Any, dict[str, torch.Tensor], list[Any], Any]:
    from baselines.common import Actions
    from baselines.maml import Config, Policy, TaskBatch, adapt_params, log_prob

    torch.manual_seed(0)
    space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1.0, 1.0, shape=(2,))
    policy = Policy(2, Actions(space), (4,)).double()
    for p in policy.parameters():
        torch.nn.init.normal_(p, std=0.7)
    if policy.log_std is not None:  # a unit-scale Gaussian keeps the inner step well conditioned
        torch.nn.init.zeros_(policy.log_std)
    config = Config(inner_lr=0.5 if discrete else 0.1, clip=0.2)

    def batch(rows: int = 10) -> TaskBatch:
        obs = torch.randn(rows, 2, dtype=torch.float64)
        if discrete:
            actions = torch.randint(0, 3, (rows,))
            masks = torch.ones(rows, 3, dtype=torch.bool)
            masks[0, 1] = False  # an illegal action, to cover the masked path
            actions[0] = 0
        else:
            actions = torch.randn(rows, 2, dtype=torch.float64)
            masks = torch.ones(rows, 1, dtype=torch.bool)
        return TaskBatch(
            obs, actions, masks, torch.randn(rows, dtype=torch.float64), torch.zeros(rows, dtype=torch.float64)
        )

    tasks = [([batch()], batch()) for _ in range(3)]
    params = {k: v.detach().clone() for k, v in policy.named_parameters()}
    for pre, post in tasks:  # old log-probs of the adapted policy: ratio 1, the clip inactive
        adapted = adapt_params(policy, params, [b.as_tuple() for b in pre], config.inner_lr)
        post.logp_old = log_prob(policy, adapted, post.obs, post.actions, post.masks).detach()
    return policy, params, tasks, config


@pytest.mark.parametrize("discrete", [True, False], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("use_vmap", [False, True], ids=["loop", "vmap"])
def test_maml_meta_gradient_matches_finite_differences(discrete: bool, use_vmap: bool) -> None:
    from baselines.maml import log_prob, meta_loss

    policy, params, tasks, config = _maml_problem(discrete)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    analytic = torch.autograd.grad(meta_loss(policy, leaves, tasks, config, use_vmap=use_vmap), list(leaves.values()))

    def f(p: dict[str, torch.Tensor]) -> float:
        return float(meta_loss(policy, p, tasks, config, use_vmap=False))

    eps = 1e-6
    for (name, value), grad in zip(params.items(), analytic, strict=True):
        for i in range(value.numel()):
            plus = {k: v.clone() for k, v in params.items()}
            minus = {k: v.clone() for k, v in params.items()}
            plus[name].view(-1)[i] += eps
            minus[name].view(-1)[i] -= eps
            numeric = (f(plus) - f(minus)) / (2 * eps)
            assert abs(float(grad.view(-1)[i]) - numeric) < 1e-7 * max(1.0, abs(numeric)), (name, i)

    # ...and it is not the first-order approximation: the Hessian terms are there and matter.
    def first_order(p: dict[str, torch.Tensor]) -> torch.Tensor:
        from baselines.maml import adapt_params

        losses = []
        for pre, post in tasks:
            detached = {k: v.detach() for k, v in p.items()}
            step = adapt_params(policy, detached, [b.as_tuple() for b in pre], config.inner_lr)
            adapted = {k: p[k] + (step[k] - detached[k]) for k in p}
            ratio = (log_prob(policy, adapted, post.obs, post.actions, post.masks) - post.logp_old).exp()
            losses.append(-(ratio * post.advantages).mean())
        return torch.stack(losses).mean()

    approx = torch.autograd.grad(first_order(leaves), list(leaves.values()))
    gap = max(float((a - b).abs().max()) for a, b in zip(analytic, approx, strict=True))
    assert gap > 1e-4


# --------------------------------------------------------------------------------------------
# A3C: asynchronous learners in their own processes
# --------------------------------------------------------------------------------------------


class _BudgetedVectorEnv(gym.vector.SyncVectorEnv):
    """CartPole copies with SAME_STEP autoreset and a step budget, like the harness's proxy."""

    def __init__(self, n: int, budget: int):
        super().__init__([lambda: games.make("cartpole")] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.left = budget

    def step(self, actions: Any) -> Any:
        if self.left < self.num_envs:
            raise arena.BudgetExhausted("spent")
        self.left -= self.num_envs
        return super().step(actions)


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_a3c_learners_update_the_shared_model_asynchronously(tmp_path: Path, backend: str) -> None:
    from baselines.a3c import A3C

    agent_class = type("A3CUnderTest", (A3C,), {"config": dataclasses.replace(A3C.config, backend=backend)})
    env = _BudgetedVectorEnv(A3C.num_envs, 400)
    spec = arena.AgentSpec(
        env.single_observation_space, env.single_action_space, "cartpole", 0, budget_steps=400, scratch=tmp_path
    )
    agent = agent_class(spec)
    before = [p.detach().clone() for p in agent.shared.parameters()]
    try:
        agent.adapt(env)
    except arena.BudgetExhausted:
        pass
    if backend == "processes":
        assert len(agent.learner_pids) == A3C.config.num_actors
        assert os.getpid() not in agent.learner_pids
    else:
        assert agent.learner_pids == []
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.shared.parameters(), strict=True))
    assert not agent.learners, "learners must be stopped when adapt returns"
    action = agent.act(env.reset(seed=0)[0][0], {})
    assert env.single_action_space.contains(action)


# --------------------------------------------------------------------------------------------
# slow: the SB3 baselines solve CartPole through the proxy
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "target", "budget", "seed"), [("ppo-scratch", 475.0, 100_000, 0), ("dqn-scratch", 400.0, 50_000, 1)]
)
def test_sb3_solves_cartpole_through_the_proxy(
    runner: Runner, name: str, target: float, budget: int, seed: int
) -> None:
    # budgets: the n_timesteps of the RL Zoo entries whose hyperparameters the baselines use;
    # the same trials as scripts/proxy_learning_check.py. With the agents' AVX2 kernels
    # (Limits.portable_numerics) DQN's seed 0 reaches only 234.05, seeds 1 to 3 reach 500.0. Not
    # the proxy's doing: the same trial in-process on the same seeded episodes also gives 234.05
    # (tests/test_transparency.py), and 500.0 with the AVX-512 kernels, through the proxy or not.
    suite = dataclasses.replace(load_suite("smoke@1"), eval_episodes=20, eval_seconds=300.0)
    submission = load_submission(SUBMISSIONS / name)
    job = TrialJob(
        submission=submission,
        suite=suite,
        split="dev",
        variant="cartpole",
        group="interpolation",
        budget=budget,
        adapt_seconds=600.0,
        seed=seed,
        split_seed=suite.dev_seed,
    )
    outcome = runner.run_trial(job)
    assert outcome.status == "ok", outcome.error
    assert outcome.eval_return is not None and outcome.eval_return >= target


def test_pick_device_warns_when_it_falls_back_to_the_cpu() -> None:
    import warnings

    from baselines.common import pick_device

    offered = "cuda:99" if torch.cuda.is_available() else "cuda:0"  # a device that does not work here
    with pytest.warns(RuntimeWarning, match=f"{offered} was offered but does not work here"):
        assert pick_device(offered) == torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pick_device("cpu") == torch.device("cpu")  # asked for the CPU: no warning


# --------------------------------------------------------------------------------------------
# MAML: an inner step is fresh whole episodes; a trial takes the steps its budget pays for
# --------------------------------------------------------------------------------------------


def test_the_bayes_optimal_value_is_the_hand_computed_one_and_does_not_grow_past_one_arm_a_pull() -> None:
    from baselines.bandits import bayes_q, bayes_value

    assert bayes_value((), 1, 7) == pytest.approx(3.5)  # one arm: p ~ U[0, 1] every pull
    # Two pulls: 1/2, then the paid arm (2/3) after a success, a fresh one (1/2) after a failure.
    assert bayes_value((), 2, 2) == pytest.approx(0.5 + 0.5 * 2 / 3 + 0.5 * 0.5)
    assert bayes_value((), 1, 2) == pytest.approx(1.0)  # no fresh arm to switch to
    assert bayes_value((), 5, 10) == pytest.approx(6.659988, abs=1e-6)
    assert bayes_value((), 10, 10) == bayes_value((), 50, 10) > bayes_value((), 5, 10)  # 10 pulls try <= 10 arms
    # The look-ahead: 3 of 5 paid (mean 4/7) beats a fresh arm (1/2) for one or two pulls left,
    # and loses to it from four on, where what the fresh arm may reveal pays for itself.
    known = ((3, 2),)
    assert bayes_q(known, 1, 2, (3, 2)) > bayes_q(known, 1, 2, (0, 0))
    assert bayes_q(known, 1, 4, (3, 2)) < bayes_q(known, 1, 4, (0, 0))


@pytest.mark.parametrize(("pulls", "stays"), [(10, True), (11, False)])
def test_the_bayes_optimal_agent_counts_the_pulls_left_from_what_it_observes(pulls: int, stays: bool) -> None:
    """Two arms, the first pulled arm pays, pays, fails (2 of 3): with 7 pulls left staying is
    optimal, with 8 trying the other arm is (the programme's values): the agent must read the
    episode's length off the observation and count its pulls exactly to get both right."""
    from baselines.bandits import BayesOptimal, bayes_q
    from games.rl2_paper import PaperBandit

    known = ((2, 1),)
    assert bayes_q(known, 1, 7, (2, 1)) > bayes_q(known, 1, 7, (0, 0))
    assert bayes_q(known, 1, 8, (2, 1)) < bayes_q(known, 1, 8, (0, 0))
    env = PaperBandit(2, pulls, task=0)
    agent = BayesOptimal(arena.AgentSpec(env.observation_space, env.action_space, "rl2_bandit_k5_n10", seed=0))
    obs, info = env.reset(seed=0)
    actions = []
    for paid in (None, 1.0, 1.0, 0.0):  # what the previous pull paid, as the harness tells it
        step_info = dict(info) if paid is None else {**info, "reward": paid}
        actions.append(int(agent.act(obs, step_info)))
        obs, _, _, _, info = env.step(actions[-1])
    assert actions[1] == actions[2] == actions[0]  # a paying arm is kept
    assert (actions[3] == actions[0]) is stays


def test_the_bayes_optimal_agent_plans_only_a_trials_first_episode() -> None:
    """After pulls in an earlier episode (or an adaptation phase) the optimal pull depends on the
    trial's pulls to come, which the agent is not told: it plays the Gittins index there, and
    does not expand a programme whose states grow with every arm already pulled (an `arena
    check` trial once spent 55 s on 60 pulls after 50 arms had been tried)."""
    from arena.inprocess import play_episodes
    from baselines.bandits import BayesOptimal, bayes_value
    from games.rl2_paper import PaperBandit

    env = PaperBandit(50, 10, task=1)
    agent = BayesOptimal(arena.AgentSpec(env.observation_space, env.action_space, "rl2_bandit_k50_n10", seed=0))
    bayes_value.cache_clear()
    planned = []
    for episode in range(2):
        play_episodes(agent, env, 1, seed=100 + episode)
        planned.append(bayes_value.cache_info().currsize)
    assert planned[0] > 0 and planned[1] == planned[0]


def test_the_bayes_optimal_agent_scores_the_programmes_value_on_real_bandit_tasks() -> None:
    """Played through the agent API on 2,000 tasks of rl2-paper's 10 pulls of 5 arms, its mean is
    the dynamic programme's expectation (within 4 standard errors), and on the same tasks and
    reward draws it beats Thompson sampling, which explores more than 10 pulls pay for."""
    from arena.inprocess import play_episodes
    from baselines.bandits import BayesOptimal, Thompson, bayes_value
    from games.rl2_paper import PaperBandit

    def play(agent_class: type[arena.Agent], task: int) -> float:
        env = PaperBandit(5, 10, task)
        agent = agent_class(arena.AgentSpec(env.observation_space, env.action_space, "rl2_bandit_k5_n10", seed=task))
        # The reward draws' own seed: the task's seed is the stream the arms' probabilities came
        # from, and reusing it pays an arm when its own probability was drawn high.
        return play_episodes(agent, env, 1, seed=2**20 + task)

    tasks = range(2000)
    optimal = np.array([play(BayesOptimal, task) for task in tasks])
    thompson = np.array([play(Thompson, task) for task in tasks])
    error = optimal.std(ddof=1) / math.sqrt(len(optimal))
    assert abs(optimal.mean() - bayes_value((), 5, 10)) < 4 * error, (optimal.mean(), error)
    assert (optimal - thompson).mean() > 0.5


def _mdp_trial_totals(agent_class: type[arena.Agent], episodes: int, tasks: range) -> np.ndarray:
    """Each task's trial total through the agent API: ``episodes`` episodes of one real MDP."""
    from arena.inprocess import play_episodes

    family = f"rl2_mdp_n{episodes}"
    out = []
    for task in tasks:
        env = games.make(f"{family}(task={task})")
        agent = agent_class(
            arena.AgentSpec(env.observation_space, env.action_space, family, task, eval_episodes=episodes)
        )
        out.append(play_episodes(agent, env, episodes, seed=2**20 + 100 * task))
    return np.array(out)


def test_planning_in_the_posterior_mean_mdp_beats_sampling_one_and_needs_the_tasks_prior() -> None:
    """On 10 episodes of real rl2-paper MDPs (the same tasks and env seeds for every agent):
    greedy-mdp and optimistic-mdp above PSRL, and greedy-mdp with a reward prior of mean 0 (the
    RL² authors' baselines') far below it with the tasks' own, N(1, 1): untried actions look
    worse than tried ones, so it stops exploring."""
    from baselines.psrl import PSRL, GreedyMDP, OptimisticMDP

    tasks = range(300)
    psrl = _mdp_trial_totals(PSRL, 10, tasks)
    greedy = _mdp_trial_totals(GreedyMDP, 10, tasks)
    optimistic = _mdp_trial_totals(OptimisticMDP, 10, tasks)
    zero_prior = _mdp_trial_totals(type("GreedyPriorZero", (GreedyMDP,), {"prior_mean": 0.0}), 10, tasks)
    assert (greedy - psrl).mean() > 8.0 and (optimistic - psrl).mean() > 8.0, (psrl.mean(), greedy.mean())
    assert (greedy - zero_prior).mean() > 8.0, (greedy.mean(), zero_prior.mean())


def test_optimistic_mdp_plans_with_a_bonus_that_shrinks_with_rewards_seen_and_episodes_left() -> None:
    from arena.inprocess import play_episodes
    from baselines.psrl import BONUS, BONUS_DECAY, OptimisticMDP

    env = games.make("rl2_mdp_n10(task=5)")
    agent = OptimisticMDP(arena.AgentSpec(env.observation_space, env.action_space, "rl2_mdp_n10", 0, eval_episodes=4))
    bonuses = []
    for episode in range(4):
        play_episodes(agent, env, 1, seed=episode)
        precision = 1.0 + agent.reward_n
        mean = (agent.prior_mean + agent.reward_sum) / precision
        bonuses.append((agent._model()[1] - mean) * np.sqrt(1.0 + agent.reward_n))
    for episode, bonus in enumerate(bonuses):  # the model of the episode begun: (4 - episode) / 4 left
        assert np.allclose(bonus, BONUS * ((4 - episode) / 4) ** BONUS_DECAY)


def test_maml_inner_steps_roll_out_fresh_whole_episodes() -> None:
    """Each batch starts every copy at a reset (nav2d: the origin) and keeps only its first
    episode: the post-update batch never continues the pre-update episodes."""
    from baselines.common import Actions, BatchedEnv
    from baselines.maml import CONFIG, Policy, sample_episodes

    torch.manual_seed(0)
    variant = "nav2d(goal_range=0.5,horizon=30,task=3)"
    env = BatchedEnv(games.make_vector(variant, 4))
    policy = Policy(2, Actions(env.action_space), (8,))
    params = {k: v.detach() for k, v in policy.named_parameters()}
    config = dataclasses.replace(CONFIG, num_envs=4)
    first = sample_episodes(env, policy, params, config, torch.device("cpu"), seed=1)
    second = sample_episodes(env, policy, params, config, torch.device("cpu"), seed=2)
    assert first is not None and first.obs.shape[0] == 4 * 30  # four whole episodes of the horizon
    # A copy that reaches its goal early waits: its steps after that are not part of the batch.
    assert second is not None and 4 * 10 <= second.obs.shape[0] < 4 * 30
    for batch in (first, second):
        assert bool((batch.obs[:4] == 0).all())  # every copy from the start state: nothing continued
        assert batch.advantages.shape == batch.obs.shape[:1] and abs(float(batch.advantages.mean())) < 1e-5


def test_maml_trial_takes_as_many_inner_steps_as_the_budget_pays_for() -> None:
    from baselines import maml

    steps: list[int] = []

    class Counting(maml.MAML):
        def _inner(self, params: Any, batch: Any) -> Any:
            steps.append(batch.obs.shape[0])
            return super()._inner(params, batch)

    variant = "nav2d(goal_range=0.5,horizon=100,task=3)"
    spaces = games.make(variant)
    for budget, expected in ((1999, 0), (2000, 1), (6000, 3), (20000, 10), (50000, 10)):
        steps.clear()
        spec = arena.AgentSpec(spaces.observation_space, spaces.action_space, "nav2d", seed=0, budget_steps=budget)
        agent = Counting(spec)
        if budget >= 2000:
            agent.adapt(games.make_vector(variant, maml.CONFIG.num_envs))
        assert len(steps) == expected and all(rows <= 2000 for rows in steps), (budget, steps)  # goals end some early
