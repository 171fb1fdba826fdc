"""The text track through the real harness: text observations, string moves, and the model
gateway's token budgets, with the real embedded model (SmolLM2-135M through llama-cpp-python's
OpenAI-compatible server) and real sandboxed agent processes. No model is mocked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena import campaign
from arena.campaign import ModelEndpoint
from arena.harness.executors import LocalExecutor
from arena.harness.limits import Limits
from arena.store import Store
from arena.submission import BASELINES, load_submission
from arena.suites import load_suite

FAST = Limits(setup_seconds=5.0, load_seconds=60.0)
ROOT = Path(__file__).resolve().parents[2]

TEXT_SUITE = """
[suite]
name = "tiny-text"
version = 1
description = "A tiny text suite for tests."
text = true
budgets = [0, 12]
token_budgets = [0, {adapt_tokens}]
adapt_seconds = [10, 120]
seeds = 1
eval_episodes = 2
eval_tokens = {eval_tokens}
eval_seconds = 300
meta_train_steps = 0
meta_train_seconds = 60
dev_seed = 7

[families.rps]
interpolation = 1
[families.rps.train]
actions = 3
rounds = 5
task = [0, 1000]
concentration = 0.3
"""


ADAPT_TOKENS, EVAL_TOKENS = 3000, 2000  # room for a baseline's prompts: ~300 tokens a move


@pytest.fixture
def text_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-text.toml"
    path.write_text(TEXT_SUITE.format(adapt_tokens=ADAPT_TOKENS, eval_tokens=EVAL_TOKENS))
    return path


@pytest.fixture
def tight_text_suite(tmp_path: Path) -> Path:
    """Room for a few short calls only: 300 tokens to adapt, 200 per evaluation episode."""
    path = tmp_path / "tight-text.toml"
    path.write_text(TEXT_SUITE.format(adapt_tokens=300, eval_tokens=200))
    return path


@pytest.fixture(scope="module")
def embedded() -> Iterator[ModelEndpoint]:
    from arena import llm

    try:
        model = llm.EmbeddedModel(threads=1)
    except llm.ModelError as exc:
        if os.environ.get("ARENA_REQUIRE_LLM") == "1":  # scripts/test.sh (and CI) installed it
            pytest.fail(f"the embedded model cannot start: {exc}")
        pytest.skip(f"the embedded model cannot start here: {exc}")
    try:
        yield ModelEndpoint(url=model.url, name=model.name)
    finally:
        model.close()


def run_suite(folders: list[Path], suite_path: Path, db: Path, model: ModelEndpoint | None = None) -> list:
    suite = load_suite(str(suite_path))
    store = Store(db)
    try:
        campaign.run([load_submission(f) for f in folders], suite, "dev", store, LocalExecutor(1, FAST), model=model)
        return sorted(store.trials(), key=lambda r: (r.submission, r.budget))
    finally:
        store.close()


OVERSPENDER = """
import arena

class Agent(arena.Agent):
    '''Calls the model until the gateway refuses, in adaptation and in every evaluation move.'''

    def adapt(self, env):
        env.reset(seed=0)
        while True:                       # never stops by itself: the token budget stops it
            self.spec.llm.chat([{"role": "user", "content": "Say rock, paper or scissors."}], max_tokens=4)

    def act(self, observation, info):
        while True:                       # BudgetExhausted escapes act: the move is forfeit
            self.spec.llm.chat([{"role": "user", "content": "Say rock."}], max_tokens=4)
"""


def test_an_agent_that_calls_the_model_past_its_budget_is_refused_and_the_cap_holds(
    write_submission, tight_text_suite, tmp_path, embedded
) -> None:
    folder = write_submission("overspender", OVERSPENDER)
    trials = run_suite([folder], tight_text_suite, tmp_path / "r.db", embedded)
    assert [t.status for t in trials] == ["ok", "ok"]
    adapted = next(t for t in trials if t.budget == 12)
    # Adaptation may use 300 tokens, each of 2 evaluation episodes 200: never more, and the
    # agent that never stops by itself used most of each (a call costs under 60 tokens here).
    assert adapted.tokens_used <= 300 + 2 * 200
    assert adapted.tokens_used > 300 - 60 + 2 * (200 - 60)
    assert adapted.llm_calls >= 8
    assert adapted.model == embedded.name
    zero_shot = next(t for t in trials if t.budget == 0)
    assert 2 * (200 - 60) < zero_shot.tokens_used <= 2 * 200
    # Out of tokens, each episode's first move was forfeit: both games lost (5 rounds at -1).
    assert zero_shot.unparsable_answers == 2 and zero_shot.illegal_answers == ("", "")
    assert zero_shot.episode_returns == (-5.0, -5.0)


BABBLER = """
import arena

class Agent(arena.Agent):
    def adapt(self, env):
        obs, info = env.reset(seed=0)
        while True:
            obs, r, term, trunc, info = env.step(info["legal_actions"][0])   # a legal name: played
            if term or trunc:
                obs, info = env.reset()

    def act(self, observation, info):
        assert isinstance(info["text"], str) and info["text"]
        return "This puzzle involves probability and careful thought."
"""


def test_an_unparsable_answer_is_an_illegal_move_recorded_with_the_answer(
    write_submission, text_suite, tmp_path
) -> None:
    folder = write_submission("babbler", BABBLER)
    trials = run_suite([folder], text_suite, tmp_path / "r.db")
    for trial in trials:
        assert trial.status == "ok"  # a bad answer loses the episode; the trial itself is fine
        assert trial.unparsable_answers == 2  # one per evaluation episode: the first answer ends it
        assert trial.illegal_answers == ("This puzzle involves probability and careful thought.",) * 2
        assert trial.episode_returns == (-5.0, -5.0)  # the game forfeit: its 5 rounds lost
    assert next(t for t in trials if t.budget == 12).steps_used == 12  # the legal names were played


VECTOR_NAMES = """
import numpy as np
import arena

class Agent(arena.Agent):
    num_envs = 3

    def adapt(self, env):
        obs, info = env.reset(seed=0)
        while True:
            names = [info["legal_actions"][i][-1] for i in range(3)]   # each copy's own legal list
            obs, r, term, trunc, info = env.step(names)
            assert len(info["text"]) == 3

    def act(self, observation, info):
        return info["legal_actions"][1]
"""


def test_string_moves_work_through_a_vector_proxy(write_submission, text_suite, tmp_path) -> None:
    folder = write_submission("vector-names", VECTOR_NAMES)
    trials = run_suite([folder], text_suite, tmp_path / "r.db")
    assert [t.status for t in trials] == ["ok", "ok"]
    assert all(t.unparsable_answers == 0 for t in trials)
    assert next(t for t in trials if t.budget == 12).steps_used == 12


def test_a_string_move_on_a_suite_that_is_not_text_is_an_invalid_action(write_submission, tiny_suite, tmp_path) -> None:
    folder = write_submission(
        "says-left", "import arena\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        return 'left'\n"
    )
    suite = load_suite(str(tiny_suite))
    store = Store(tmp_path / "r.db")
    only = [p for p in suite.families if p.family == "cartpole"]
    import dataclasses

    suite = dataclasses.replace(suite, families=tuple(only), budgets=(0,), adapt_seconds=(5.0,))
    campaign.run([load_submission(folder)], suite, "dev", store, LocalExecutor(1, FAST))
    statuses = {t.status for t in store.trials()}
    store.close()
    assert statuses == {"error"} or statuses == {"invalid_action"}


def test_language_model_agents_play_text_suites_only() -> None:
    smoke = load_suite("smoke")
    llm_agents = [load_submission(BASELINES / name) for name in ("llm-history", "llm-summary")]
    assert campaign.plan_trials(llm_agents, smoke, "dev") == []
    text = load_suite("text-v1")
    jobs = campaign.plan_trials(llm_agents, text, "dev", model=ModelEndpoint("http://x/v1", "m"))
    assert jobs and {j.model for j in jobs} == {"m"}


def test_llm_summary_plays_through_the_embedded_model_within_its_budgets(text_suite, tmp_path, embedded) -> None:
    trials = run_suite([BASELINES / "llm-summary"], text_suite, tmp_path / "r.db", embedded)
    assert [t.status for t in trials] == ["ok", "ok"]
    for trial in trials:
        assert 0 < trial.tokens_used <= (ADAPT_TOKENS if trial.budget else 0) + 2 * EVAL_TOKENS
        assert trial.llm_calls >= 10  # a call a move: 5 rounds x 2 episodes
        assert trial.unparsable_answers == 0  # constrained decoding answers a legal move


NETWORK_PROBE = """
import socket
import arena

PORT = {port}

class Agent(arena.Agent):
    def __init__(self, spec):
        super().__init__(spec)
        self.verdict = "unknown"

    def adapt(self, env):
        self.spec.llm.chat([{{"role": "user", "content": "Hello"}}], max_tokens=4)   # the gateway works
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
            self.verdict = "NETWORK-OPEN"
        except OSError as exc:
            self.verdict = "NETWORK-BLOCKED " + type(exc).__name__
        raise arena.BudgetExhausted("done")

    def act(self, observation, info):
        return self.verdict   # names no move: the harness records it verbatim
"""


@pytest.mark.needs_sandbox
def test_a_sandboxed_agent_using_the_gateway_still_has_no_network(
    write_submission, text_suite, tmp_path, embedded
) -> None:
    port = int(embedded.url.split(":")[-1].split("/")[0])
    folder = write_submission("network-probe", NETWORK_PROBE.format(port=port))
    trials = run_suite([folder], text_suite, tmp_path / "r.db", embedded)
    adapted = next(t for t in trials if t.budget == 12)
    assert adapted.status == "ok" and adapted.llm_calls == 1, adapted.error
    assert adapted.illegal_answers[0].startswith("NETWORK-BLOCKED"), adapted.illegal_answers


ASKS_ONCE = """
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        return self.spec.llm.chat([{"role": "user", "content": "Say rock."}], max_tokens=4)
"""


def test_an_unreachable_model_server_is_a_recorded_gateway_error(write_submission, text_suite, tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    dead = ModelEndpoint(url=f"http://127.0.0.1:{port}/v1", name="nowhere")
    trials = run_suite([write_submission("asks-once", ASKS_ONCE)], text_suite, tmp_path / "r.db", dead)
    assert trials and {t.status for t in trials} == {"error"}
    assert all(t.error.startswith("model gateway:") and "\n" not in t.error for t in trials), trials[0].error


@pytest.fixture(scope="module")
def http_server(embedded) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server on loopback, with the same small model."""
    from arena.llm import default_model_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "1", "--n_ctx", "2048", "--model_alias", "smol-http"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


def test_arena_run_with_llm_speaks_to_a_real_openai_compatible_server(text_suite, tmp_path, http_server) -> None:
    db = tmp_path / "r.db"
    command = [sys.executable, "-m", "arena.cli", "run", str(BASELINES / "llm-history"), "--suite", str(text_suite),
               "--llm", http_server, "--llm-model", "smol-http", "--db", str(db), "-w", "1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store(db)
    trials = store.trials()
    store.close()
    assert trials and {t.model for t in trials} == {"smol-http"} and {t.status for t in trials} == {"ok"}
    assert all(0 < t.tokens_used <= (ADAPT_TOKENS if t.budget else 0) + 2 * EVAL_TOKENS for t in trials)
    assert all("--llm MODEL_SERVER_URL --llm-model smol-http" in t.command for t in trials)
    listing = subprocess.run(
        [sys.executable, "-m", "arena.cli", "results", "--db", str(db), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert json.loads(listing.stdout)
