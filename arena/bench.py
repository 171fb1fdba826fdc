"""``arena bench``: the harness's own cost, as ratios measured in one run.

Machines here are noisy, so every figure is a ratio of two measurements taken back to back
(the harness path and the same work without it), repeated, with the median reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import games
from arena.harness.jobs import MetaTrainJob, TrialJob
from arena.harness.limits import Limits, portable_numerics_env
from arena.harness.runner import Runner
from arena.submission import BASELINES, baseline_folders, load_submission
from arena.suites import load_suite

TARGETS = {
    "proxy_ratio_1": (">=", 0.3),
    "proxy_ratio_64": (">=", 0.8),
    "trial_startup_s": ("<=", 0.2),
    "sb3_ratio": (">=", 0.9),
    "parallel_efficiency": (">=", 1.8),
    "metatrain_steps_per_s": (">=", 3.0),
    "board_seconds_200": ("<=", 10.0),
    "gateway_overhead": ("<=", 1.05),
}
GATEWAY_MESSAGES = [{"role": "user", "content": "Name one move of rock-paper-scissors, and say why in one line."}]
GATEWAY_MAX_TOKENS = 16
META_COPIES = 256  # independent train tasks side by side, as RL2 meta-trains
META_FAMILIES = ("rl2_bandit_k5_n100", "rl2_mdp_n10")  # a bandit and a tabular MDP of rl2-paper

_AGENTS = '''
import numpy as np
import arena


class Stepper(arena.Agent):
    """Steps as fast as it can: the harness's cost is all that is left to measure."""

    def adapt(self, env):
        n = getattr(env, "num_envs", 1)
        obs, info = env.reset(seed=0)
        if n == 1:
            while True:
                mask = info.get("action_mask")
                action = int(mask.nonzero()[0][0]) if mask is not None else 0  # as _raw_steps_per_second
                obs, reward, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    obs, info = env.reset()
        actions = np.zeros(n, dtype=np.int64)
        while True:
            mask = info.get("action_mask")
            if mask is not None:
                actions = np.argmax(mask, axis=1)
            obs, rewards, terminations, truncations, info = env.step(actions)

    def act(self, observation, info):
        mask = info.get("action_mask")
        return int(np.flatnonzero(mask)[0]) if mask is not None else 0


class Stepper64(Stepper):
    num_envs = 64


class MetaStepper(arena.Agent):
    """Meta-trains on 256 independent tasks side by side and does nothing else."""

    def meta_train(self, tasks):
        env = tasks.sample(num_envs=256, independent=True)
        env.reset(seed=0)
        actions = np.zeros(256, dtype=np.int64)
        while tasks.steps_left > 0:
            env.step(actions)

    def act(self, observation, info):
        return 0


class LLMCaller(arena.Agent):
    """Calls the model through the gateway, the same call each time, while it adapts."""

    CALLS = 20

    def adapt(self, env):
        messages = [{"role": "user", "content": "Name one move of rock-paper-scissors, and say why in one line."}]
        for _ in range(self.CALLS):
            self.spec.llm.chat(messages, max_tokens=16)
        raise arena.BudgetExhausted("done")

    def act(self, observation, info):
        return 0


class PPOLearner(arena.Agent):
    def adapt(self, env):
        from stable_baselines3 import PPO

        PPO("MlpPolicy", env, n_steps=512, batch_size=64, n_epochs=2, seed=0, device="cpu").learn(self.spec.budget_steps)

    def act(self, observation, info):
        return 0
'''


def _submission(root: Path, name: str, entry: str) -> Any:
    folder = root / name
    folder.mkdir()
    (folder / "agent.py").write_text(_AGENTS)
    (folder / "submission.toml").write_text(
        f'[submission]\nname = "{name}"\nversion = "0"\nauthors = ["arena bench"]\nentry = "agent:{entry}"\n'
    )
    return load_submission(folder)


def _raw_steps_per_second(variant: str, steps: int, copies: int = 1) -> float:
    envs = [games.make(variant) for _ in range(copies)]
    infos = [env.reset(seed=i)[1] for i, env in enumerate(envs)]
    started = time.perf_counter()
    done = 0
    while done < steps:
        for i, env in enumerate(envs):
            mask = infos[i].get("action_mask")
            action = int(mask.nonzero()[0][0]) if mask is not None else 0
            _, _, terminated, truncated, infos[i] = env.step(action)
            if terminated or truncated:
                infos[i] = env.reset()[1]
        done += copies
    return done / (time.perf_counter() - started)


def _raw_vector_steps_per_second(variant: str, steps: int, copies: int) -> float:
    """Gymnasium's own one-process vector env of ``copies``, with the proxy's autoreset mode and
    the bench agent's action rule: what an agent would step without the harness."""
    return _sync_vector_rate(games.make_vector(variant, copies), steps)


def _sync_vector_rate(env: gym.vector.SyncVectorEnv, steps: int) -> float:
    """Steps/s of ``env`` (``steps`` in all copies) with the bench agent's action rule."""
    copies = env.num_envs
    _, info = env.reset(seed=0)
    actions = np.zeros(copies, dtype=np.int64)
    started = time.perf_counter()
    done = 0
    while done < steps:
        mask = info.get("action_mask")
        if mask is not None:
            actions = np.argmax(mask, axis=1)
        _, _, _, _, info = env.step(actions)
        done += copies
    rate = done / (time.perf_counter() - started)
    env.close()
    return rate


_SB3_RAW = """
import sys, time
import torch
torch.set_num_threads(int(sys.argv[2]))
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
import games
def learn(steps):
    model = PPO("MlpPolicy", games.make("cartpole"), n_steps=512, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.set_logger(Logger(None, []))  # SB3's default makes an empty folder in /tmp per run
    started = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - started)
learn(512)  # as the bench warms its agent process up first
print(learn(int(sys.argv[1])))
"""


def _sb3_raw_frames_per_second(steps: int, limits: Limits) -> float:
    """SB3 PPO on the raw env, without the harness, in a fresh process that computes as an agent
    worker does: the same torch threads and the same kernel pin. The pin alone moves the figure:
    fresh processes here ran 2.3-2.5k frames/s with it and 2.1-2.3k without, so the old
    in-process reference (unpinned) flattered the ratio."""
    env = dict(os.environ, OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads))
    for key in portable_numerics_env():
        env.pop(key, None)
    if limits.portable_numerics:
        env.update(portable_numerics_env())
    done = subprocess.run(
        [sys.executable, "-c", _SB3_RAW, str(steps), str(limits.threads)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench: SB3 on the raw env failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.split()[-1])


def _proxy_steps_per_second(runner: Runner, submission: Any, variant: str, steps: int) -> tuple[float, float]:
    """(steps/s through the proxy, startup seconds) for one adaptation of ``steps``."""
    suite = load_suite("smoke")
    job = TrialJob(
        submission=submission,
        suite=suite,
        split="dev",
        variant=variant,
        group="bench",
        budget=steps,
        adapt_seconds=600.0,
        seed=0,
        split_seed=0,
    )
    outcome = runner.run_trial(job)
    if outcome.status != "ok":
        raise RuntimeError(f"bench trial failed: {outcome.status}: {outcome.error}")
    return outcome.steps_used / outcome.adapt_seconds, outcome.startup_seconds


def _metatrain_steps_per_second(runner: Runner, submission: Any, family: str, steps: int, batched: bool) -> float:
    """Env steps/s of one meta-training of ``steps`` on ``META_COPIES`` independent tasks of an
    rl2-paper family, through the whole harness (sandboxed agent, env server, budget);
    ``batched``: the suite's batched numpy vector env, else one env per copy."""
    paper = load_suite("rl2-paper")
    plan = replace(paper.plan(family), meta_train_steps=None)
    suite = replace(paper, meta_train_steps=steps, batched_envs=batched, families=(plan,))
    with tempfile.TemporaryDirectory(prefix="arena-bench-meta-") as checkpoint:
        outcome = runner.run_meta_train(
            MetaTrainJob(submission=submission, suite=suite, family=family, checkpoint=checkpoint)
        )
    if outcome.status != "ok":
        raise RuntimeError(f"bench meta-training failed: {outcome.status}: {outcome.error}")
    return outcome.steps_used / outcome.adapt_seconds


def _gateway_seconds_per_call(runner: Runner, submission: Any, model: Any, calls: int) -> float:
    """Seconds per model call from a sandboxed agent, through its channel and the gateway, to
    the model process and back (a trial's adaptation phase of nothing else, over its calls)."""
    text = load_suite("text-v1")
    plan = text.plan("rps")
    suite = replace(text, families=(plan,), budgets=(1,), token_budgets=(10**6,), adapt_seconds=(600.0,))
    variant = suite.variants("dev")[0].variant.id
    job = TrialJob(
        submission=submission, suite=suite, split="dev", variant=variant, group="bench", budget=1,
        adapt_seconds=600.0, seed=0, split_seed=0, model=model.name, llm_url=model.url,
    )  # fmt: skip
    outcome = runner.run_trial(job)
    if outcome.status != "ok" or outcome.llm_calls != calls:
        raise RuntimeError(f"bench gateway trial failed: {outcome.status}: {outcome.error}")
    return outcome.adapt_seconds / calls


def _direct_seconds_per_call(client: Any, calls: int) -> float:
    """The same call to the same model from the harness's process: no agent, no gateway."""
    started = time.perf_counter()
    for _ in range(calls):
        client.chat(GATEWAY_MESSAGES, max_tokens=GATEWAY_MAX_TOKENS)
    return (time.perf_counter() - started) / calls


def _gateway_figures(root: Path, repeats: int, log: Callable[[str], None]) -> list[Figure]:
    """The text track: the gateway's cost per call, and the embedded model's tokens/s."""
    try:
        from arena.llm import EmbeddedModel, ModelError, open_model, throughput
    except ImportError as exc:
        log(f"gateway: skipped, the llm extra is not installed ({exc})")
        return []
    try:
        embedded = EmbeddedModel(threads=1)  # the harness and the agent process use the other core
    except ModelError as exc:
        log(f"gateway: skipped, the embedded model cannot start: {exc}")
        return []
    caller = _submission(root, "bench-llm", "LLMCaller")
    runner = Runner(Limits())
    try:
        client = open_model(embedded.url, embedded.name)
        calls = 20  # LLMCaller.CALLS
        _gateway_seconds_per_call(runner, caller, embedded, calls)  # start the worker, warm the model
        log("gateway: a model call through the sandboxed agent's channel vs from the harness itself")
        ratio, ours, direct = _median_ratio(
            partial(_gateway_seconds_per_call, runner, caller, embedded, calls),
            partial(_direct_seconds_per_call, client, calls),
            repeats,
        )
        prompt_rate, generation_rate = throughput(client)
    except (ModelError, RuntimeError) as exc:  # a model too slow on a loaded machine: no figure, no crash
        log(f"gateway: skipped, the model failed: {str(exc).splitlines()[0]}")
        return []
    finally:
        runner.close()
        embedded.close()
    return [
        Figure(
            "gateway_overhead",
            ratio,
            f"{embedded.name}: {ours * 1000:.1f} ms a call through the gateway vs {direct * 1000:.1f} ms direct "
            f"({GATEWAY_MAX_TOKENS} tokens of reply)",
        ),
        Figure("llm_prompt_tokens_per_s", prompt_rate, f"{embedded.name}, embedded (llama-cpp-python)"),
        Figure("llm_generation_tokens_per_s", generation_rate, f"{embedded.name}, embedded (llama-cpp-python)"),
    ]


def _raw_metatrain_steps_per_second(family: str, steps: int) -> float:
    """The same ``META_COPIES`` independent train tasks in Gymnasium's one-process SyncVectorEnv."""
    sampler = load_suite("rl2-paper").train_sampler(family, seed=0)
    variants = [next(sampler) for _ in range(META_COPIES)]
    env = gym.vector.SyncVectorEnv(
        [partial(games.make, v) for v in variants], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    return _sync_vector_rate(env, steps)


def _median_ratio(
    measure: Callable[[], float], baseline: Callable[[], float], repeats: int
) -> tuple[float, float, float]:
    ratios, ours, theirs = [], [], []
    for _ in range(repeats):
        a, b = measure(), baseline()
        ours.append(a)
        theirs.append(b)
        ratios.append(a / b)
    return statistics.median(ratios), statistics.median(ours), statistics.median(theirs)


@dataclass
class Figure:
    name: str
    value: float
    detail: str
    judged: bool = True  # False: too little work measured to hold the figure to its target (--quick)

    @property
    def target(self) -> str:
        op, bound = TARGETS.get(self.name, ("", 0.0))
        return f"{op} {bound:g}" if op else ""

    @property
    def met(self) -> bool | None:
        if self.name not in TARGETS or not self.judged:
            return None
        op, bound = TARGETS[self.name]
        return self.value >= bound if op == ">=" else self.value <= bound


def synthetic_results(path: Path, submissions: int, suite_name: str = "metarl-v1") -> int:
    """A results DB of ``submissions`` submissions x every dev trial of the suite (metarl-v1:
    120 each), with made-up scores that rank them apart; returns the trials written."""
    from arena.records import SubmissionRecord, TrialRecord
    from arena.store import Store

    suite = load_suite(suite_name)
    rng = np.random.default_rng(0)
    store = Store(path)
    written = 0
    try:
        for k in range(submissions):
            digest, name = f"{k:064x}", f"synthetic-{k:03d}"
            store.add(SubmissionRecord(hash=digest, name=name, version="1", authors=("arena bench",), entry="a:A"))
            for tv in suite.variants("dev"):
                for budget in suite.budgets:
                    for seed in range(suite.seeds):
                        score = float(k / submissions + budget / 40_000 + rng.normal(0, 0.1))
                        store.add(
                            TrialRecord(
                                submission_hash=digest, suite=suite.name, suite_version=suite.version, split="dev",
                                variant=tv.variant.id, budget=budget, seed=seed, submission=name,
                                submission_version="1", family=tv.family, variant_group=tv.group, status="ok",
                                eval_return=score, normalized_score=score, episode_returns=(score,), steps_used=budget,
                                wall_seconds=0.1, adapt_seconds=0.0, error=None, arena_version="bench",
                            )
                        )  # fmt: skip
                        written += 1
    finally:
        store.close()
    return written


def _board_seconds(submissions: int, build_site: Callable[[Path, Path], Any] | None) -> Figure:
    """Seconds to score every board of a synthetic DB (what `arena results` does) and, given the
    site builder, to build the site; the figure is the slower of the two."""
    from arena import scoring
    from arena.store import Store

    with tempfile.TemporaryDirectory(prefix="arena-bench-board-") as tmp:
        db = Path(tmp) / "synthetic.db"
        trials = synthetic_results(db, submissions)
        started = time.perf_counter()
        store = Store(db)
        scoring.score(store.trials())
        store.close()
        standings = time.perf_counter() - started
        site = 0.0
        if build_site is not None:
            started = time.perf_counter()
            build_site(db, Path(tmp) / "site")
            site = time.perf_counter() - started
    detail = f"synthetic DB: {submissions} submissions x 120 metarl-v1 trials ({trials:,}); scoring {standings:.1f} s"
    return Figure(
        f"board_seconds_{submissions}", max(standings, site), detail + (f", site {site:.1f} s" if build_site else "")
    )


def run_bench(
    quick: bool = False,
    log: Callable[[str], None] = print,
    workers: int = 2,
    build_site: Callable[[Path, Path], Any] | None = None,
) -> list[Figure]:
    """``workers``: the parallel figures compare 1 worker with this many (the target is for 2);
    ``build_site``: the site builder (the CLI's), timed by the board figures."""
    import torch

    torch.set_num_threads(1)  # the same as each agent process gets
    repeats = 1 if quick else 3
    steps_1 = 20_000 if quick else 60_000
    steps_64 = 64 * (300 if quick else 1000)
    figures: list[Figure] = []
    spiel = "catch" if "catch" in games.families() else "bandit"
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        root = Path(tmp)
        single = _submission(root, "bench-stepper", "Stepper")
        vector = _submission(root, "bench-stepper64", "Stepper64")
        learner = _submission(root, "bench-ppo", "PPOLearner")
        meta = _submission(root, "bench-meta", "MetaStepper")
        runner = Runner(Limits())
        try:
            startups: list[float] = []

            def through(submission: Any, variant: str, steps: int) -> Callable[[], float]:
                def measure() -> float:
                    rate, startup = _proxy_steps_per_second(runner, submission, variant, steps)
                    startups.append(startup)
                    return rate

                return measure

            _proxy_steps_per_second(runner, single, "cartpole", 1000)  # start the worker once
            for variant in ("cartpole", spiel):
                log(f"proxy, 1 env: {variant}")
                ratio, ours, raw = _median_ratio(
                    through(single, variant, steps_1), partial(_raw_steps_per_second, variant, steps_1), repeats
                )
                figures.append(Figure("proxy_ratio_1", ratio, f"{variant}: {ours:,.0f} vs raw {raw:,.0f} steps/s"))
            _proxy_steps_per_second(runner, vector, "cartpole", 6400)
            for variant in ("cartpole", spiel):
                # The reference is the same 64-copy vector env in one process (Gymnasium's
                # SyncVectorEnv, which batches observations and infos as the proxy does). A bare
                # loop over 64 envs that batches nothing is the stricter figure in the detail.
                log(f"proxy, 64 envs: {variant}")
                ratios, bare_ratios, rates = [], [], []
                for _ in range(repeats):
                    ours = through(vector, variant, steps_64)()
                    sync = _raw_vector_steps_per_second(variant, steps_64, 64)
                    bare = _raw_steps_per_second(variant, steps_64, 64)
                    ratios.append(ours / sync)
                    bare_ratios.append(ours / bare)
                    rates.append((ours, sync, bare))
                ours, sync, bare = (statistics.median(column) for column in zip(*rates, strict=True))
                figures.append(
                    Figure(
                        "proxy_ratio_64",
                        statistics.median(ratios),
                        f"{variant}: {ours:,.0f} vs SyncVectorEnv {sync:,.0f} steps/s; vs a bare loop "
                        f"{bare:,.0f}: {statistics.median(bare_ratios):.2f}",
                    )
                )
            figures.append(
                Figure(
                    "trial_startup_s", statistics.median(startups), f"median of {len(startups)} trials, worker reused"
                )
            )

            log("SB3 PPO through the proxy vs on the raw env")
            sb3_steps = 2048 if quick else 8192

            def sb3_raw() -> float:
                return _sb3_raw_frames_per_second(sb3_steps, runner.limits)

            _proxy_steps_per_second(runner, learner, "cartpole", 512)  # import torch/SB3 in the worker once
            ratio, ours, raw = _median_ratio(through(learner, "cartpole", sb3_steps), sb3_raw, repeats)
            figures.append(Figure("sb3_ratio", ratio, f"PPO {ours:,.0f} vs raw {raw:,.0f} frames/s"))

            # Meta-training throughput: RL2 at the paper's budgets steps tens of millions of
            # env steps. Absolute steps/s in the detail, with the per-copy env server's figure.
            meta_steps = META_COPIES * (200 if quick else 1000)
            for family in META_FAMILIES:
                log(f"meta-training, {META_COPIES} independent tasks: {family}")
                per_copy = _metatrain_steps_per_second(runner, meta, family, meta_steps, batched=False)
                ratio, ours, raw = _median_ratio(
                    partial(_metatrain_steps_per_second, runner, meta, family, meta_steps, True),
                    partial(_raw_metatrain_steps_per_second, family, meta_steps),
                    repeats,
                )
                figures.append(
                    Figure(
                        "metatrain_steps_per_s",
                        ratio,
                        f"{family}: batched {ours:,.0f} vs SyncVectorEnv {raw:,.0f} steps/s "
                        f"(one env per copy through the harness: {per_copy:,.0f})",
                        judged=not quick,  # 51k steps: a fraction of a second, too little to judge
                    )
                )
        finally:
            runner.close()
        figures.extend(_gateway_figures(root, repeats, log))

    baselines = ["random"] if quick else None  # --quick shows the path works; the figure needs them all
    versus = f"1 worker vs {workers} workers"
    log(f"smoke suite, {'one baseline' if quick else 'all baselines'} as arena demo runs them: {versus}")
    smoke = _parallel_efficiency_smoke(baselines, workers)
    if quick:  # one baseline's few seconds of work: the figure shows the path works, not the speed-up
        smoke = [replace(f, judged=False) if f.name in TARGETS else f for f in smoke]
    figures.extend(smoke)
    # The random agent's trials are all hand-overs between two processes: one worker's pair
    # already keeps both of these 2 cores busy. A learner's trials compute.
    log(f"smoke suite, random agent, warm workers: {versus}")
    figures.append(_parallel_efficiency_warm(repeats, "random", "random", workers))
    log(f"smoke suite, ppo-scratch, warm workers: {versus}")
    figures.append(_parallel_efficiency_warm(repeats, "ppo-scratch", "ppo", workers))
    for submissions in (50,) if quick else (50, 200):
        log(f"a board of {submissions} submissions: scoring and the site")
        figures.append(_board_seconds(submissions, build_site))
    return figures


def _parallel_name(name: str, workers: int) -> str:
    """Figures at 2 workers keep their plain names (the target is for 2); others say their count."""
    return name if workers == 2 else f"{name}_{workers}"


def _parallel_efficiency_smoke(names: list[str] | None, workers: int = 2) -> list[Figure]:
    """A whole cold run of the baselines on smoke (``names``, or every one, as ``arena demo``
    runs them): meta-training and trials, runner processes and agent processs started from
    nothing, at 1 worker ÷ at ``workers``.

    With it, ``parallel_job_time``: the jobs' own seconds summed, at ``workers`` ÷ at 1. A job
    costs more where the machine has fewer than two cores per worker: each worker's pair of
    processes then shares one core and switches between address spaces twice per env step,
    where at 1 worker each had a core. Wall time at ``workers`` can be no less than that sum
    over ``workers``, which bounds the efficiency (the detail gives the bound)."""
    from arena import campaign
    from arena.harness.executors import LocalExecutor
    from arena.harness.executors.dispatch import usable_cores
    from arena.store import Store

    submissions = [load_submission(p) for p in baseline_folders() if names is None or p.name in names]
    suite = load_suite("smoke")
    wall: dict[int, float] = {}
    job_seconds: dict[int, float] = {}
    trials = 0
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        for count in (workers, 1):
            store = Store(Path(tmp) / f"smoke-{count}.db")
            started = time.perf_counter()
            summary = campaign.run(submissions, suite, "dev", store, LocalExecutor(count))
            wall[count] = time.perf_counter() - started
            job_seconds[count] = sum(r.wall_seconds or 0.0 for r in store.trials()) + sum(
                r.wall_seconds or 0.0 for r in store.meta_trains()
            )
            trials = summary.ran
            store.close()
    efficiency, job_time = _parallel_name("parallel_efficiency", workers), _parallel_name("parallel_job_time", workers)
    growth = job_seconds[workers] / job_seconds[1]
    return [
        Figure(
            efficiency,
            wall[1] / wall[workers],
            f"{len(submissions)} baselines, {trials} smoke trials and their meta-training, cold: "
            f"{wall[1]:.1f}s at 1 worker, {wall[workers]:.1f}s at {workers}",
        ),
        Figure(
            job_time,
            growth,
            f"jobs' own seconds summed: {job_seconds[1]:.1f} at 1 worker, {job_seconds[workers]:.1f} at {workers} "
            f"({len(usable_cores())} cores); the most {efficiency} can be is "
            f"{wall[1]:.1f}s / ({job_seconds[workers]:.1f}s / {workers}) = {wall[1] * workers / job_seconds[workers]:.2f}",
        ),
    ]


def _parallel_efficiency_warm(repeats: int, agent: str, short: str, workers: int = 2) -> Figure:
    """Smoke's trials of one baseline, wall time at 1 worker ÷ at ``workers``, each on an executor whose
    runner processes and agent processs are already up (trials stored as a run stores them)."""
    from arena import campaign
    from arena.harness.executors import LocalExecutor
    from arena.store import Store

    submission = load_submission(BASELINES / agent)
    suite = load_suite("smoke")
    jobs = campaign.plan_trials([submission], suite, "dev", None)
    times: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        executors = {count: LocalExecutor(count) for count in (1, workers)}
        try:
            for executor in executors.values():
                list(executor.run(jobs))  # start the runners and their agent processs
            for repeat in range(repeats):
                for count, executor in executors.items():
                    store = Store(Path(tmp) / f"warm-{count}-{repeat}.db")
                    store.add(campaign.submission_record(submission))
                    started = time.perf_counter()
                    for index, outcome in executor.run(jobs):
                        store.add(campaign.trial_record(jobs[index], outcome))
                    times[count].append(time.perf_counter() - started)
                    store.close()
        finally:
            for executor in executors.values():
                executor.shutdown()
    one, many = statistics.median(times[1]), statistics.median(times[workers])
    return Figure(
        _parallel_name(f"parallel_efficiency_{short}", workers),
        one / many,
        f"{agent} on smoke dev, warm: {one:.2f}s at 1 worker, {many:.2f}s at {workers}",
    )


def describe_cost_model() -> str:
    return textwrap.dedent(
        """\
        proxy ratios: env steps/s through the harness ÷ the same env stepped in this process
          (64 copies: Gymnasium's SyncVectorEnv; the detail gives the ratio to a bare loop too).
        trial_startup_s: from a trial's start to the agent's first env request, worker reused.
        sb3_ratio: SB3 PPO frames/s learning through the proxy ÷ on the raw env in a fresh process
          with the agent processs' torch threads and kernels.
        parallel_efficiency: smoke wall time at 1 worker ÷ at 2, the baselines as arena demo runs them,
          cold. parallel_job_time: the jobs' own seconds summed, at 2 workers ÷ at 1; above 1 where
          each worker's two processes share a core, which bounds parallel_efficiency (see its detail).
          _random and _ppo: one baseline's smoke trials on warm workers (the random agent's
          trials are all hand-overs between its two processes, ppo-scratch's compute)."""
    )
