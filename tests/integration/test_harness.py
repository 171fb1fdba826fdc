"""The trial runner with real worker processes, real envs and real SQLite: budgets and failures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from arena import campaign
from arena.harness.executors import LocalExecutor
from arena.harness.jobs import TrialJob
from arena.harness.limits import Limits, portable_numerics_env
from arena.harness.runner import Runner
from arena.store import Store
from arena.submission import load_submission
from arena.suites import Suite, load_suite

FAST = Limits(setup_seconds=2.0, load_seconds=30.0)


def job_for(folder: Path, suite: Suite, budget: int, family: str = "cartpole", seed: int = 0) -> TrialJob:
    tv = next(tv for tv in suite.variants("dev") if tv.family == family)
    seconds = suite.adapt_seconds[suite.budgets.index(budget)] if budget in suite.budgets else 2.0
    return TrialJob(
        submission=load_submission(folder),
        suite=suite,
        split="dev",
        variant=tv.variant.id,
        group=tv.group,
        budget=budget,
        adapt_seconds=seconds,
        seed=seed,
        split_seed=suite.dev_seed,
    )


def run_one(folder: Path, suite: Suite, budget: int = 60, family: str = "cartpole"):
    runner = Runner(FAST)
    try:
        return runner.run_trial(job_for(folder, suite, budget, family))
    finally:
        runner.close()


GREEDY_STEPPER = """
import arena

class Agent(arena.Agent):
    def adapt(self, env):
        stepped = 0
        for attempt in range(1000):       # ignores BudgetExhausted and keeps going
            try:
                obs, info = env.reset()
                done = False
                while not done:
                    obs, r, term, trunc, info = env.step(env.action_space.sample())
                    stepped += 1
                    done = term or trunc
            except arena.BudgetExhausted:
                continue
        open("stepped.txt", "w").write(str(stepped))

    def act(self, observation, info):
        return 0
"""


def test_budget_is_never_exceeded_even_when_the_agent_ignores_it(write_submission, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission("greedy", GREEDY_STEPPER), suite, budget=60)
    assert outcome.status == "ok", outcome.error
    assert outcome.steps_used == 60


VECTOR_STEPPER = """
import numpy as np
import arena

class Agent(arena.Agent):
    num_envs = 7                          # 60 is not a multiple of 7: the last 4 steps don't fit

    def adapt(self, env):
        assert env.num_envs == 7
        obs, info = env.reset(seed=3)
        assert obs.shape == (7, 4)
        truncated_seen = False
        while True:
            try:
                obs, r, term, trunc, info = env.step(np.zeros(7, dtype=np.int64))
            except arena.BudgetExhausted:
                break
            truncated_seen = bool(trunc.all())
        assert truncated_seen, "the last granted step must come back truncated"

    def act(self, observation, info):
        return 1
"""


def test_vector_env_counts_every_copy_and_truncates_the_last_step(write_submission, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission("vector", VECTOR_STEPPER), suite, budget=60)
    assert outcome.status == "ok", outcome.error
    assert outcome.steps_used == 56  # 8 vector steps of 7 copies; a 9th would pass 60


@pytest.mark.parametrize(
    ("name", "code", "status", "text"),
    [
        ("import_error", "raise RuntimeError('boom at import')\n", "error", "boom at import"),
        ("syntax_error", "def broken(:\n", "error", "SyntaxError"),
        ("missing_class", "x = 1\n", "error", "has no class 'Agent'"),
        (
            "adapt_raises",
            "import arena\nclass Agent(arena.Agent):\n    def adapt(self, env):\n        raise ValueError('adapt broke')\n    def act(self, o, i):\n        return 0\n",
            "error",
            "adapt broke",
        ),
        (
            "act_raises",
            "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        raise KeyError('act broke')\n",
            "error",
            "act broke",
        ),
        (
            "adapt_sleeps",
            "import time, arena\nclass Agent(arena.Agent):\n    def adapt(self, env):\n        time.sleep(3600)\n    def act(self, o, i):\n        return 0\n",
            "timeout",
            "adaptation",
        ),
        (
            "act_loops",
            "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        while True:\n            pass\n",
            "timeout",
            "evaluation",
        ),
        (
            "act_out_of_range",
            "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        return 7\n",
            "invalid_action",
            "outside",
        ),
        (
            "act_nan",
            "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        return float('nan')\n",
            "invalid_action",
            "integer",
        ),
        (
            "act_string",
            "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        return 'left'\n",
            "error",
            "numeric",
        ),
        (
            "adapt_invalid",
            "import arena\nclass Agent(arena.Agent):\n    def adapt(self, env):\n        env.reset()\n        env.step(-3)\n    def act(self, o, i):\n        return 0\n",
            "invalid_action",
            "outside",
        ),
        (
            "exit_mid_step",
            "import os, arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        os._exit(3)\n",
            "error",
            "exited with code 3",
        ),
        (
            "allocates",
            "import arena\nclass Agent(arena.Agent):\n    def adapt(self, env):\n        self.hog = bytearray(50 * 1024**3)\n    def act(self, o, i):\n        return 0\n",
            "oom",
            "MemoryError",
        ),
    ],
)
def test_agent_failures_become_statuses(write_submission, tiny_suite, name, code, status, text) -> None:
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission(name, code), suite, budget=60)
    assert outcome.status == status, outcome.error
    assert text in (outcome.error or "")
    assert outcome.eval_return is None


def test_failures_do_not_stop_the_run_and_the_db_stays_readable(write_submission, tiny_suite, tmp_path) -> None:
    suite = load_suite(str(tiny_suite))
    crashy = write_submission(
        "crashy",
        # Fails only on the bandit family: the cartpole trials of the same run must still succeed.
        "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n"
        "        if self.spec.family == 'bandit':\n            raise RuntimeError('no bandits')\n        return 0\n",
    )
    store = Store(tmp_path / "r.db")
    summary = campaign.run([load_submission(crashy)], suite, "dev", store, LocalExecutor(1, FAST))
    rows = store.trials()
    assert summary.ran == len(rows) == 8
    by_family = {(r.family, r.status) for r in rows}
    assert by_family == {("cartpole", "ok"), ("bandit", "error")}
    assert all(r.normalized_score == 0.0 for r in rows if r.status == "error")
    assert all(math.isfinite(r.eval_return) for r in rows if r.status == "ok")


def test_random_agent_is_deterministic(tmp_path, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    random_agent = Path(__file__).resolve().parents[2] / "submissions" / "random"
    returns = []
    for attempt in range(2):
        store = Store(tmp_path / f"d{attempt}.db")
        campaign.run([load_submission(random_agent)], suite, "dev", store, LocalExecutor(2 - attempt, FAST))
        returns.append({(r.variant, r.budget, r.seed): r.eval_return for r in store.trials()})
    assert returns[0] == returns[1]
    assert len(returns[0]) == 8
    # Different seeds see different evaluation episodes.
    assert len({v for (variant, budget, seed), v in returns[0].items() if variant.startswith("cartpole")}) > 1


def test_meta_training_runs_once_and_its_checkpoint_is_loaded(write_submission, tiny_suite, tmp_path) -> None:
    text = tiny_suite.read_text().replace("meta_train_steps = 0", "meta_train_steps = 300\nmeta_train_seconds = 20")
    tiny_suite.write_text(text)
    suite = load_suite(str(tiny_suite))
    folder = write_submission(
        "meta",
        """
        import arena

        class Agent(arena.Agent):
            def meta_train(self, tasks):
                self.steps = 0
                while True:
                    env = tasks.sample()
                    env.reset()
                    for _ in range(50):
                        _, _, term, trunc, _ = env.step(0)
                        self.steps += 1
                        if term or trunc:
                            break
                    env.close()

            def save(self, path):
                (path / "steps.txt").write_text(str(self.steps))

            def load(self, path):
                self.loaded = int((path / "steps.txt").read_text())

            def act(self, observation, info):
                assert self.loaded > 0, "checkpoint was not loaded"
                return 0
        """,
    )
    store = Store(tmp_path / "m.db")
    summary = campaign.run([load_submission(folder)], suite, "dev", store, LocalExecutor(1, FAST))
    assert summary.statuses == {"ok": 8}, store.trials()[0].error
    metas = store.meta_trains()
    assert {m.family for m in metas} == {"cartpole", "bandit"}
    assert all(m.status == "ok" and 0 < m.steps_used <= 300 for m in metas)


def test_an_agent_without_meta_train_is_recorded_skipped_with_the_time_its_worker_took(
    write_submission, tiny_suite, tmp_path
) -> None:
    tiny_suite.write_text(tiny_suite.read_text().replace("meta_train_steps = 0", "meta_train_steps = 300"))
    folder = write_submission(
        "plain", "import arena\n\nclass Agent(arena.Agent):\n    def act(self, observation, info):\n        return 0\n"
    )
    store = Store(tmp_path / "s.db")
    summary = campaign.run([load_submission(folder)], load_suite(str(tiny_suite)), "dev", store, LocalExecutor(1, FAST))
    assert summary.statuses == {"ok": 8}
    metas = sorted(store.meta_trains(), key=lambda m: m.family)
    assert [(m.family, m.status, m.checkpoint) for m in metas] == [
        ("bandit", "skipped", None),
        ("cartpole", "skipped", None),
    ]
    # The first job of a submission starts its agent worker: a real cost, not 0 s.
    assert max(m.wall_seconds for m in metas) > 0.05


REWARD_WATCHER = """
import arena

class Agent(arena.Agent):
    def __init__(self, spec):
        super().__init__(spec)
        self.log, self.episodes = [], 0

    def reset(self):
        self.episodes += 1

    def act(self, observation, info):
        self.log.append((self.episodes, info.get("reward")))
        if self.episodes == 2 and len([e for e, _ in self.log if e == 2]) == 2:
            raise RuntimeError(f"LOG {self.log!r}")
        return 0
"""


def test_evaluation_passes_the_previous_reward_in_info(write_submission, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission("watcher", REWARD_WATCHER), suite, budget=0)
    assert outcome.status == "error" and "LOG " in (outcome.error or "")
    log = eval(outcome.error.rsplit("LOG ", 1)[1].splitlines()[0])  # the repr of a list, from the traceback
    first_episode = [reward for episode, reward in log if episode == 1]
    second_episode = [reward for episode, reward in log if episode == 2]
    assert first_episode[0] is None, "no action has been paid for before the evaluation's first step"
    assert first_episode[1:] == [1.0] * (len(first_episode) - 1)  # cartpole pays 1 per step
    assert second_episode == [1.0, 1.0], "an episode's first step still carries the last reward of the one before"


WHERE_AM_I = """
import arena, baselines

class Agent(arena.Agent):
    def act(self, observation, info):
        raise RuntimeError(f"FROM {arena.__file__} {baselines.__file__}")
"""


def test_worker_imports_the_checkout_the_harness_hashed(write_submission, tiny_suite, tmp_path) -> None:
    """A checkout on PYTHONPATH wins over the editable install, in the worker too: else a
    submission that includes `baselines` would run other code than its hash was taken of."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT

    copy = tmp_path / "checkout"
    for package in ("arena", "games", "baselines"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    folder = write_submission("where", WHERE_AM_I)
    script = (
        "import sys\n"
        "from arena.harness.jobs import TrialJob\n"
        "from arena.harness.limits import Limits\n"
        "from arena.harness.runner import Runner\n"
        "from arena.submission import load_submission\n"
        "from arena.suites import load_suite\n"
        f"suite = load_suite({str(tiny_suite)!r})\n"
        "tv = next(tv for tv in suite.variants('dev') if tv.family == 'cartpole')\n"
        f"job = TrialJob(submission=load_submission({str(folder)!r}), suite=suite, split='dev', variant=tv.variant.id, group=tv.group, budget=0, adapt_seconds=2.0, seed=0, split_seed=suite.dev_seed)\n"
        "runner = Runner(Limits(setup_seconds=2.0, load_seconds=30.0))\n"
        "print(runner.run_trial(job).error)\n"
        "runner.close()\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    line = result.stdout.rsplit("FROM ", 1)[1].split()
    assert line[0] == str(copy / "arena" / "__init__.py")
    assert line[1] == str(copy / "baselines" / "__init__.py")


VECTOR_ENDINGS = """
import numpy as np
import arena

class Agent(arena.Agent):
    num_envs = 4

    def adapt(self, env):
        obs, info = env.reset(seed=1)
        endings = 0
        for _ in range(12):                    # action 0 topples every pole within ~10 steps
            obs, r, term, trunc, info = env.step(np.zeros(4, dtype=np.int64))
            ended = term | trunc
            if not ended.any():
                assert "_final_obs" not in info
                continue
            endings += int(ended.sum())
            assert np.array_equal(info["_final_obs"], ended), (info["_final_obs"], ended)
            final = info["final_obs"]
            assert final.shape == (4, 4) and final.dtype == obs.dtype
            for i in range(4):
                if ended[i]:   # the last obs of the episode: the pole is down, the next obs is fresh
                    assert abs(final[i][2]) > 0.2 or abs(final[i][0]) > 2.4, final[i]
                    assert np.abs(obs[i]).max() <= 0.05, obs[i]
                else:
                    assert not final[i].any()
        assert endings > 0
        raise RuntimeError(f"ENDINGS {endings}")

    def act(self, observation, info):
        return 0
"""


def test_vector_env_reports_finished_episodes_in_gymnasium_same_step_layout(write_submission, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission("endings", VECTOR_ENDINGS), suite, budget=60)
    assert outcome.status == "error" and "ENDINGS " in (outcome.error or ""), outcome.error


NUMERICS = """
import os
import torch
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        raise RuntimeError(f"KERNELS {torch.backends.cpu.get_cpu_capability()} {os.environ.get('MKL_CBWR')}")
"""


@pytest.mark.skipif(not portable_numerics_env(), reason="portable numerics pin AVX2 kernels on x86 CPUs that have AVX2")
def test_agents_compute_with_the_avx2_kernels_unless_told_otherwise(write_submission, tiny_suite) -> None:
    """Same results on every x86 CPU with AVX2: MKL and PyTorch take their AVX2 kernels, also
    where AVX-512 is there (an RL^2 meta-training's score moved from 0.78 to 0.48 with them)."""
    folder = write_submission("kernels", NUMERICS)
    suite = load_suite(str(tiny_suite))
    seen = {}
    for portable in (True, False):
        runner = Runner(Limits(setup_seconds=2.0, load_seconds=30.0, portable_numerics=portable))
        tv = next(tv for tv in suite.variants("dev") if tv.family == "cartpole")
        try:
            outcome = runner.run_trial(
                TrialJob(
                    submission=load_submission(folder),
                    suite=suite,
                    split="dev",
                    variant=tv.variant.id,
                    group=tv.group,
                    budget=0,
                    adapt_seconds=2.0,
                    seed=0,
                    split_seed=suite.dev_seed,
                )
            )
        finally:
            runner.close()
        seen[portable] = outcome.error.rsplit("KERNELS ", 1)[1].split()[:2]
    assert seen[True] == ["AVX2", "AVX2"]
    assert seen[False][1] == "None"  # not pinned: the library picks (AVX512 where the CPU has it)


LIAR = """
import arena

class Agent(arena.Agent):
    '''Pulls an arm the variant does not have (it pays nothing) and tells itself it earned 1 each time.'''
    def adapt(self, env):
        self.claimed = 0.0
        obs, info = env.reset()
        dead = len(info["action_mask"]) - 1
        step = env.step
        def lying_step(action):
            obs, reward, terminated, truncated, info = step(action)
            return obs, 1.0, terminated, truncated, info
        env.step = lying_step
        while True:
            obs, reward, terminated, truncated, info = env.step(dead)
            self.claimed += reward
            if terminated or truncated:
                obs, info = env.reset()

    def act(self, observation, info):
        return 0
"""


def test_adapt_return_is_counted_by_the_harness_not_the_agent(write_submission, tiny_suite) -> None:
    """What an agent earns while adapting is summed by the env server from the steps it served:
    an agent that lies to itself about its rewards cannot change it."""
    suite = load_suite(str(tiny_suite))
    outcome = run_one(write_submission("liar", LIAR), suite, budget=60, family="bandit")
    assert outcome.status == "ok", outcome.error
    assert outcome.steps_used == 60 and outcome.adapt_return == 0.0
    honest = run_one(write_submission("honest", GREEDY_STEPPER), suite, budget=60, family="bandit")
    assert honest.status == "ok" and honest.steps_used == 60 and honest.adapt_return is not None
    assert 0 < honest.adapt_return <= 60  # Bernoulli rewards of the steps it really took


HOG = """
import arena
class Agent(arena.Agent):
    def adapt(self, env):
        hog = []
        while True:  # memory really written, page by page, so the cgroup counts it
            hog.append(b"x" * (32 * 1024**2))
    def act(self, o, i):
        return 0
"""
CALM = "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        return 0\n"


def test_a_cgroup_memory_cap_holds_and_ends_the_trial_oom(write_submission, tiny_suite) -> None:
    """The cap GPU agent processes get instead of RLIMIT_AS (which breaks CUDA): a cgroup's memory
    limit. Here asked for on the CPU, where this machine has a cgroup memory controller."""
    from arena.harness.memory import cgroup_cap

    probe = cgroup_cap(1 << 30)
    if probe is None:
        pytest.skip("no cgroup memory controller the harness may use here")
    probe.remove()
    suite = load_suite(str(tiny_suite))
    runner = Runner(Limits(setup_seconds=5.0, load_seconds=60.0, memory_cap="cgroup", memory_bytes=300 * 1024**2))
    try:
        agent = runner.agent(load_submission(write_submission("hog", HOG)))
        assert agent.cap.kind == "cgroup" and agent.cap.path is not None and agent.cap.path.is_dir()
        outcome = runner.run_trial(job_for(write_submission("hog2", HOG), suite, 60))
        assert outcome.status == "oom", outcome.error
        assert outcome.memory_cap == "cgroup" and "cgroup" in (outcome.error or "")
    finally:
        runner.close()
    assert not agent.cap.path.exists()  # the cgroup goes with its process


def test_the_rlimit_stays_the_cap_of_cpu_agent_processes(write_submission, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    runner = Runner(Limits(setup_seconds=5.0, load_seconds=60.0, memory_bytes=1024**3))
    try:
        outcome = runner.run_trial(job_for(write_submission("plain", HOG), suite, 60))
        calm = runner.run_trial(job_for(write_submission("calm", CALM), suite, 60))
    finally:
        runner.close()
    assert outcome.status == "oom" and outcome.memory_cap == "rlimit" and "MemoryError" in (outcome.error or "")
    assert calm.status == "ok" and calm.memory_cap == "rlimit" and calm.device == "cpu"  # as the agent process says


def test_a_checkpoint_folder_is_never_the_working_folder() -> None:
    """``Path("")`` is the working folder: replacing it whole would delete it (a test once did)."""
    from arena.harness.checkpoints import check_destination

    for path in (Path(""), Path("."), Path.cwd(), Path.cwd().parent):
        with pytest.raises(ValueError, match="working folder"):
            check_destination(path)
    assert check_destination(Path.cwd() / "x" / "checkpoint") == Path.cwd() / "x" / "checkpoint"
