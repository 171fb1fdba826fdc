"""Every registered family passes the conformance checker, plus family-specific behaviour."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import games
import games.core
from games.checker import check_family, sample_variants


@pytest.mark.parametrize("name", sorted(games.families()))
def test_family_conforms(name: str) -> None:
    check_family(name, n_variants=5, seed=0)


def test_every_group_is_present() -> None:
    groups = {family.group for family in games.families().values()}
    assert {"classic", "openspiel", "pettingzoo", "metarl"} <= groups
    expected = {
        "acrobot", "mountaincar", "pendulum", "catch", "cliff_walking", "deep_sea", "connect_four",
        "breakthrough", "goofspiel", "kuhn_poker", "leduc_poker", "liars_dice", "oshi_zumo", "pig",
        "rps", "tictactoe", "pz_connect_four", "go", "tabular_mdp", "nav2d", "maze",
    }  # fmt: skip
    assert expected <= set(games.families())


# --------------------------------------------------------------------------------------------
# The checker itself catches broken families
# --------------------------------------------------------------------------------------------


class _Broken(gym.Env):
    """A tiny env that can be broken in one chosen way."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None, fault: str = ""):
        self.fault = fault
        self.render_mode = render_mode
        size = 3 if fault == "spaces" and params["size"] > 1 else 2
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def _info(self) -> dict[str, Any]:
        mask = np.array([1, 1], dtype=np.int8)
        if self.fault == "mask" and self.t == 2:
            mask[:] = 0
        return {"action_mask": mask}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(self.observation_space.shape, dtype=np.float32), self._info()

    def step(self, action: Any):
        self.t += 1
        obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        if self.fault == "bounds" and self.t == 3:
            obs[0] = 5.0
        reward = float(np.random.random()) if self.fault == "nondeterministic" else 0.0
        return obs, reward, self.t >= 5, False, self._info()

    def render(self) -> str:
        return "" if self.fault == "render" else f"t={self.t}"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("nondeterministic", "eterministic"),
        ("mask", "no legal action"),
        ("bounds", "outside"),
        ("spaces", "differs"),
        ("render", "non-empty str"),
    ],
)
def test_checker_catches(monkeypatch: pytest.MonkeyPatch, fault: str, message: str) -> None:
    family = games.Family(
        name="broken",
        make=lambda params, render_mode=None: _Broken(params, render_mode, fault),
        params={"size": games.IntParam(1, 1, 3)},
        description="a broken family",
        group="metarl",
        max_episode_steps=10,
        example="broken(size=2)",
    )
    monkeypatch.setitem(games.core._REGISTRY, "broken", family)
    with pytest.raises(AssertionError, match=message):
        check_family("broken", n_variants=3)


def test_sampled_variants_cover_the_ranges() -> None:
    variants = sample_variants("catch", n_variants=5, seed=1)
    rows = {v.params["rows"] for v in variants}
    assert {5, 12} <= rows  # the low and high corners
    assert len({v.id for v in variants}) == len(variants)
    opponents = {v.params["opponent"].name for v in sample_variants("connect_four", n_variants=5)}
    assert opponents == {"random", "mcts"}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def play(env: gym.Env, policy: Any, seed: int) -> tuple[float, int]:
    obs, info = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return total, steps


def random_policy(seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return lambda obs, info: int(rng.choice(np.flatnonzero(info["action_mask"])))


def first_legal(obs: Any, info: dict[str, Any]) -> int:
    return int(np.flatnonzero(info["action_mask"])[0])


# --------------------------------------------------------------------------------------------
# OpenSpiel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["catch", "catch(rows=5,columns=9)", "catch(rows=12,columns=3)"])
def test_catch_optimum_is_reachable(variant: str) -> None:
    env = games.make(variant)
    rows, cols = env.unwrapped.rows, env.unwrapped.cols

    def chase(obs: np.ndarray, info: dict[str, Any]) -> int:
        board = obs[0, :rows, :cols]
        ball = int(np.flatnonzero(board[:-1].any(axis=0))[0]) if board[:-1].any() else None
        paddle = int(np.flatnonzero(board[-1])[0])
        if ball is None or ball == paddle:
            return 1
        return 2 if ball > paddle else 0

    returns = [play(env, chase, seed)[0] for seed in range(8)]
    assert returns == [1.0] * 8
    low, high = games.get_family("catch").reference(games.parse_variant(variant).params)
    assert high == pytest.approx(1.0)
    assert -1.0 < low < 1.0


def test_catch_random_reference_matches_play() -> None:
    env = games.make("catch(columns=7,rows=8)")
    policy = random_policy(0)
    measured = np.mean([play(env, policy, seed)[0] for seed in range(600)])
    low, _ = games.get_family("catch").reference(games.parse_variant("catch(columns=7,rows=8)").params)
    assert measured == pytest.approx(low, abs=0.1)


def test_padding_keeps_spaces_fixed_and_marks_the_board() -> None:
    small = games.make("connect_four(columns=4,rows=4,x_in_row=3)")
    large = games.make("connect_four")
    assert small.observation_space == large.observation_space
    assert small.action_space == large.action_space
    obs, info = small.reset(seed=0)
    assert obs.shape == (3, 8, 9)
    assert obs[2, :4, :4].all() and not obs[:, 4:, :].any() and not obs[:, :, 4:].any()
    assert info["action_mask"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    # Breakthrough: a padded id decodes to the same from-square and direction on every board.
    env = games.make("breakthrough(columns=4,rows=5)").unwrapped
    obs, info = env.reset(seed=0)
    for padded in np.flatnonzero(info["action_mask"]):
        move = int(env.from_pad[padded])
        assert env.to_pad[move] == padded
        cell, direction = divmod(int(padded), 12)
        assert divmod(cell, 8) == divmod(move // 12, 4) and move % 12 == direction


def test_liars_dice_bid_ids_mean_the_same_bid_in_every_variant() -> None:
    for variant in ["liars_dice", "liars_dice(dice_sides=3,numdice=2)"]:
        env = games.make(variant).unwrapped
        env.reset(seed=0)
        for quantity in (1, 2):
            for face in (1, 2, 3):
                padded = (quantity - 1) * 6 + (face - 1)
                assert env.state.action_to_string(0, int(env.from_pad[padded])) == f"{quantity}-{face}"
        assert env.state.action_to_string(0, int(env.from_pad[24])) == "Liar"


def test_illegal_move_loses() -> None:
    env = games.make("connect_four(columns=4,rows=4,x_in_row=4)")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(7)  # a column this board does not have
    assert (reward, terminated, info.get("illegal_action")) == (-1.0, True, True)
    assert info["action_mask"].all()  # the game is over: any action is ignored
    _, reward, terminated, _, _ = env.step(0)
    assert (reward, terminated) == (0.0, True)
    # Poker: an illegal move costs the worst outcome, so it never pays.
    env = games.make("leduc_poker")
    _, info = env.reset(seed=3)
    assert info["action_mask"].tolist() == [0, 1, 1]  # nothing to fold against yet
    _, reward, terminated, _, _ = env.step(0)
    assert (reward, terminated) == (-13.0, True)
    env = games.make("tictactoe")
    env.reset(seed=0)
    env.step(4)
    _, reward, terminated, _, info = env.step(4)  # the centre is taken
    assert (reward, terminated, info.get("illegal_action")) == (-1.0, True, True)
    env = games.make("rps(actions=3,rounds=10)")
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, _, _ = env.step(4)  # lizard is not in plain rock-paper-scissors
    assert (reward, terminated) == (-9.0, True)


def test_opponent_parameter_changes_play() -> None:
    """MCTS beats a random agent far more often than a random opponent does."""

    def agent_score(variant: str) -> float:
        env = games.make(variant)
        policy = random_policy(1)
        return float(np.mean([play(env, policy, seed)[0] for seed in range(12)]))

    assert agent_score("tictactoe(opponent=mcts(sims=60))") < agent_score("tictactoe") - 0.5
    assert agent_score("connect_four(columns=5,opponent=mcts(sims=30),rows=4,x_in_row=3)") < agent_score(
        "connect_four(columns=5,rows=4,x_in_row=3)"
    )


def test_opponent_randomness_follows_the_reset_seed() -> None:
    env = games.make("connect_four(columns=5,rows=4,x_in_row=3)")
    first = [env.reset(seed=seed)[0] for seed in (1, 1)]
    assert np.array_equal(*first)
    for variant in ["connect_four(columns=5,rows=4,x_in_row=3,seat=1)", "goofspiel(num_cards=5)", "pig(seat=1)"]:
        env = games.make(variant)
        trajectories = set()
        for seed in range(6):
            obs, info = env.reset(seed=seed)
            trace = [obs.tobytes()]
            for _ in range(3):
                obs, _, terminated, truncated, info = env.step(first_legal(obs, info))
                trace.append(obs.tobytes())
                if terminated or truncated:
                    break
            trajectories.add(tuple(trace))
        assert len(trajectories) > 1, variant


def test_poker_reference_is_exact() -> None:
    env = games.make("kuhn_poker(seat=1)")
    policy = random_policy(2)
    measured = np.mean([play(env, policy, seed)[0] for seed in range(3000)])
    low, high = games.get_family("kuhn_poker").reference(games.parse_variant("kuhn_poker(seat=1)").params)
    assert measured == pytest.approx(low, abs=0.08)
    assert high > low
    _, high_cfr = games.get_family("kuhn_poker").reference(
        games.parse_variant("kuhn_poker(opponent=cfr(iterations=200))").params
    )
    assert high_cfr < high and abs(high_cfr + 1 / 18) < 0.03  # near-Nash: best response ~ game value


# --------------------------------------------------------------------------------------------
# PettingZoo
# --------------------------------------------------------------------------------------------


def test_go_envs_of_different_sizes_coexist() -> None:
    small, large = games.make("go(board_size=5)"), games.make("go(board_size=9)")
    obs_s, info_s = small.reset(seed=0)
    obs_l, info_l = large.reset(seed=0)
    assert obs_s.shape == obs_l.shape == (9, 9, 18)
    assert info_s["action_mask"].sum() == 26 and info_l["action_mask"].sum() == 82
    for _ in range(4):
        obs_s, _, _, _, info_s = small.step(first_legal(obs_s, info_s))
        obs_l, _, _, _, info_l = large.step(first_legal(obs_l, info_l))
    assert obs_s[:5, :5, 17].all() and not obs_s[5:, :, 17].any()
    assert info_s["action_mask"][5 * 9 :].sum() == 1  # only the pass beyond the 5x5 board


def test_tictactoe_mirror_matches_pettingzoo() -> None:
    env = games.make("tictactoe(opponent=mcts(sims=5))").unwrapped
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        while not env.done:
            obs, _, _, _, info = env.step(random_policy(seed)(obs, info))
            assert env.mirror is not None  # never fell out of step
        assert env.mirror.is_terminal()


def test_rps_reference_and_exploitation() -> None:
    variant = "rps(actions=5,concentration=0.2,rounds=40,task=5)"
    params = games.parse_variant(variant).params
    low, high = games.get_family("rps").reference(params)
    assert low == pytest.approx(0.0, abs=1e-9) and high > 0
    from games.pettingzoo_games import rps_mix, rps_payoff

    best = int(np.argmax(rps_payoff(5) @ rps_mix(params)))
    env = games.make(variant)
    measured = np.mean([play(env, lambda obs, info: best, seed)[0] for seed in range(200)])
    assert measured == pytest.approx(high, abs=1.5)


# --------------------------------------------------------------------------------------------
# Meta-RL classics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["tabular_mdp(states=5,actions=3,task=4)", "maze(size=3,task=2,horizon=60)"])
def test_metarl_random_reference_matches_play(variant: str) -> None:
    env = games.make(variant)
    rng = np.random.default_rng(0)
    measured = np.mean(
        [play(env, lambda obs, info: int(rng.integers(env.unwrapped.action_space.n)), s)[0] for s in range(1500)]
    )
    low, high = games.get_family(games.parse_variant(variant).family).reference(games.parse_variant(variant).params)
    assert low < high
    assert measured == pytest.approx(low, abs=0.05 * max(1.0, abs(low)))


def test_maze_shortest_path_is_the_optimum() -> None:
    from collections import deque

    variant = games.parse_variant("maze(size=4,task=7)")
    env = games.make(variant).unwrapped
    walls, start, goal = env.walls, env.start, env.goal
    previous: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    queue, seen = deque([start]), {start}
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    while queue:
        r, c = queue.popleft()
        for a, (dr, dc) in enumerate(moves):
            nxt = (r + dr, c + dc)
            if not walls[nxt] and nxt not in seen:
                seen.add(nxt)
                previous[nxt] = ((r, c), a)
                queue.append(nxt)
    path, square = [], goal
    while square != start:
        square, action = previous[square]
        path.append(action)
    actions = iter(reversed(path))
    total, _ = play(games.make(variant), lambda obs, info: next(actions), 0)
    assert total == pytest.approx(games.get_family("maze").reference(variant.params)[1])


def test_nav2d_straight_line_is_the_optimum() -> None:
    variant = games.parse_variant("nav2d(goal_range=1.5,task=3)")
    env = games.make(variant)
    goal = env.unwrapped.goal

    def straight(obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return np.clip((goal - obs) / 0.1, -1.0, 1.0).astype(np.float32)

    total, _ = play(env, straight, 0)
    assert total == pytest.approx(games.get_family("nav2d").reference(variant.params)[1], abs=0.01)


# --------------------------------------------------------------------------------------------
# Classic control
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["acrobot", "mountaincar", "pendulum"])
def test_classic_defaults_are_gymnasium(name: str) -> None:
    ours = games.make(name).unwrapped
    theirs = gym.make(
        {"acrobot": "Acrobot-v1", "mountaincar": "MountainCar-v0", "pendulum": "Pendulum-v1"}[name]
    ).unwrapped
    obs_a, _ = ours.reset(seed=3)
    obs_b, _ = theirs.reset(seed=3)
    assert np.allclose(obs_a, obs_b)
    for i in range(150):
        action = np.array([i % 5 - 2.0], dtype=np.float32) if name == "pendulum" else i % 3
        a, b = ours.step(action), theirs.step(action)
        assert np.allclose(a[0], b[0], atol=1e-5) and a[1] == pytest.approx(b[1]) and a[2] == b[2]


def test_classic_physics_change_the_dynamics() -> None:
    light, heavy = games.make("pendulum(g=5.0)"), games.make("pendulum(g=15.0,l=1.5,m=1.8)")
    a, _ = light.reset(seed=0)
    b, _ = heavy.reset(seed=0)
    assert np.allclose(a, b)
    zero = np.zeros(1, dtype=np.float32)
    assert not np.allclose(light.step(zero)[0], heavy.step(zero)[0])
