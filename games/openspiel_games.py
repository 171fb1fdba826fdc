"""OpenSpiel families: single-agent puzzles and two-player games against an opponent policy.

Every family wraps a ``pyspiel`` game in a Gymnasium env:

* **Padding.** Observations are padded to the family's largest variant, board games spatially
  (the variant's board sits in the top-left corner of the largest board; cells off the board
  are all zero, and single-plane boards get an extra "on the board" plane), other games piece
  by piece. Action ids are mapped into the largest variant's action set, so an id means the
  same move in every variant (breakthrough's from-square/direction moves, liar's dice bids).
* **Masks.** ``info["action_mask"]`` (int8, one entry per action of the padded space) is in
  every reset/step info. Once the episode is over the mask is all ones: any action is ignored.
* **Illegal moves.** An action outside the mask ends the episode as a loss: the step's reward
  brings the episode's return to the game's worst outcome (-1 in win/loss games, -2 in Kuhn
  poker, -13 in Leduc poker) and ``terminated`` is true; ``info["illegal_action"]`` says so.
  Nothing crashes and nothing is gained by an illegal move.
* **Opponents.** In two-player games the agent plays seat ``seat`` (0 moves first); the other
  seat is played by the ``opponent`` parameter: ``random``, ``mcts(sims=N)`` (OpenSpiel's
  MCTSBot with one random rollout per leaf; in imperfect-information games it searches a
  determinisation: the agent's hidden dice are resampled before each search; in simultaneous-
  move games, which MCTSBot does not support, it is a flat UCB1 Monte-Carlo search over its own
  moves with random joint rollouts, so it never sees the agent's pending move), or for poker
  ``cfr(iterations=K)``: the average policy of K iterations of CFR, computed once per process.
* **External opponent.** ``games.make(variant, opponent_policy=policy)`` replaces the variant's
  ``opponent`` with a Python callable (cross-play, ``arena ladder``): on the other seat's turns
  the env calls ``policy(observation, info)`` with that seat's own observation and
  ``info["action_mask"]``, exactly as if it were the agent, and plays the padded action it
  returns. An action outside that mask (or not an integer) loses the game for the opponent:
  the agent's return becomes the game's best outcome, the episode ends and
  ``info["opponent_illegal_action"]`` is true (when that happens in ``reset``, the episode is
  over at once and the next ``step`` pays the reward). The variant string keeps its meaning;
  its ``opponent`` is simply not consulted.
* **Determinism.** Chance nodes and the opponent (its random moves, its search) draw from the
  env's own ``np_random``, so ``reset(seed=s)`` plus the same actions replays exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pyspiel
from gymnasium import spaces
from open_spiel.python.algorithms.mcts import MCTSBot, RandomRolloutEvaluator
from open_spiel.python.observation import make_observation

from games.core import ChoiceParam, Family, IntParam, Spec, SpecParam, register

# --------------------------------------------------------------------------------------------
# Opponents
# --------------------------------------------------------------------------------------------

SIMS = IntParam(25, 2, 2000, "MCTS simulations per move")
MCTS_OPPONENTS = {"random": {}, "mcts": {"sims": SIMS}}
POKER_OPPONENTS = {"random": {}, "cfr": {"iterations": IntParam(100, 1, 2000, "CFR iterations")}}


def _random_action(state: pyspiel.State, player: int, rng: np.random.Generator) -> int:
    legal = state.legal_actions(player)
    return legal[int(rng.integers(len(legal)))]


def _chance_action(state: pyspiel.State, u: float) -> int:
    outcomes = state.chance_outcomes()
    total = 0.0
    for action, prob in outcomes:
        total += prob
        if u < total:
            return action
    return outcomes[-1][0]


class RandomOpponent:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def act(self, state: pyspiel.State, player: int) -> int:
        return _random_action(state, player, self.rng)


class MCTSOpponent:
    """OpenSpiel's MCTSBot (UCT, random rollouts); ``determinize`` resamples hidden information."""

    def __init__(
        self,
        game: pyspiel.Game,
        sims: int,
        rng: np.random.Generator,
        determinize: Callable[[pyspiel.State, np.random.Generator], pyspiel.State] | None = None,
    ):
        self.rng = rng
        self.determinize = determinize
        evaluator = RandomRolloutEvaluator(n_rollouts=1, random_state=rng)
        self.bot = MCTSBot(game, uct_c=2.0, max_simulations=sims, evaluator=evaluator, random_state=rng, solve=True)

    def act(self, state: pyspiel.State, player: int) -> int:
        legal = state.legal_actions(player)
        if len(legal) == 1:
            return legal[0]
        if self.determinize is not None:
            state = self.determinize(state, self.rng)
        return int(self.bot.step(state))


class SimultaneousMCOpponent:
    """Flat Monte-Carlo search for simultaneous-move games: UCB1 over its own moves at the root,
    the other player's move and the rest of the game played at random."""

    def __init__(self, sims: int, rng: np.random.Generator, uct_c: float = 2.0):
        self.sims = sims
        self.rng = rng
        self.uct_c = uct_c

    def _rollout(self, state: pyspiel.State) -> None:
        rng = self.rng
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply_action(_chance_action(state, float(rng.random())))
            elif state.is_simultaneous_node():
                state.apply_actions([_random_action(state, p, rng) for p in range(state.num_players())])
            else:
                state.apply_action(_random_action(state, state.current_player(), rng))

    def act(self, state: pyspiel.State, player: int) -> int:
        legal = state.legal_actions(player)
        n = len(legal)
        if n == 1:
            return legal[0]
        order = self.rng.permutation(n)
        counts = np.zeros(n)
        totals = np.zeros(n)
        for i in range(self.sims):
            if i < n:
                k = order[i]
            else:
                tried = counts > 0
                ucb = np.full(n, -np.inf)
                ucb[tried] = totals[tried] / counts[tried] + self.uct_c * np.sqrt(math.log(i) / counts[tried])
                k = int(np.argmax(ucb))
            child = state.clone()
            joint = [_random_action(child, p, self.rng) for p in range(child.num_players())]
            joint[player] = legal[k]
            child.apply_actions(joint)
            self._rollout(child)
            totals[k] += child.returns()[player]
            counts[k] += 1
        tried = counts > 0
        means = np.where(tried, totals / np.maximum(counts, 1), -np.inf)
        return legal[int(np.argmax(means))]


@functools.lru_cache(maxsize=32)
def cfr_policy(game_string: str, iterations: int) -> pyspiel.Policy:
    """The average policy after ``iterations`` of CFR, computed once per process."""
    solver = pyspiel.CFRSolver(pyspiel.load_game(game_string))
    for _ in range(iterations):
        solver.evaluate_and_update_policy()
    return solver.tabular_average_policy()


class PolicyOpponent:
    """Samples its move from a fixed pyspiel policy (a CFR average policy)."""

    def __init__(self, policy: pyspiel.Policy, rng: np.random.Generator):
        self.policy = policy
        self.rng = rng

    def act(self, state: pyspiel.State, player: int) -> int:
        probs = self.policy.action_probabilities(state)
        u = float(self.rng.random())
        total = 0.0
        action = next(iter(probs))
        for action, prob in probs.items():
            total += prob
            if u < total:
                return int(action)
        return int(action)


class OpponentForfeit(Exception):
    """An external opponent chose an illegal move: it loses the game."""


class ExternalOpponent:
    """The other seat played by a callable ``policy(observation, info) -> action``; ``view`` is an
    env of the same variant with the seats swapped, used only to encode the opponent's view."""

    def __init__(self, policy: Callable[[Any, dict[str, Any]], Any], view: SpielEnv):
        self.policy = policy
        self.view = view

    def act(self, state: pyspiel.State, player: int) -> int:
        view = self.view
        mask = np.zeros(view.n_actions, dtype=np.int8)
        mask[view.to_pad[state.legal_actions(player)]] = 1
        action = self.policy(view.encode(state), {"action_mask": mask.copy()})
        try:
            a = int(action)
        except (TypeError, ValueError):
            raise OpponentForfeit(f"opponent action {action!r} is not an integer") from None
        if not (0 <= a < view.n_actions) or mask[a] == 0:
            raise OpponentForfeit(f"opponent action {a} is illegal here")
        return int(view.from_pad[a])


# --------------------------------------------------------------------------------------------
# The generic env
# --------------------------------------------------------------------------------------------


class SpielEnv(gym.Env):
    """A pyspiel game as a Gymnasium env for one seat; subclasses say how to pad and encode."""

    metadata = {"render_modes": ["ansi"]}
    #: padded observation shape and action count of the whole family
    obs_shape: tuple[int, ...] = ()
    n_actions: int = 0
    obs_low: float = 0.0
    obs_high: float = 1.0

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.params = params
        self.render_mode = render_mode
        self.game_string = self.build_game_string(params)
        self.game = pyspiel.load_game(self.game_string)
        self.num_players = self.game.num_players()
        self.seat = int(params.get("seat", 0))
        self.simultaneous = self.game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS
        self.worst = float(self.game.min_utility())
        self.observation_space = spaces.Box(self.obs_low, self.obs_high, shape=self.obs_shape, dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        n_game = self.game.num_distinct_actions()
        self.to_pad = np.array([self.pad_action(a) for a in range(n_game)], dtype=np.int64)
        self.from_pad = np.full(self.n_actions, -1, dtype=np.int64)
        self.from_pad[self.to_pad] = np.arange(n_game)
        self.state: pyspiel.State | None = None
        self.opponent: Any = None
        self.done = True
        self.ret = 0.0
        self.mask = np.ones(self.n_actions, dtype=np.int8)
        self.last_illegal = False
        self.external: ExternalOpponent | None = None
        self.forfeit_pending = False  # the external opponent forfeited in reset: the next step pays

    def use_external_opponent(self, policy: Callable[[Any, dict[str, Any]], Any]) -> None:
        """Let ``policy`` play the other seat instead of the variant's ``opponent``."""
        if self.num_players != 2:
            raise ValueError(f"{self.game_string} has no opponent seat")
        view = type(self)({**self.params, "seat": 1 - self.seat})
        self.external = ExternalOpponent(policy, view)

    def _opponent_forfeit(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.state is not None
        best = float(self.game.max_utility())
        reward = best - self.ret
        self.ret = best
        self.done = True
        self.forfeit_pending = False
        info = self._info()
        info["opponent_illegal_action"] = True
        return self.encode(self.state), reward, True, False, info

    # -- hooks ---------------------------------------------------------------------------------

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        raise NotImplementedError

    def pad_action(self, action: int) -> int:
        """The padded id of one of this variant's game actions (identity unless overridden)."""
        return action

    def encode(self, state: pyspiel.State) -> np.ndarray:
        raise NotImplementedError

    def make_opponent(self, rng: np.random.Generator) -> Any:
        if self.external is not None:
            return self.external
        spec: Spec | None = self.params.get("opponent")
        if spec is None:
            return None
        kwargs = spec.kwargs
        if spec.name == "random":
            return RandomOpponent(rng)
        if spec.name == "mcts":
            if self.simultaneous:
                return SimultaneousMCOpponent(kwargs["sims"], rng)
            return MCTSOpponent(self.game, kwargs["sims"], rng, self.determinizer())
        if spec.name == "cfr":
            return PolicyOpponent(cfr_policy(self.game_string, kwargs["iterations"]), rng)
        raise ValueError(f"unknown opponent {spec}")

    def determinizer(self) -> Callable[[pyspiel.State, np.random.Generator], pyspiel.State] | None:
        return None

    # -- Gymnasium API -------------------------------------------------------------------------

    def _advance(self) -> None:
        """Play chance nodes and the opponent until the agent must act or the game is over."""
        state = self.state
        assert state is not None
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply_action(_chance_action(state, float(self.np_random.random())))
            elif self.simultaneous or state.current_player() == self.seat:
                return
            else:
                player = state.current_player()
                state.apply_action(self.opponent.act(state, player))

    def _info(self) -> dict[str, Any]:
        mask = np.zeros(self.n_actions, dtype=np.int8)
        if self.done:
            mask[:] = 1
        else:
            assert self.state is not None
            mask[self.to_pad[self.state.legal_actions(self.seat)]] = 1
        self.mask = mask
        return {"action_mask": mask.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        # The opponent draws from the env's own RNG: one stream, so a reset seed fixes everything.
        self.opponent = self.make_opponent(self.np_random)
        self.state = self.game.new_initial_state()
        self.ret = 0.0
        self.done = False
        self.last_illegal = False
        self.forfeit_pending = False
        try:
            self._advance()
        except OpponentForfeit:
            self.done = self.forfeit_pending = True
            info = self._info()
            info["opponent_illegal_action"] = True
            return self.encode(self.state), info
        self.done = self.state.is_terminal()
        return self.encode(self.state), self._info()

    def step(self, action: Any):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if self.done:  # stepping a finished episode: nothing happens
            if self.forfeit_pending:
                return self._opponent_forfeit()
            return self.encode(self.state), 0.0, True, False, self._info()
        a = int(action)
        legal = 0 <= a < self.n_actions and self.mask[a] == 1
        if not legal:
            reward = self.worst - self.ret
            self.ret = self.worst
            self.done = True
            self.last_illegal = True
            info = self._info()
            info["illegal_action"] = True
            return self.encode(self.state), reward, True, False, info
        game_action = int(self.from_pad[a])
        state = self.state
        try:
            if self.simultaneous:
                joint = [0] * self.num_players
                joint[self.seat] = game_action
                for player in range(self.num_players):
                    if player != self.seat:
                        joint[player] = self.opponent.act(state, player)
                state.apply_actions(joint)
            else:
                state.apply_action(game_action)
            self._advance()
        except OpponentForfeit:
            return self._opponent_forfeit()
        total = float(state.returns()[self.seat])
        reward = total - self.ret
        self.ret = total
        self.done = state.is_terminal()
        return self.encode(state), reward, self.done, False, self._info()

    def render(self) -> str:
        if self.state is None:
            return f"{self.game_string}: not reset"
        head = f"{self.game_string}"
        if self.num_players > 1:
            opponent = "an external policy" if self.external is not None else self.params.get("opponent")
            head += f" | agent seat {self.seat} vs {opponent}"
        status = "illegal move: lost" if self.last_illegal else ("over" if self.done else "playing")
        return f"{head} | return {self.ret:+g} ({status})\n{self.state}"


def _grid_pad(tensor: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.float32)
    out[tuple(slice(0, n) for n in tensor.shape)] = tensor
    return out


class _Observer:
    """Fills a pyspiel observation buffer for one player; ``view`` is the named pieces."""

    def __init__(self, game: pyspiel.Game, perfect_recall: bool = False):
        kind = pyspiel.IIGObservationType(perfect_recall=True) if perfect_recall else None
        self.obs = make_observation(game, kind)

    def __call__(self, state: pyspiel.State, player: int) -> dict[str, np.ndarray]:
        self.obs.set_from(state, player)
        return self.obs.dict


# --------------------------------------------------------------------------------------------
# Single-agent puzzles: catch, cliff_walking, deep_sea
# --------------------------------------------------------------------------------------------


class _BoardPuzzle(SpielEnv):
    """Single-plane puzzle boards: plane 0 the game's own tensor, plane 1 marks the board."""

    max_rows = 1
    max_cols = 1

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.obs_shape = (2, self.max_rows, self.max_cols)
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game)
        rows, cols = self.game.observation_tensor_shape()
        self.rows, self.cols = rows, cols
        self.board = np.zeros(self.obs_shape, dtype=np.float32)
        self.board[1, :rows, :cols] = 1.0

    def encode(self, state: pyspiel.State) -> np.ndarray:
        out = self.board.copy()
        out[0, : self.rows, : self.cols] = self.observer(state, 0)["observation"]
        return out


class CatchEnv(_BoardPuzzle):
    max_rows, max_cols, n_actions = 12, 9, 3

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"catch(rows={params['rows']},columns={params['columns']})"


class CliffWalkingEnv(_BoardPuzzle):
    max_rows, max_cols, n_actions = 6, 12, 4

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"cliff_walking(height={params['height']},width={params['width']},horizon={params['horizon']})"


class DeepSeaEnv(_BoardPuzzle):
    max_rows, max_cols, n_actions = 20, 20, 2

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"deep_sea(size={params['size']},seed={params['task']},randomize_actions=true)"


@functools.lru_cache(maxsize=256)
def _puzzle_values(game_string: str) -> tuple[float, float]:
    """Exact expected return of the uniform-random policy and the optimal return, by DP."""
    game = pyspiel.load_game(game_string)
    memo: dict[tuple[str, int], tuple[float, float]] = {}

    def value(state: pyspiel.State) -> tuple[float, float]:
        if state.is_terminal():
            return 0.0, 0.0
        key = (str(state), state.move_number())
        if key in memo:
            return memo[key]
        if state.is_chance_node():
            rand = opt = 0.0
            for action, prob in state.chance_outcomes():
                child = state.child(action)
                reward = child.rewards()[0]
                r, o = value(child)
                rand += prob * (reward + r)
                opt += prob * (reward + o)
        else:
            results = []
            for action in state.legal_actions():
                child = state.child(action)
                reward = child.rewards()[0]
                r, o = value(child)
                results.append((reward + r, reward + o))
            rand = sum(r for r, _ in results) / len(results)
            opt = max(o for _, o in results)
        memo[key] = (rand, opt)
        return rand, opt

    rand, opt = value(game.new_initial_state())
    return round(float(rand), 10), round(float(opt), 10)


def _puzzle_reference(env_class: type[SpielEnv]) -> Callable[[dict[str, Any]], tuple[float, float]]:
    def reference(params: dict[str, Any]) -> tuple[float, float]:
        return _puzzle_values(env_class.build_game_string(params))

    return reference


register(
    Family(
        name="catch",
        make=lambda params, render_mode=None: CatchEnv(params, render_mode),
        params={
            "rows": IntParam(10, 5, 12, "rows the ball falls through"),
            "columns": IntParam(5, 3, 9, "board width"),
        },
        description="Move a paddle to catch a falling ball (OpenSpiel catch); board height and width vary.",
        group="openspiel",
        max_episode_steps=20,
        reference=_puzzle_reference(CatchEnv),
        example="catch(columns=7,rows=8)",
    )
)

register(
    Family(
        name="cliff_walking",
        make=lambda params, render_mode=None: CliffWalkingEnv(params, render_mode),
        params={
            "height": IntParam(4, 3, 6, "grid height"),
            "width": IntParam(8, 4, 12, "grid width"),
            "horizon": IntParam(100, 20, 200, "steps before the episode ends"),
        },
        description="Walk along a cliff edge to the goal; -1 a step, -100 and the end for falling (OpenSpiel).",
        group="openspiel",
        max_episode_steps=200,
        reference=_puzzle_reference(CliffWalkingEnv),
        example="cliff_walking(height=5,width=10)",
    )
)

register(
    Family(
        name="deep_sea",
        make=lambda params, render_mode=None: DeepSeaEnv(params, render_mode),
        params={
            "size": IntParam(10, 5, 20, "depth and width of the sea"),
            "task": IntParam(42, 0, 2**31 - 1, "seed of which action means 'right' in each cell"),
        },
        description="Deep-sea exploration: a costly chain of 'right' moves to a distant treasure (OpenSpiel).",
        group="openspiel",
        max_episode_steps=20,
        reference=_puzzle_reference(DeepSeaEnv),
        example="deep_sea(size=8,task=3)",
    )
)


# --------------------------------------------------------------------------------------------
# Two-player board games: connect_four, breakthrough
# --------------------------------------------------------------------------------------------

SEAT = IntParam(0, 0, 1, "the agent's seat; 0 moves first")


def _two_player(env_class: type[SpielEnv]) -> Callable[..., SpielEnv]:
    """A family ``make`` that also takes ``opponent_policy``, a callable for the other seat."""

    def make(
        params: dict[str, Any],
        render_mode: str | None = None,
        opponent_policy: Callable[[Any, dict[str, Any]], Any] | None = None,
    ) -> SpielEnv:
        env = env_class(params, render_mode)
        if opponent_policy is not None:
            env.use_external_opponent(opponent_policy)
        return env

    return make


class ConnectFourEnv(SpielEnv):
    """Planes: the agent's discs, the opponent's, empty cells; row 0 is the bottom row."""

    max_rows, max_cols = 8, 9
    obs_shape = (3, 8, 9)
    n_actions = 9

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game)
        self.order = [self.seat, 1 - self.seat, 2]

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"connect_four(rows={params['rows']},columns={params['columns']},x_in_row={params['x_in_row']})"

    def encode(self, state: pyspiel.State) -> np.ndarray:
        return _grid_pad(self.observer(state, self.seat)["observation"][self.order], self.obs_shape)


class BreakthroughEnv(SpielEnv):
    """Planes: the agent's pieces, the opponent's, empty cells; row 0 is black's home row.

    Moves are (from-square, direction, capture) ids of the largest 8x8 board, so one id means
    the same move on every board size.
    """

    max_rows, max_cols = 8, 8
    obs_shape = (3, 8, 8)
    n_actions = 8 * 8 * 6 * 2

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.cols = params["columns"]
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game)
        self.order = [self.seat, 1 - self.seat, 2]

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"breakthrough(rows={params['rows']},columns={params['columns']})"

    def pad_action(self, action: int) -> int:
        move, cell = action % 12, action // 12
        row, col = divmod(cell, self.cols)
        return (row * self.max_cols + col) * 12 + move

    def encode(self, state: pyspiel.State) -> np.ndarray:
        return _grid_pad(self.observer(state, self.seat)["observation"][self.order], self.obs_shape)


register(
    Family(
        name="connect_four",
        make=_two_player(ConnectFourEnv),
        params={
            "rows": IntParam(6, 4, 8, "board height"),
            "columns": IntParam(7, 4, 9, "board width"),
            "x_in_row": IntParam(4, 3, 5, "discs in a row that win"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Connect-N on a variable board (OpenSpiel) against an opponent policy.",
        group="openspiel",
        players=2,
        max_episode_steps=40,
        example="connect_four(columns=6,opponent=mcts(sims=25),rows=5,x_in_row=3)",
    )
)

register(
    Family(
        name="breakthrough",
        make=_two_player(BreakthroughEnv),
        params={
            "rows": IntParam(8, 5, 8, "board height"),
            "columns": IntParam(8, 3, 8, "board width"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Breakthrough: race a pawn to the far row (OpenSpiel); board size and opponent vary.",
        group="openspiel",
        players=2,
        max_episode_steps=110,
        example="breakthrough(columns=5,rows=6,seat=1)",
    )
)


# --------------------------------------------------------------------------------------------
# Goofspiel (simultaneous)
# --------------------------------------------------------------------------------------------


class PieceEnv(SpielEnv):
    """Flat observations assembled from the pyspiel observation's named pieces, each padded to
    the family's largest shape so a piece always occupies the same slice."""

    max_pieces: dict[str, tuple[int, ...]] = {}
    perfect_recall = False

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.obs_shape = (sum(math.prod(s) for s in self.max_pieces.values()),)
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game, self.perfect_recall)
        offset = 0
        self.slots: list[tuple[str, int, tuple[int, ...]]] = []
        for name, shape in self.max_pieces.items():
            self.slots.append((name, offset, shape))
            offset += math.prod(shape)

    def encode(self, state: pyspiel.State) -> np.ndarray:
        pieces = self.observer(state, self.seat)
        out = np.zeros(self.obs_shape, dtype=np.float32)
        for name, offset, shape in self.slots:
            piece = pieces[name]
            if piece.shape == shape:
                out[offset : offset + piece.size] = piece.ravel()
            else:
                out[offset : offset + math.prod(shape)] = _grid_pad(piece, shape).ravel()
        return out


MAX_CARDS = 10


class GoofspielEnv(PieceEnv):
    """Pieces: current prize card, remaining prizes, both point totals, both hands (own first)."""

    max_pieces = {
        "current_point_card": (MAX_CARDS,),
        "remaining_point_cards": (MAX_CARDS,),
        "point_totals": (2, MAX_CARDS * (MAX_CARDS + 1) // 2 + 1),
        "player_hands": (2, MAX_CARDS),
    }
    n_actions = MAX_CARDS

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return (
            f"goofspiel(num_cards={params['num_cards']},points_order={params['points_order']},"
            "egocentric=true,imp_info=false,returns_type=win_loss)"
        )


register(
    Family(
        name="goofspiel",
        make=_two_player(GoofspielEnv),
        params={
            "num_cards": IntParam(6, 3, MAX_CARDS, "cards in each hand and in the prize deck"),
            "points_order": ChoiceParam("random", ("random", "descending", "ascending"), "order of the prizes"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Goofspiel: bid cards simultaneously for prizes (OpenSpiel); deck size, prize order, opponent vary.",
        group="openspiel",
        players=2,
        max_episode_steps=MAX_CARDS + 2,
        example="goofspiel(num_cards=5,opponent=mcts(sims=25))",
    )
)


# --------------------------------------------------------------------------------------------
# Poker: kuhn_poker, leduc_poker (info-state observations, exact references)
# --------------------------------------------------------------------------------------------


class KuhnEnv(PieceEnv):
    max_pieces = {"player": (2,), "private_card": (3,), "betting": (3, 2)}
    n_actions = 2
    perfect_recall = True

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return "kuhn_poker"

    def agent_text(self) -> str:
        """What the agent knows, as text (the text track's ``info["text"]``): its own card and
        the betting, as its observation does; ``render`` shows both cards."""
        if self.state is None:
            return "kuhn poker: not reset"
        history = self.state.history()
        lines = [f"You are player {self.seat + 1} (player 1 acts first)."]
        if len(history) > self.seat:
            lines.append(f"Your card: {'JQK'[history[self.seat]]}.")
        bets: list[str] = []
        facing = False  # a bet stands: pass folds, bet calls
        for i, a in enumerate(history[2:]):
            move = (("pass (fold)", "bet (call)") if facing else ("pass", "bet"))[a]
            bets.append(f"{'you' if i % 2 == self.seat else 'opponent'} {move}")
            facing = facing or a == 1
        lines.append(f"Betting so far: {', '.join(bets) if bets else 'none'}.")
        if self.last_illegal:
            lines.append(f"Illegal move: you lose the hand ({self.ret:+g}).")
        elif self.done:
            lines.append(f"Hand over: you {'won' if self.ret > 0 else 'lost'} {abs(self.ret):g} ({self.ret:+g}).")
        else:
            lines.append(f"Your move: {'pass (fold) or bet (call)' if facing else 'pass or bet'}.")
        return "\n".join(lines)


class LeducEnv(PieceEnv):
    max_pieces = {"player": (2,), "private_card": (6,), "community_card": (6,), "betting": (2, 4, 2)}
    n_actions = 3
    perfect_recall = True

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return "leduc_poker"


@functools.lru_cache(maxsize=64)
def _poker_values(game_string: str, seat: int, opponent: Spec) -> tuple[float, float]:
    """Exact expected return of the uniform-random agent and of a best response to the opponent."""
    from open_spiel.python import policy as policy_lib
    from open_spiel.python.algorithms import best_response, expected_game_score

    game = pyspiel.load_game(game_string)
    uniform = policy_lib.UniformRandomPolicy(game)
    if opponent.name == "cfr":
        fixed = cfr_policy(game_string, opponent.kwargs["iterations"])
        opp_policy: Any = policy_lib.tabular_policy_from_callable(game, fixed.action_probabilities)
    else:
        opp_policy = uniform
    policies = [uniform, opp_policy] if seat == 0 else [opp_policy, uniform]
    rand = expected_game_score.policy_value(game.new_initial_state(), policies)[seat]
    best = best_response.BestResponsePolicy(game, seat, opp_policy).value(game.new_initial_state())
    return round(float(rand), 10), round(float(best), 10)


def _poker_reference(game_string: str) -> Callable[[dict[str, Any]], tuple[float, float]]:
    def reference(params: dict[str, Any]) -> tuple[float, float]:
        return _poker_values(game_string, params["seat"], params["opponent"])

    return reference


for _name, _env, _desc, _example, _steps in (
    ("kuhn_poker", KuhnEnv, "Kuhn poker (3 cards)", "kuhn_poker(opponent=cfr(iterations=50),seat=1)", 3),
    ("leduc_poker", LeducEnv, "Leduc hold'em (6 cards, 2 rounds)", "leduc_poker(opponent=cfr(iterations=100))", 8),
):
    register(
        Family(
            name=_name,
            make=_two_player(_env),
            params={
                "seat": SEAT,
                "opponent": SpecParam(Spec("random"), POKER_OPPONENTS, "who plays the other seat"),
            },
            description=f"{_desc} against a fixed opponent policy (random or a CFR average policy): exploit it.",
            group="openspiel",
            players=2,
            max_episode_steps=_steps + 2,
            reference=_poker_reference(_name),
            example=_example,
        )
    )


# --------------------------------------------------------------------------------------------
# Liar's dice
# --------------------------------------------------------------------------------------------

MAX_DICE, MAX_SIDES = 2, 6
MAX_TOTAL = 2 * MAX_DICE


class LiarsDiceEnv(SpielEnv):
    """Observation: own dice as face counts, both players' bids on the padded (quantity, face)
    grid, the last bid, and the variant's dice per player and sides. Bid ids are
    ``(quantity - 1) * 6 + (face - 1)`` for every variant; the last id calls 'liar'."""

    n_actions = MAX_TOTAL * MAX_SIDES + 1
    obs_shape = (MAX_SIDES + 3 * MAX_TOTAL * MAX_SIDES + 2,)

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.numdice = params["numdice"]
        self.sides = params["dice_sides"]
        super().__init__(params, render_mode)
        self.n_bids = 2 * self.numdice * self.sides

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"liars_dice(numdice={params['numdice']},dice_sides={params['dice_sides']})"

    def pad_action(self, action: int) -> int:
        n_bids = 2 * self.numdice * self.sides
        if action == n_bids:
            return MAX_TOTAL * MAX_SIDES
        quantity, face = divmod(action, self.sides)
        return quantity * MAX_SIDES + face

    def encode(self, state: pyspiel.State) -> np.ndarray:
        out = np.zeros(self.obs_shape, dtype=np.float32)
        history = state.history()
        n_dice = 2 * self.numdice
        mine = history[self.seat * self.numdice : (self.seat + 1) * self.numdice]
        for face in mine:
            out[face] += 1.0 / MAX_DICE
        grid = MAX_TOTAL * MAX_SIDES
        base = MAX_SIDES
        last = -1
        for i, action in enumerate(history[n_dice:]):
            if action >= self.n_bids:
                break
            bidder = i % 2  # player 0 bids first
            padded = self.to_pad[action]
            out[base + (0 if bidder == self.seat else grid) + padded] = 1.0
            last = padded
        if last >= 0:
            out[base + 2 * grid + last] = 1.0
        out[-2] = self.numdice / MAX_DICE
        out[-1] = self.sides / MAX_SIDES
        return out

    def determinizer(self) -> Callable[[pyspiel.State, np.random.Generator], pyspiel.State]:
        """Replay the game with the agent's dice replaced by random faces (the opponent's view)."""
        numdice, sides, seat, game = self.numdice, self.sides, self.seat, self.game

        def resample(state: pyspiel.State, rng: np.random.Generator) -> pyspiel.State:
            history = state.history()
            sample = game.new_initial_state()
            for i, action in enumerate(history):
                if seat * numdice <= i < (seat + 1) * numdice:
                    action = int(rng.integers(sides))
                sample.apply_action(action)
            return sample

        return resample


register(
    Family(
        name="liars_dice",
        make=_two_player(LiarsDiceEnv),
        params={
            "numdice": IntParam(1, 1, MAX_DICE, "dice per player"),
            "dice_sides": IntParam(6, 2, MAX_SIDES, "sides per die (the highest face is wild)"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Liar's dice: bid on the hidden dice or call 'liar' (OpenSpiel); dice count and sides vary.",
        group="openspiel",
        players=2,
        max_episode_steps=MAX_TOTAL * MAX_SIDES + 2,
        example="liars_dice(dice_sides=4,opponent=mcts(sims=25))",
    )
)


# --------------------------------------------------------------------------------------------
# Oshi-zumo (simultaneous)
# --------------------------------------------------------------------------------------------

MAX_COINS, MAX_FIELD = 50, 4
OSHI_HORIZON = 100


class OshiZumoEnv(SpielEnv):
    """Observation: own coins and the opponent's coins (one-hot over 0..50) and the wrestler's
    position one-hot on the largest field, centred, oriented so that the agent pushes towards
    higher indices. A bid is its own action id (0..coins)."""

    n_actions = MAX_COINS + 1
    obs_shape = (2 * (MAX_COINS + 1) + 2 * MAX_FIELD + 3,)

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.coins = params["coins"]
        self.size = params["size"]
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game)

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"oshi_zumo(coins={params['coins']},size={params['size']},horizon={OSHI_HORIZON},min_bid=0)"

    def encode(self, state: pyspiel.State) -> np.ndarray:
        tensor = self.observer(state, self.seat)["observation"]
        c = self.coins + 1
        coins = (int(np.argmax(tensor[:c])), int(np.argmax(tensor[c : 2 * c])))
        position = int(np.argmax(tensor[2 * c :]))  # 0 .. 2*size+2, player 0 pushes upwards
        if self.seat == 1:
            position = 2 * self.size + 2 - position
        out = np.zeros(self.obs_shape, dtype=np.float32)
        out[coins[self.seat]] = 1.0
        out[MAX_COINS + 1 + coins[1 - self.seat]] = 1.0
        out[2 * (MAX_COINS + 1) + position + (MAX_FIELD - self.size)] = 1.0
        return out


register(
    Family(
        name="oshi_zumo",
        make=_two_player(OshiZumoEnv),
        params={
            "coins": IntParam(50, 5, MAX_COINS, "coins each wrestler starts with"),
            "size": IntParam(3, 1, MAX_FIELD, "field squares on each side of the centre"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Oshi-zumo: bid coins simultaneously to push the wrestler off the field (OpenSpiel).",
        group="openspiel",
        players=2,
        max_episode_steps=OSHI_HORIZON,
        example="oshi_zumo(coins=20,size=2,opponent=mcts(sims=25))",
    )
)


# --------------------------------------------------------------------------------------------
# Pig
# --------------------------------------------------------------------------------------------

MAX_WINSCORE = 50


class PigEnv(SpielEnv):
    """Observation rows (one-hot over 0..50): the turn total, the agent's score, the opponent's."""

    n_actions = 2
    obs_shape = (3 * (MAX_WINSCORE + 1),)

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        super().__init__(params, render_mode)
        self.observer = _Observer(self.game)
        self.order = [0, 1 + self.seat, 2 - self.seat]

    @classmethod
    def build_game_string(cls, params: dict[str, Any]) -> str:
        return f"pig(winscore={params['winscore']},horizon=400)"

    def encode(self, state: pyspiel.State) -> np.ndarray:
        tensor = self.observer(state, self.seat)["observation"][self.order]
        return _grid_pad(tensor, (3, MAX_WINSCORE + 1)).ravel()


register(
    Family(
        name="pig",
        make=_two_player(PigEnv),
        params={
            "winscore": IntParam(30, 10, MAX_WINSCORE, "points that win"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), MCTS_OPPONENTS, "who plays the other seat"),
        },
        description="Pig: roll to build a turn total or bank it, a 1 loses it (OpenSpiel); target score varies.",
        group="openspiel",
        players=2,
        max_episode_steps=150,
        example="pig(opponent=mcts(sims=25),winscore=20)",
    )
)
