"""The cross-play ladder with real submission folders, real workers, real envs and real SQLite.

Three hand-made deterministic rock-paper-scissors agents (always rock, always paper, always
scissors) form a known cycle; a fourth, which plays what beats its opponent's previous move,
beats all three. The ladder runs once per module (rps variant with 5 rounds, 2 games a match,
3 adaptation steps against the variant's own biased mix, 1 seed); the tests read its results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import games
from arena.harness.limits import Limits
from arena.ladder import match as ladder
from arena.ladder import ratings
from arena.store import Store
from arena.submission import Submission, load_submission
from arena.suites import Suite, load_suite

ROOT = Path(__file__).resolve().parents[2]
FAST = Limits(setup_seconds=5.0, load_seconds=30.0)

DUEL_SUITE = """
[suite]
name = "duel"
version = 1
description = "ladder test suite"
budgets = [0, 3]
adapt_seconds = [5, 5]
seeds = 1
eval_episodes = 2
eval_seconds = 10
meta_train_steps = 0
dev_seed = 11

[families.rps]
interpolation = 1
[families.rps.train]
actions = 3
rounds = 5
task = [0, 1000]
concentration = 1.0

[families.bandit]
interpolation = 1
[families.bandit.train]
arms = 3
task = 1
horizon = 10
"""

FIXED_MOVE = """
import arena

class Agent(arena.Agent):
    def adapt(self, env):                      # spends the 3 steps: the trial's own adaptation
        env.reset()
        while True:
            obs, reward, terminated, truncated, info = env.step({move})
            if terminated or truncated:
                break

    def act(self, observation, info):
        return {move}
"""

COUNTER = """
import numpy as np
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        theirs = int(np.argmax(observation[:6]))  # the opponent's previous move; 5 = none yet
        return 0 if theirs == 5 else (theirs + 1) % 3  # paper beats rock, scissors paper, rock scissors
"""

ROCK, PAPER, SCISSORS = 0, 1, 2


def write_agent(root: Path, name: str, code: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "submission.toml").write_text(
        f'[submission]\nname = "{name}"\nversion = "1.0"\nauthors = ["Test"]\nentry = "agent:Agent"\n'
    )
    (folder / "agent.py").write_text(textwrap.dedent(code))
    return folder


class Ladder:
    def __init__(self, db: Path, suite: Suite, subs: dict[str, Submission], summary: ladder.LadderSummary):
        self.db, self.suite, self.subs, self.summary = db, suite, subs, summary

    def matches(self) -> list[dict[str, Any]]:
        store = Store(self.db, create=False)
        try:
            return store.matches("duel")
        finally:
            store.close()

    def hashes(self, *names: str) -> list[str]:
        return [self.subs[n].hash for n in names]


@pytest.fixture(scope="module")
def rps_ladder(tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    root = tmp_path_factory.mktemp("ladder")
    (root / "duel.toml").write_text(DUEL_SUITE)
    suite = load_suite(str(root / "duel.toml"))
    folders = {
        "rock": write_agent(root, "rock", FIXED_MOVE.format(move=ROCK)),
        "paper": write_agent(root, "paper", FIXED_MOVE.format(move=PAPER)),
        "scissors": write_agent(root, "scissors", FIXED_MOVE.format(move=SCISSORS)),
        "counter": write_agent(root, "counter", COUNTER),
    }
    subs = {name: load_submission(folder) for name, folder in folders.items()}
    store = Store(root / "arena.db")
    try:
        summary = ladder.run_ladder(list(subs.values()), suite, store, limits=FAST)
    finally:
        store.close()
    return Ladder(root / "arena.db", suite, subs, summary)


def test_plan_covers_every_pair_on_two_player_variants_only(rps_ladder: Ladder) -> None:
    suite = rps_ladder.suite
    variants = ladder.ladder_variants(suite)
    assert [v.family for v in variants] == ["rps"]  # bandit has one player: not in the ladder
    assert ladder.ladder_budget(suite) == (3, 5.0)  # the smallest non-zero budget
    # rps has no seat: one seating; 4 submissions = 6 pairs; 1 seed
    assert rps_ladder.summary.planned == 6
    assert rps_ladder.summary.ran == 6 and rps_ladder.summary.statuses == {"ok": 6}
    matches = rps_ladder.matches()
    assert len(matches) == 6
    for match in matches:
        assert match.status == "ok" and match.games == 2
        assert match.submission_a_hash < match.submission_b_hash  # one key per pair
        assert match.budget == 3
    fixed = {rps_ladder.subs[n].hash for n in ("rock", "paper", "scissors")}
    for match in matches:  # the fixed agents spent the trial's adaptation budget; counter defines no adapt
        for side in ("a", "b"):
            assert getattr(match, f"steps_{side}") == (3 if getattr(match, f"submission_{side}_hash") in fixed else 0)


def test_cycle_gives_the_hand_computed_payoffs_and_uniform_alpha_rank(rps_ladder: Ladder) -> None:
    hashes = rps_ladder.hashes("rock", "paper", "scissors")
    payoff, counts, game_counts = ratings.payoff_matrix(rps_ladder.matches(), hashes)
    expected = np.array(
        [
            [0.5, 0.0, 1.0],  # rock: loses to paper, beats scissors
            [1.0, 0.5, 0.0],  # paper: beats rock, loses to scissors
            [0.0, 1.0, 0.5],  # scissors: loses to rock, beats paper
        ]
    )
    np.testing.assert_array_equal(payoff, expected)
    assert counts[0, 1] == 1 and game_counts[0, 1] == 2
    np.testing.assert_allclose(ratings.alpha_rank(payoff), [1 / 3, 1 / 3, 1 / 3], atol=1e-9)
    by_hash = {m.submission_a_hash + m.submission_b_hash: m for m in rps_ladder.matches()}
    rock, paper = hashes[0], hashes[1]
    match = by_hash.get(rock + paper) or by_hash[paper + rock]
    rock_is_a = match.submission_a_hash == rock
    assert match.returns_a == ((-5.0, -5.0) if rock_is_a else (5.0, 5.0))  # 5 rounds, paper wins each


def test_dominant_agent_ranks_first_in_alpha_rank_and_rating(rps_ladder: Ladder) -> None:
    (table,) = ratings.ladder_tables(rps_ladder.matches())
    first = table.standings[0]
    assert first.name == "counter"
    assert first.alpha_mass > 0.99
    assert first.ordinal == max(p.ordinal for p in table.standings)
    assert first.mu == max(p.mu for p in table.standings)
    assert (first.wins, first.draws, first.losses, first.matches) == (6, 0, 0, 3)
    assert all(p.sigma < 25 / 3 for p in table.standings)  # every rating carries its uncertainty
    assert table.payoff[0, 1:].tolist() == [1.0, 1.0, 1.0]


def test_a_rerun_plays_nothing_again(rps_ladder: Ladder) -> None:
    store = Store(rps_ladder.db)
    try:
        before = store.matches()
        summary = ladder.run_ladder(list(rps_ladder.subs.values()), rps_ladder.suite, store, limits=FAST)
        assert (summary.planned, summary.already_stored, summary.ran) == (6, 6, 0)
        assert store.matches() == before
        assert not store.add(replace(before[0], status="error", returns_a=()))  # INSERT OR IGNORE
        assert store.matches()[0].status == "ok"
    finally:
        store.close()


def test_site_has_a_ladder_page_linked_from_the_overview(rps_ladder: Ladder, tmp_path: Path) -> None:
    from leaderboard.builder import build

    report = build(rps_ladder.db, tmp_path / "site", n_resamples=50)
    page = (tmp_path / "site" / "ladder" / "duel-v1.html").read_text()
    assert "ladder/duel-v1.html" in report.index.read_text()
    assert "<svg" in page and "heatmap" in page
    for name in ("counter", "rock", "paper", "scissors", "α-Rank", "μ"):
        assert name in page
    assert "adapts within" in page  # the protocol is on the page


def test_cli_prints_the_stored_ladder_as_json(rps_ladder: Ladder) -> None:
    suite_path = rps_ladder.db.parent / "duel.toml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "arena.cli",
            "ladder",
            "--suite",
            str(suite_path),
            "--db",
            str(rps_ladder.db),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["matches"] == 6
    assert data["standings"][0]["submission"] == "counter"


# --------------------------------------------------------------------------------------------
# Failures and illegal moves on a seated board game (tic-tac-toe, both seats)
# --------------------------------------------------------------------------------------------

TICTACTOE_SUITE = """
[suite]
name = "ttt"
version = 1
description = "ladder failures"
budgets = [0]
adapt_seconds = [5]
seeds = 1
eval_episodes = 2
eval_seconds = 10
meta_train_steps = 0
dev_seed = 3

[families.tictactoe]
interpolation = 1
[families.tictactoe.train]
seat = 0
opponent = "random"
[families.tictactoe.reference]
random = -0.4
reference = 1.0
"""

FIRST_LEGAL = """
import numpy as np
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        return int(np.flatnonzero(info["action_mask"])[0])
"""

ALWAYS_SQUARE_FOUR = """
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        return 4                              # the centre, taken or not: illegal once it is taken
"""

CRASHER = """
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        raise RuntimeError("boom")
"""


def test_illegal_moves_lose_games_and_a_crash_forfeits_the_match(tmp_path: Path) -> None:
    (tmp_path / "ttt.toml").write_text(TICTACTOE_SUITE)
    suite = load_suite(str(tmp_path / "ttt.toml"))
    subs = {
        name: load_submission(write_agent(tmp_path, name, code))
        for name, code in (("first", FIRST_LEGAL), ("centre", ALWAYS_SQUARE_FOUR), ("crasher", CRASHER))
    }
    store = Store(tmp_path / "arena.db")
    try:
        summary = ladder.run_ladder(list(subs.values()), suite, store, limits=FAST)
        matches = store.matches()
    finally:
        store.close()
    assert summary.planned == 6  # 3 pairs x 2 seatings
    by_pair: dict[frozenset[str], list[dict[str, Any]]] = {}
    name_of = {s.hash: n for n, s in subs.items()}
    for match in matches:
        pair = frozenset((name_of[match.submission_a_hash], name_of[match.submission_b_hash]))
        by_pair.setdefault(pair, []).append(match)

    for match in by_pair[frozenset(("first", "centre"))]:
        assert match.status == "ok"
        centre_side = "a" if name_of[match.submission_a_hash] == "centre" else "b"
        # first-legal takes square 0 first or answers 0; 'centre' repeats 4 after it is taken: illegal, lost
        assert getattr(match, f"illegal_{centre_side}") == 2
        assert match.score_a == (0.0 if centre_side == "a" else 1.0)
    for pair in (frozenset(("first", "crasher")), frozenset(("centre", "crasher"))):
        for match in by_pair[pair]:
            crasher_side = "a" if name_of[match.submission_a_hash] == "crasher" else "b"
            assert match.status == "error" and match.failed == crasher_side
            assert "boom" in match.error
            assert match.score_a == (0.0 if crasher_side == "a" else 1.0)
    (table,) = ratings.ladder_tables(matches)
    assert table.standings[-1].name == "crasher"
    assert table.standings[-1].failures == {"error": 4}


# --------------------------------------------------------------------------------------------
# The external opponent of the families (no workers)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["connect_four(rows=4,columns=4,x_in_row=3,seat=1)", "tictactoe(seat=1)"])
def test_external_opponent_forfeits_on_an_illegal_move_even_in_reset(variant: str) -> None:
    env = games.make(variant, opponent_policy=lambda obs, info: -1)
    _, info = env.reset(seed=0)
    assert info["opponent_illegal_action"] and info["action_mask"].all()
    _, reward, terminated, _, info = env.step(0)  # pays the forfeit
    assert (reward, terminated, info["opponent_illegal_action"]) == (1.0, True, True)


def test_external_opponent_sees_its_own_seat_and_the_variant_string_keeps_its_meaning() -> None:
    seen: list[np.ndarray] = []

    def policy(obs: np.ndarray, info: dict[str, Any]) -> int:
        seen.append(obs)
        return int(np.flatnonzero(info["action_mask"])[0])

    env = games.make("connect_four(columns=5,rows=4,x_in_row=3)", opponent_policy=policy)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(2)
    assert seen[0][0].sum() == 0 and seen[0][1].sum() == 1  # its own discs first: none yet; the agent's one
    assert obs[0].sum() == 1 and obs[1].sum() == 1
    plain = games.make("connect_four(columns=5,rows=4,x_in_row=3)")  # no policy: the variant's random opponent
    plain.reset(seed=0)
    assert "random" in plain.render()


def test_rps_external_opponent_chooses_before_seeing_the_move() -> None:
    moves: list[int] = []

    def policy(obs: np.ndarray, info: dict[str, Any]) -> int:
        moves.append(int(np.argmax(obs[:6])))  # the agent's previous move, from the opponent's side
        return PAPER

    env = games.make("rps(rounds=5)", opponent_policy=policy)
    env.reset(seed=0)
    rewards = [env.step(ROCK)[1] for _ in range(3)]
    assert rewards == [-1.0, -1.0, -1.0] and moves == [5, ROCK, ROCK]
