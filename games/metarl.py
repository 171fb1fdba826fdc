"""Meta-RL classics: tasks whose hidden parameters must be inferred from experience."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from games.batched import BanditBatch, MDPBatch
from games.core import Family, FloatParam, IntParam, register

MAX_ARMS = 10


def bandit_means(params: dict[str, Any]) -> np.ndarray:
    """The arms' success probabilities, drawn from the variant's task seed.

    ``gap`` 0 (the default, every variant written before it existed): each arm's mean is drawn
    from U[0, 1]. ``gap`` Δ > 0: the setting of Krishnamurthy et al. 2024 ("Can large language
    models explore in-context?"): one best arm, at an index drawn from the task seed, has mean
    0.5 + Δ/2 and every other arm 0.5 - Δ/2.
    """
    rng = np.random.default_rng(params["task"])
    gap = float(params.get("gap", 0.0))
    if gap == 0.0:
        return rng.uniform(0.0, 1.0, size=params["arms"])
    means = np.full(params["arms"], 0.5 - gap / 2)
    means[int(rng.integers(params["arms"]))] = 0.5 + gap / 2
    return means


class BernoulliBandit(gym.Env):
    """k-armed Bernoulli bandit (the RL^2 benchmark): an episode is ``horizon`` pulls.

    The observation is the fraction of the episode elapsed; everything else must be learned
    from rewards. Arms beyond ``arms`` are masked in ``info["action_mask"]`` and pay nothing.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.horizon = params["horizon"]
        self.arms = params["arms"]
        self.means = bandit_means(params)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(MAX_ARMS)
        self.mask = np.zeros(MAX_ARMS, dtype=np.int8)
        self.mask[: self.arms] = 1
        self.t = 0
        self.last: tuple[int, float] | None = None

    def _obs(self) -> np.ndarray:
        return np.array([self.t / self.horizon], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.last = None
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        arm = int(action)
        reward = 0.0
        if arm < self.arms:
            reward = float(self.np_random.random() < self.means[arm])
        self.t += 1
        self.last = (arm, reward)
        terminated = self.t >= self.horizon
        return self._obs(), reward, terminated, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        pulled = "none yet" if self.last is None else f"arm {self.last[0]} paid {self.last[1]:.0f}"
        return f"bandit with {self.arms} arms, pull {self.t}/{self.horizon}: {pulled}"


def bandit_batch(copies: list[dict[str, Any]], seed: int) -> BanditBatch:
    p = np.zeros((len(copies), MAX_ARMS))
    for i, params in enumerate(copies):
        p[i, : params["arms"]] = bandit_means(params)
    arms = np.array([c["arms"] for c in copies])
    return BanditBatch(p, arms, np.array([c["horizon"] for c in copies]), seed)


def bandit_reference(params: dict[str, Any]) -> tuple[float, float]:
    means = bandit_means(params)
    return float(means.mean() * params["horizon"]), float(means.max() * params["horizon"])


register(
    Family(
        name="bandit",
        make=lambda params, render_mode=None: BernoulliBandit(params, render_mode=render_mode),
        params={
            "arms": IntParam(5, 2, MAX_ARMS, "number of arms"),
            "horizon": IntParam(100, 10, 1000, "pulls per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the arms' success probabilities"),
            "gap": FloatParam(
                0.0, 0.0, 1.0, "0: means drawn from U[0, 1]; else one best arm at 0.5 + gap/2, the rest at 0.5 - gap/2"
            ),
        },
        description="k-armed Bernoulli bandit with unknown arm means: explore, then exploit (RL^2).",
        group="metarl",
        max_episode_steps=1000,
        reference=bandit_reference,
        episode_lengths=lambda params: (params["horizon"], params["horizon"]),
        make_batch=bandit_batch,
        example="bandit(arms=5,task=7)",
    )
)


# --------------------------------------------------------------------------------------------
# Tabular MDPs (RL^2's second benchmark)
# --------------------------------------------------------------------------------------------

MAX_STATES, MAX_ACTIONS = 20, 10


def mdp_tables(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Transition probabilities P[s, a, s'] ~ Dirichlet(1) and mean rewards R[s, a] ~ N(1, 1),
    drawn from the variant's task seed (as in Duan et al., 2016)."""
    rng = np.random.default_rng(params["task"])
    n_s, n_a = params["states"], params["actions"]
    transitions = rng.dirichlet(np.ones(n_s), size=(n_s, n_a))
    rewards = rng.normal(1.0, 1.0, size=(n_s, n_a))
    return transitions, rewards


class TabularMDP(gym.Env):
    """A random finite MDP: an episode is ``horizon`` steps from a uniformly random state.

    Observation: the current state one-hot (padded to 20 states) and the fraction of the
    episode elapsed. Rewards are Gaussian (unit variance) around the hidden mean table. Actions
    beyond ``actions`` are masked; one taken anyway is replaced by a uniformly random legal one.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.n_states = params["states"]
        self.n_actions = params["actions"]
        self.horizon = params["horizon"]
        self.transitions, self.rewards = mdp_tables(params)
        self.cdf = np.cumsum(self.transitions, axis=2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(MAX_STATES + 1,), dtype=np.float32)
        self.action_space = spaces.Discrete(MAX_ACTIONS)
        self.mask = np.zeros(MAX_ACTIONS, dtype=np.int8)
        self.mask[: self.n_actions] = 1
        self.s = 0
        self.t = 0
        self.last: tuple[int, float] | None = None

    def _obs(self) -> np.ndarray:
        out = np.zeros(MAX_STATES + 1, dtype=np.float32)
        out[self.s] = 1.0
        out[-1] = self.t / self.horizon
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s = int(self.np_random.integers(self.n_states))
        self.t = 0
        self.last = None
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        a = int(action)
        if not 0 <= a < self.n_actions:
            a = int(self.np_random.integers(self.n_actions))
        reward = float(self.rewards[self.s, a] + self.np_random.standard_normal())
        nxt = int(np.searchsorted(self.cdf[self.s, a], self.np_random.random(), side="right"))
        self.s = min(nxt, self.n_states - 1)
        self.t += 1
        self.last = (a, reward)
        return self._obs(), reward, self.t >= self.horizon, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        last = "" if self.last is None else f"; last action {self.last[0]} paid {self.last[1]:+.2f}"
        return f"tabular MDP ({self.n_states} states, {self.n_actions} actions): state {self.s}, step {self.t}/{self.horizon}{last}"


def tabular_mdp_batch(copies: list[dict[str, Any]], seed: int) -> MDPBatch:
    n = len(copies)
    transitions = np.full((n, MAX_STATES, MAX_ACTIONS, MAX_STATES), 1.0 / MAX_STATES)  # padding: never used
    rewards = np.zeros((n, MAX_STATES, MAX_ACTIONS))
    for i, params in enumerate(copies):
        s, a = params["states"], params["actions"]
        table, means = mdp_tables(params)
        transitions[i, :s, :a] = 0.0
        transitions[i, :s, :a, :s] = table
        rewards[i, :s, :a] = means
    return MDPBatch(
        transitions,
        rewards,
        np.array([c["states"] for c in copies]),
        np.array([c["actions"] for c in copies]),
        np.array([c["horizon"] for c in copies]),
        start_at_zero=False,
        obs_states=MAX_STATES,
        seed=seed,
    )


def tabular_mdp_reference(params: dict[str, Any]) -> tuple[float, float]:
    """Exact finite-horizon values of the uniform-random and the optimal policy."""
    transitions, rewards = mdp_tables(params)
    v_rand = np.zeros(params["states"])
    v_opt = np.zeros(params["states"])
    for _ in range(params["horizon"]):
        v_rand = (rewards + transitions @ v_rand).mean(axis=1)
        v_opt = (rewards + transitions @ v_opt).max(axis=1)
    return round(float(v_rand.mean()), 10), round(float(v_opt.mean()), 10)


register(
    Family(
        name="tabular_mdp",
        make=lambda params, render_mode=None: TabularMDP(params, render_mode=render_mode),
        params={
            "states": IntParam(10, 2, MAX_STATES, "number of states"),
            "actions": IntParam(5, 2, MAX_ACTIONS, "number of actions"),
            "horizon": IntParam(10, 5, 100, "steps per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the transition and reward tables"),
        },
        description="Random tabular MDP with hidden transitions and rewards: learn it across episodes (RL^2).",
        group="metarl",
        max_episode_steps=100,
        reference=tabular_mdp_reference,
        episode_lengths=lambda params: (params["horizon"], params["horizon"]),
        make_batch=tabular_mdp_batch,
        example="tabular_mdp(states=8,task=3)",
    )
)


# --------------------------------------------------------------------------------------------
# 2D navigation to a hidden goal (MAML's point robot)
# --------------------------------------------------------------------------------------------

NAV_STEP = 0.1  # largest move per axis per step
NAV_BOUND = 3.0  # the arena is [-3, 3]^2


def nav_goal(params: dict[str, Any]) -> np.ndarray:
    r = params["goal_range"]
    return np.random.default_rng(params["task"]).uniform(-r, r, size=2)


class Nav2D(gym.Env):
    """A point robot starts at the origin and must reach a hidden goal (Finn et al., 2017).

    Observation: the position. Action: a velocity in [-1, 1]^2, scaled to at most 0.1 per axis.
    Reward: minus the distance to the goal after the move. The episode ends when the robot is
    within 0.01 of the goal on both axes, or after ``horizon`` steps. The arena is [-3, 3]^2.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.goal = nav_goal(params)
        self.horizon = params["horizon"]
        self.observation_space = spaces.Box(-NAV_BOUND, NAV_BOUND, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos = np.zeros(2)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = np.zeros(2)
        self.t = 0
        return self.pos.astype(np.float32), {}

    def step(self, action: Any):
        move = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0) * NAV_STEP
        self.pos = np.clip(self.pos + move, -NAV_BOUND, NAV_BOUND)
        self.t += 1
        delta = self.pos - self.goal
        reward = -float(np.hypot(delta[0], delta[1]))
        reached = bool(abs(delta[0]) < 0.01 and abs(delta[1]) < 0.01)
        return self.pos.astype(np.float32), reward, reached, self.t >= self.horizon and not reached, {}

    def render(self) -> str:
        size = 21
        grid = [["."] * size for _ in range(size)]

        def cell(p: np.ndarray) -> tuple[int, int]:
            x, y = ((np.clip(p, -NAV_BOUND, NAV_BOUND) + NAV_BOUND) / (2 * NAV_BOUND) * (size - 1)).round().astype(int)
            return size - 1 - y, x

        gy, gx = cell(self.goal)
        grid[gy][gx] = "G"
        py, px = cell(self.pos)
        grid[py][px] = "@"
        head = f"step {self.t}/{self.horizon} at ({self.pos[0]:+.2f}, {self.pos[1]:+.2f})"
        return head + "\n" + "\n".join("".join(row) for row in grid)


def _nav2d_stats(params: dict[str, Any]) -> tuple[float, float, float, float]:
    """(random return, random episode length, optimal return, optimal episode length).

    Optimal: move straight at full speed on each axis (exact). Random: uniform actions, 2000
    simulated episodes with a fixed seed (deterministic, standard error below 1%)."""
    goal, horizon = nav_goal(params), params["horizon"]
    pos = np.zeros(2)
    best = 0.0
    best_length = 0
    for _ in range(horizon):
        pos = pos + np.clip(goal - pos, -NAV_STEP, NAV_STEP)
        best -= float(np.hypot(*(pos - goal)))
        best_length += 1
        if np.all(np.abs(pos - goal) < 0.01):
            break
    rng = np.random.default_rng(12345)
    pos = np.zeros((2000, 2))
    total = np.zeros(2000)
    alive = np.ones(2000, dtype=bool)
    length = np.zeros(2000)
    for _ in range(horizon):
        length += alive
        pos = np.clip(pos + rng.uniform(-1.0, 1.0, size=pos.shape) * NAV_STEP, -NAV_BOUND, NAV_BOUND)
        delta = pos - goal
        total -= np.hypot(delta[:, 0], delta[:, 1]) * alive
        alive &= ~np.all(np.abs(delta) < 0.01, axis=1)
    return round(float(total.mean()), 6), float(length.mean()), round(best, 10), float(best_length)


def nav2d_reference(params: dict[str, Any]) -> tuple[float, float]:
    random_return, _, best, _ = _nav2d_stats(params)
    return random_return, best


def nav2d_lengths(params: dict[str, Any]) -> tuple[float, float]:
    _, random_length, _, best_length = _nav2d_stats(params)
    return random_length, best_length


register(
    Family(
        name="nav2d",
        make=lambda params, render_mode=None: Nav2D(params, render_mode=render_mode),
        params={
            "goal_range": FloatParam(0.5, 0.1, 2.0, "the goal is drawn from [-r, r]^2"),
            "horizon": IntParam(100, 20, 200, "steps per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the goal position"),
        },
        description="2D point robot to a hidden goal with continuous velocity actions (MAML's navigation task).",
        group="metarl",
        max_episode_steps=200,
        reference=nav2d_reference,
        episode_lengths=nav2d_lengths,
        success_on_termination=True,
        example="nav2d(goal_range=1.0,task=4)",
    )
)


# --------------------------------------------------------------------------------------------
# Procedurally generated mazes with a hidden goal
# --------------------------------------------------------------------------------------------

MAX_MAZE = 10  # cells per side; the grid is 2 * cells + 1 squares wide
VIEW = 2  # the agent sees the squares within 2 of it (a 5x5 window)
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # up, down, left, right
STEP_COST = 0.01


def maze_layout(params: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """A perfect maze (randomised depth-first search) and its goal square, from the task seed.

    Returns the wall grid (True = wall), the start square (top-left cell) and the goal square.
    """
    n = params["size"]
    rng = np.random.default_rng(params["task"])
    walls = np.ones((2 * n + 1, 2 * n + 1), dtype=bool)
    seen = np.zeros((n, n), dtype=bool)
    stack = [(0, 0)]
    seen[0, 0] = True
    walls[1, 1] = False
    while stack:
        r, c = stack[-1]
        options = [
            (r + dr, c + dc) for dr, dc in MOVES if 0 <= r + dr < n and 0 <= c + dc < n and not seen[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        seen[nr, nc] = True
        walls[2 * nr + 1, 2 * nc + 1] = False
        walls[r + nr + 1, c + nc + 1] = False  # the wall between the two cells
        stack.append((nr, nc))
    goal_cell = int(rng.integers(1, n * n))  # any cell but the start
    goal = (2 * (goal_cell // n) + 1, 2 * (goal_cell % n) + 1)
    return walls, (1, 1), goal


class Maze(gym.Env):
    """Find a hidden goal in a procedurally generated maze, then go back to it quickly.

    The maze and the goal are fixed by the variant's task seed; only a 5x5 window around the
    agent is visible (walls, and the goal when in view), plus the agent's position. Reward: +1
    on reaching the goal (which ends the episode), -0.01 for every other step. The episode is
    truncated after ``horizon`` steps.
    """

    metadata = {"render_modes": ["ansi"]}
    OBS = 2 * (2 * VIEW + 1) ** 2 + 2

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.horizon = params["horizon"]
        self.walls, self.start, self.goal = maze_layout(params)
        side = self.walls.shape[0]
        self.side = side
        # Padded views: walls outside the maze, the goal as a second plane.
        self.wall_pad = np.ones((side + 2 * VIEW, side + 2 * VIEW), dtype=np.float32)
        self.wall_pad[VIEW : VIEW + side, VIEW : VIEW + side] = self.walls
        self.goal_pad = np.zeros_like(self.wall_pad)
        self.goal_pad[self.goal[0] + VIEW, self.goal[1] + VIEW] = 1.0
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.OBS,), dtype=np.float32)
        self.action_space = spaces.Discrete(4)
        self.pos = self.start
        self.t = 0

    def _obs(self) -> np.ndarray:
        r, c = self.pos
        w = 2 * VIEW + 1
        out = np.empty(self.OBS, dtype=np.float32)
        out[: w * w] = self.wall_pad[r : r + w, c : c + w].ravel()
        out[w * w : 2 * w * w] = self.goal_pad[r : r + w, c : c + w].ravel()
        out[-2] = r / (2 * MAX_MAZE)
        out[-1] = c / (2 * MAX_MAZE)
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = self.start
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any):
        dr, dc = MOVES[int(action)]
        r, c = self.pos[0] + dr, self.pos[1] + dc
        if not self.walls[r, c]:
            self.pos = (int(r), int(c))
        self.t += 1
        reached = self.pos == self.goal
        reward = 1.0 if reached else -STEP_COST
        return self._obs(), reward, reached, self.t >= self.horizon and not reached, {}

    def render(self) -> str:
        rows = []
        for r in range(self.side):
            line = []
            for c in range(self.side):
                line.append(
                    "@" if (r, c) == self.pos else "G" if (r, c) == self.goal else "#" if self.walls[r, c] else "."
                )
            rows.append("".join(line))
        return f"step {self.t}/{self.horizon}\n" + "\n".join(rows)

    def agent_text(self) -> str:
        """What the agent sees, as text (the text track's ``info["text"]``): its position and
        the 5x5 window around it, never the rest of the maze (``render`` shows all of it)."""
        r, c = self.pos
        w = 2 * VIEW + 1
        walls = self.wall_pad[r : r + w, c : c + w]
        goal = self.goal_pad[r : r + w, c : c + w]
        rows = [
            "".join(
                "@" if (i, j) == (VIEW, VIEW) else "G" if goal[i, j] else "#" if walls[i, j] else "." for j in range(w)
            )
            for i in range(w)
        ]
        head = f"step {self.t}/{self.horizon}: you are at row {r}, column {c}"
        if self.pos == self.goal:
            head += " (the goal: reached)"
        return head + "\n" + "\n".join(rows)


def _maze_stats(params: dict[str, Any]) -> tuple[float, float, float, float]:
    """(random return, random episode length, optimal return, optimal episode length), exact:
    the shortest path (breadth-first search) and the uniform random walk (dynamic programming
    over the walker's position distribution, the goal absorbing)."""
    walls, start, goal = maze_layout(params)
    horizon = params["horizon"]
    side = walls.shape[0]
    open_squares = [(r, c) for r in range(side) for c in range(side) if not walls[r, c]]
    index = {sq: i for i, sq in enumerate(open_squares)}
    n = len(open_squares)
    step = np.zeros((n, n))
    for (r, c), i in index.items():
        for dr, dc in MOVES:
            j = index.get((r + dr, c + dc), i)
            step[i, j] += 0.25
    g = index[goal]
    # Shortest path length by BFS.
    dist = {start: 0}
    frontier = [start]
    while frontier and goal not in dist:
        nxt = []
        for r, c in frontier:
            for dr, dc in MOVES:
                sq = (r + dr, c + dc)
                if sq in index and sq not in dist:
                    dist[sq] = dist[(r, c)] + 1
                    nxt.append(sq)
        frontier = nxt
    d = dist[goal]
    best = 1.0 - STEP_COST * (d - 1) if d <= horizon else -STEP_COST * horizon
    best_length = min(d, horizon)
    # Random walk: p is the distribution over squares not yet absorbed at the goal.
    p = np.zeros(n)
    p[index[start]] = 1.0
    total = 0.0
    length = 0.0
    for _ in range(horizon):
        length += p.sum()  # the walker takes this step unless it reached the goal before
        p = p @ step
        hit = p[g]
        total += hit * 1.0 - (p.sum() - hit) * STEP_COST
        p[g] = 0.0
    return round(float(total), 10), float(length), round(float(best), 10), float(best_length)


def maze_reference(params: dict[str, Any]) -> tuple[float, float]:
    random_return, _, best, _ = _maze_stats(params)
    return random_return, best


def maze_lengths(params: dict[str, Any]) -> tuple[float, float]:
    _, random_length, _, best_length = _maze_stats(params)
    return random_length, best_length


register(
    Family(
        name="maze",
        make=lambda params, render_mode=None: Maze(params, render_mode=render_mode),
        params={
            "size": IntParam(5, 3, MAX_MAZE, "cells per side"),
            "horizon": IntParam(100, 20, 500, "steps per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the maze layout and goal"),
        },
        description="Procedurally generated maze with a hidden goal and a 5x5 view: explore, remember, exploit.",
        group="metarl",
        max_episode_steps=500,
        reference=maze_reference,
        episode_lengths=maze_lengths,
        success_on_termination=True,
        example="maze(size=6,task=9)",
    )
)
