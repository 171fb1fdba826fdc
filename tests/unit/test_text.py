"""The text track's games side (games/text.py): every family with text rules speaks text, reads
answers, forfeits on garbage by its own rule, and plays ints exactly as without the wrapper; the
answer parser; the bandit's ``gap`` (Krishnamurthy et al. 2024) and the old bandits, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import games
from games.metarl import MAX_ARMS, STEP_COST, bandit_batch, bandit_means, bandit_reference
from games.text import NoTextRulesError, TextEnv, make_text, parse_answer, text_families, text_rules

# Two variants of every family with text rules (seats, opponents, sizes).
VARIANTS = {
    "bandit": ["bandit(horizon=30)", "bandit(arms=3,gap=0.5,horizon=20,task=4)"],
    "tabular_mdp": ["tabular_mdp", "tabular_mdp(actions=3,states=4,task=9)"],
    "maze": ["maze(size=3,horizon=40)", "maze(size=4,task=2)"],
    "rps": ["rps(rounds=10)", "rps(actions=5,rounds=12,task=3)"],
    "tictactoe": ["tictactoe", "tictactoe(opponent=mcts(sims=5),seat=1)"],
    "kuhn_poker": ["kuhn_poker", "kuhn_poker(opponent=cfr(iterations=5),seat=1)"],
    "catch": ["catch(columns=7,rows=8)", "catch(columns=3,rows=5)"],
}
ALL = [variant for variants in VARIANTS.values() for variant in variants]
# The parameters a variant hides from the agent: the rules and the move names never depend on them.
HIDDEN = {
    "bandit": {"task": 17, "gap": 0.2},
    "tabular_mdp": {"task": 17},
    "maze": {"task": 17},
    "rps": {"task": 17, "concentration": 3.0},
    "tictactoe": {"opponent": games.parse_spec("mcts(sims=7)")},
    "kuhn_poker": {"opponent": games.parse_spec("cfr(iterations=3)")},
    "catch": {},
}


def test_every_family_with_text_rules_is_covered_here() -> None:
    assert set(VARIANTS) == set(HIDDEN) == set(text_families())


def _names_of(env: TextEnv, info: dict[str, Any]) -> list[str]:
    mask = info.get("action_mask")
    legal = range(len(env.names)) if mask is None else np.flatnonzero(mask)
    return sorted(env.names[i] for i in legal)


def _check_text(env: TextEnv, info: dict[str, Any]) -> None:
    assert isinstance(info["text"], str) and info["text"].strip()
    assert sorted(info["legal_actions"]) == _names_of(env, info)


@pytest.mark.parametrize("variant", ALL)
def test_int_actions_play_exactly_as_without_the_wrapper(variant: str) -> None:
    plain, text = games.make(variant), make_text(variant)
    rng = np.random.default_rng(0)
    for episode in range(3):
        obs_a, info_a = plain.reset(seed=100 + episode)
        obs_b, info_b = text.reset(seed=100 + episode)
        _check_text(text, info_b)
        assert isinstance(info_b["rules"], str) and len(info_b["rules"]) > 80
        for _ in range(200):
            np.testing.assert_array_equal(obs_a, obs_b)
            np.testing.assert_array_equal(info_a.get("action_mask"), info_b.get("action_mask"))
            action = games.random_action(plain, info_a, rng)
            obs_a, reward_a, term_a, trunc_a, info_a = plain.step(action)
            obs_b, reward_b, term_b, trunc_b, info_b = text.step(action)
            assert (reward_a, term_a, trunc_a) == (reward_b, term_b, trunc_b)
            _check_text(text, info_b)
            if term_a or trunc_a:
                break
    assert text.unparsable_answers == 0 and text.illegal_answers == []


@pytest.mark.parametrize("variant", ALL)
def test_a_legal_name_plays_that_move(variant: str) -> None:
    plain, text = games.make(variant), make_text(variant)
    rng = np.random.default_rng(1)
    wrap = ["{}", "I choose {}.", "  '{}'  ", "**{}**", "Answer: {}!"]
    for episode in range(2):
        _, info_a = plain.reset(seed=episode)
        _, info_b = text.reset(seed=episode)
        while True:
            action = games.random_action(plain, info_a, rng)
            answer = wrap[int(rng.integers(len(wrap)))].format(text.names[action])
            if rng.random() < 0.3:
                answer = answer.upper()
            assert text.names[action] in info_b["legal_actions"]
            obs_a, reward_a, term_a, trunc_a, info_a = plain.step(action)
            obs_b, reward_b, term_b, trunc_b, info_b = text.step(answer)
            np.testing.assert_array_equal(obs_a, obs_b)
            assert (reward_a, term_a, trunc_a) == (reward_b, term_b, trunc_b), answer
            assert not info_b.get("illegal_action")
            if term_a or trunc_a:
                break
    assert text.unparsable_answers == 0


@pytest.mark.parametrize("variant", ALL)
def test_garbage_forfeits_at_once_with_the_forfeit_reward_and_is_recorded(variant: str) -> None:
    env = make_text(variant)
    rules = text_rules(games.parse_variant(variant).family)
    env.reset(seed=3)
    _, reward, terminated, truncated, info = env.step("I'd rather not say.")
    assert terminated and not truncated
    assert float(reward) == pytest.approx(rules.forfeit_reward(env.params), abs=1e-12)
    assert info["illegal_action"] is True and info["illegal_answer"] == "I'd rather not say."
    assert "names no legal move" in info["text"]
    assert env.unparsable_answers == 1 and env.illegal_answers == ["I'd rather not say."]
    # The trial goes on: the next episode plays as usual.
    _, info = env.reset(seed=4)
    _, _, _, _, info = env.step(info["legal_actions"][0])
    assert not info.get("illegal_action")


@pytest.mark.parametrize("variant", ALL)
def test_a_late_forfeit_pays_the_familys_own_rule(variant: str) -> None:
    """After a few moves, an unparsable answer pays what the family's illegal move would (board,
    card games and rps), or the worst reward for every step left (the others)."""
    plain, text = games.make(variant), make_text(variant)
    rules = text_rules(games.parse_variant(variant).family)
    for seed in range(6):
        _, info = plain.reset(seed=seed)
        text.reset(seed=seed)
        rng = np.random.default_rng(seed)
        ended, steps = False, 0
        for _ in range(int(rng.integers(0, 4))):
            action = games.random_action(plain, info, rng)
            _, _, term, trunc, info = plain.step(action)
            text.step(action)
            steps += 1
            if term or trunc:
                ended = True
                break
        if ended:
            continue
        _, reward, terminated, _, info = text.step("pass the salt")
        assert terminated and info["illegal_action"]
        if rules.worst_step is None:
            _, expected, plain_terminated, _, plain_info = plain.step(-1)  # the family's illegal move
            assert plain_terminated and plain_info["illegal_action"]
        else:
            expected = rules.worst_step(text.params) * (text.params["horizon"] - steps)
        assert float(reward) == pytest.approx(float(expected), abs=1e-12)


def test_an_illegal_name_or_an_int_outside_the_mask() -> None:
    # A name of a move the mask forbids forfeits, as garbage does.
    env = make_text("bandit(arms=3)")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("arm 7")
    assert terminated and reward == 0.0 and info["illegal_answer"] == "arm 7"
    # Stepping on after the wrapper ended the episode does nothing; reset starts afresh.
    _, reward, terminated, _, _ = env.step("arm 0")
    assert terminated and reward == 0.0
    _, info = env.reset(seed=1)
    assert env.step("arm 0")[2] is False
    # An int keeps the family's rule: a masked arm pays nothing and the episode goes on.
    assert env.step(7)[1:3] == (0.0, False)
    # tic-tac-toe: an occupied square's name forfeits; an int there is the family's illegal move.
    ttt = make_text("tictactoe")
    ttt.reset(seed=0)
    _, _, _, _, info = ttt.step("5")
    assert "5" not in info["legal_actions"]
    _, reward, terminated, _, info = ttt.step("5")
    assert (reward, terminated, info["illegal_answer"]) == (-1.0, True, "5")
    ttt.reset(seed=0)
    ttt.step(4)
    _, reward, terminated, _, info = ttt.step(4)
    assert (reward, terminated, info["illegal_action"]) == (-1.0, True, True)
    assert ttt.unparsable_answers == 1  # an int is never an answer


def test_only_the_first_answers_are_kept_each_cut_to_200_characters() -> None:
    env = make_text("rps(rounds=5)")
    for i in range(8):
        env.reset(seed=i)
        env.step(f"{i} " + "x" * 500)
    assert env.unparsable_answers == 8
    assert len(env.illegal_answers) == 5
    assert all(len(a) == 200 for a in env.illegal_answers)
    assert [a.split()[0] for a in env.illegal_answers] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("family", sorted(HIDDEN))
def test_rules_and_names_never_depend_on_hidden_parameters(family: str) -> None:
    rules = text_rules(family)
    for variant in VARIANTS[family]:
        v = games.parse_variant(variant)
        other = games.Variant.of(family, **{**dict(v.args), **HIDDEN[family]})
        assert rules.rules(v.params) == rules.rules(other.params)
        assert rules.action_names(v.params) == rules.action_names(other.params)
    env = make_text(VARIANTS[family][0])
    assert len(env.names) == env.action_space.n


def test_rules_do_not_leak_the_bandit_means_or_the_rps_mix() -> None:
    from games.pettingzoo_games import rps_mix

    params = games.parse_variant("bandit(gap=0.2,task=3)").params
    text = text_rules("bandit").rules(params)
    assert "0.6" not in text and "0.4" not in text and "gap" not in text
    for mean in bandit_means(games.parse_variant("bandit(task=3)").params):
        assert f"{mean:.2f}" not in text
    params = games.parse_variant("rps(task=5)").params
    text = text_rules("rps").rules(params)
    assert not any(f"{p:.2f}" in text for p in rps_mix(params))


def test_maze_text_shows_only_the_window_around_the_agent() -> None:
    env = make_text("maze(size=6,task=9)")
    _, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    maze = env.unwrapped
    for _ in range(60):
        lines = info["text"].splitlines()
        grid = lines[1:6]
        assert len(grid) == 5 and all(len(row) == 5 for row in grid) and grid[2][2] == "@"
        assert f"row {maze.pos[0]}, column {maze.pos[1]}" in lines[0]
        near = max(abs(a - b) for a, b in zip(maze.pos, maze.goal, strict=True)) <= 2
        assert ("G" in "".join(grid)) == (near and maze.pos != maze.goal)
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if terminated or truncated:
            break


def test_kuhn_text_never_shows_the_opponents_card() -> None:
    env = make_text("kuhn_poker")
    spiel = env.unwrapped
    by_card: dict[int, set[str]] = {}
    opponents: dict[int, set[int]] = {}
    for seed in range(40):
        _, info = env.reset(seed=seed)
        mine, theirs = spiel.state.history()[:2]
        by_card.setdefault(mine, set()).add(info["text"])
        opponents.setdefault(mine, set()).add(theirs)
        assert f"Your card: {'JQK'[mine]}." in info["text"]
    assert all(len(texts) == 1 for texts in by_card.values())  # the same text whatever they hold
    assert all(len(cards) == 2 for cards in opponents.values())


def test_tictactoe_names_match_the_board() -> None:
    env = make_text("tictactoe")
    _, info = env.reset(seed=0)
    assert info["legal_actions"] == [str(n) for n in range(1, 10)]
    assert " 1 | 2 | 3" in info["text"] and " 7 | 8 | 9" in info["text"]
    _, _, _, _, info = env.step("top right")
    assert info["text"].splitlines()[1] == " 1 | 2 | X"
    assert env.unwrapped.pz.board.squares[6] == 1  # PettingZoo counts squares column-major
    assert "3" not in info["legal_actions"]


def test_a_family_without_text_rules_is_refused_with_a_suggestion() -> None:
    with pytest.raises(NoTextRulesError, match="did you mean 'bandit'"):
        text_rules("bandits")
    with pytest.raises(games.SpecError, match=r"no text rules.*valid: bandit, catch"):
        make_text("cartpole")


# --------------------------------------------------------------------------------------------
# parse_answer
# --------------------------------------------------------------------------------------------

RPS = ["rock", "paper", "scissors", "spock", "lizard"]
ARMS = [f"arm {i}" for i in range(MAX_ARMS)]
SQUARES = [str((i % 3) * 3 + i // 3 + 1) for i in range(9)]


@pytest.mark.parametrize(
    ("answer", "names", "legal", "expected"),
    [
        ("rock", RPS, [0, 1, 2], 0),
        ("  PAPER\n", RPS, [0, 1, 2], 1),
        ('"scissors"', RPS, [0, 1, 2], 2),
        ("I choose rock.", RPS, [0, 1, 2], 0),
        ("**Paper**!", RPS, [0, 1, 2], 1),
        ("rock or paper? I say paper", RPS, [0, 1, 2], 0),  # the first legal name mentioned wins
        ("spock, then rock", RPS, [0, 1, 2], 0),  # spock is not legal in 3-move rps
        ("spock", RPS, [0, 1, 2], None),
        ("rocket", RPS, [0, 1, 2], None),  # whole words only
        ("", RPS, [0, 1, 2], None),
        ("I don't know", RPS, [0, 1, 2], None),
        ("arm 3", ARMS, [0, 1, 2, 3, 4], 3),
        ("Arm3", ARMS, [0, 1, 2, 3, 4], 3),
        ("3", ARMS, [0, 1, 2, 3, 4], 3),  # a bare number for a name that ends in one
        ("I'll pull arm #4.", ARMS, [0, 1, 2, 3, 4], 4),
        ("arm 7", ARMS, [0, 1, 2, 3, 4], None),
        ("between arms 1 and 2 I pick arm 2", ARMS, [0, 1, 2, 3, 4], 2),  # a full name before a number
        ("5", SQUARES, list(range(9)), 4),
        ("Square 9.", SQUARES, list(range(9)), 8),
        ("1", SQUARES, [1, 2], None),  # square 1 taken
        ("10", SQUARES, list(range(9)), None),
    ],
)
def test_parse_answer(answer: str, names: list[str], legal: list[int], expected: int | None) -> None:
    assert parse_answer(answer, names, legal) == expected


def test_parse_answer_aliases() -> None:
    kuhn = {"check": 0, "fold": 0, "call": 1, "raise": 1}
    assert parse_answer("I check.", ["pass", "bet"], [0, 1], kuhn) == 0
    assert parse_answer("Call!", ["pass", "bet"], [0, 1], kuhn) == 1
    assert parse_answer("bet, not fold", ["pass", "bet"], [0, 1], kuhn) == 1
    assert parse_answer("fold, so pass... no: bet", ["pass", "bet"], [0, 1], kuhn) == 0  # names before aliases
    squares = text_rules("tictactoe").aliases({})
    assert parse_answer("the center", SQUARES, list(range(9)), squares) == 4
    assert parse_answer("top right", SQUARES, list(range(9)), squares) == 6
    assert parse_answer("middle left", SQUARES, list(range(9)), squares) == 1
    assert parse_answer("go north", ["up", "down", "left", "right"], [0, 1, 2, 3], {"north": 0}) == 0


# --------------------------------------------------------------------------------------------
# The bandit's gap (Krishnamurthy et al. 2024) and the old bandits, bit for bit
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.2, 0.5])
def test_gap_bandit_has_one_best_arm_at_a_task_dependent_index(gap: float) -> None:
    best_arms = set()
    for task in range(40):
        variant = games.parse_variant(f"bandit(arms=5,gap={gap},task={task})")
        means = bandit_means(variant.params)
        best = int(np.argmax(means))
        best_arms.add(best)
        assert means[best] == 0.5 + gap / 2
        assert sorted(np.delete(means, best)) == [0.5 - gap / 2] * 4
        env = games.make(variant)
        np.testing.assert_array_equal(env.unwrapped.means, means)
        assert bandit_reference(variant.params) == pytest.approx(((0.5 - 0.3 * gap) * 100, (0.5 + gap / 2) * 100))
        batch = bandit_batch([variant.params], seed=0)
        np.testing.assert_array_equal(batch.p[0, :5], means)
    assert best_arms == set(range(5))
    assert str(games.parse_variant("bandit(gap=0,task=3)")) == "bandit(task=3)"


def test_gap_bandit_pays_its_means() -> None:
    env = games.make("bandit(gap=0.5,horizon=1000,task=2)")
    means = env.unwrapped.means
    env.reset(seed=0)
    pays = {arm: [float(env.step(arm)[1]) for _ in range(200)] for arm in range(5)}
    for arm, rewards in pays.items():
        assert abs(np.mean(rewards) - means[arm]) < 0.12


# Drawn from games/metarl.py before ``gap`` existed (the same script, the commit before this
# test's): the arms' means (float.hex), 40 rewards of the pull sequence (7t + 3) % 10 after
# reset(seed), and the reference (random, optimal).
OLD_BANDITS = [
    (
        "bandit",
        0,
        ["0x1.461fd79fb3850p-1", "0x1.1442f7e20b674p-2", "0x1.4fa7b529d9bd0p-5", "0x1.0ec9ed84d0bc0p-6", "0x1.a064f4f059bcap-1"],
        "0101100000010100000001001000000001000000",
        ["0x1.1c673603f3373p+5", "0x1.454edf5bc61b6p+6"],
    ),
    (
        "bandit(arms=3,task=7)",
        11,
        ["0x1.400c8353e3ca9p-1", "0x1.cb5f9b795e4cdp-1", "0x1.8d26acbf2815fp-1"],
        "0100100100010010000001001000000100100100",
        ["0x1.32663a573ba67p+6", "0x1.66e2b176d1ac0p+6"],
    ),
    (
        "bandit(arms=10,horizon=10,task=123456)",
        2**31 - 5,
        [
            "0x1.45e521563265cp-1", "0x1.8a0c11af4351ep-2", "0x1.84ac42abf6780p-5", "0x1.e916e31820dd1p-1",
            "0x1.cfe5e88a70f0cp-1", "0x1.d3efd3b575f98p-2", "0x1.1f442ae63a6bcp-2", "0x1.45b54bc4ce218p-1",
            "0x1.f61fb6242d886p-1", "0x1.9ff70f20f85c3p-1",
        ],
        "1011010010",
        ["0x1.8633194a5e2f9p+2", "0x1.39d3d1d69c754p+3"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("variant", "seed", "means", "rewards", "reference"), OLD_BANDITS)
def test_bandits_without_gap_are_bit_for_bit_as_before(
    variant: str, seed: int, means: list[str], rewards: str, reference: list[str]
) -> None:
    v = games.parse_variant(variant)
    assert "gap" not in str(v) and v.params["gap"] == 0.0
    assert [float(m).hex() for m in bandit_means(v.params)] == means
    assert [x.hex() for x in bandit_reference(v.params)] == reference
    for env in (games.make(v), make_text(v)):  # the text wrapper plays ints as the env does
        env.reset(seed=seed)
        drawn = "".join(str(int(env.step((t * 7 + 3) % 10)[1])) for t in range(len(rewards)))
        assert drawn == rewards


def test_old_bandit_batches_are_bit_for_bit_as_before() -> None:
    batch = bandit_batch([games.parse_variant(v).params for v in ("bandit", "bandit(arms=3,task=7)")], 5)
    batch.reset()
    drawn = ""
    for t in range(20):
        rewards = batch.step(np.array([t % 5, t % 3]))[1]
        drawn += "".join(str(int(r)) for r in rewards)
    assert drawn == "0001010110010001011111010001010101010111"


def test_maze_forfeit_costs_every_step_left() -> None:
    env = make_text("maze(horizon=30)")
    env.reset(seed=0)
    env.step("up")
    assert env.step("jump")[1] == pytest.approx(-STEP_COST * 29)
