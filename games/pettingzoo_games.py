"""PettingZoo families: rock-paper-scissors against a biased mix, and classic board games
(tic-tac-toe, connect four, go) against an opponent policy.

The board games wrap PettingZoo's AEC envs (``tictactoe_v3``, ``connect_four_v3``, ``go_v5``)
for one seat (``seat=0`` moves first). The other seat is played by the ``opponent`` parameter:
``random`` or ``mcts(sims=N)``, OpenSpiel's MCTSBot searching a mirror of the game in OpenSpiel
(``tic_tac_toe``, ``connect_four``, ``go``), kept in step with every move. Should the mirror ever
disagree with PettingZoo about a move (go's ko rules differ in rare positions; OpenSpiel's go
also stops at 2 * board_size**2 moves), the opponent plays uniformly random legal moves for the
rest of that game.

The opponent draws from the env's own ``np_random``, so ``reset(seed=s)`` plus the same actions
replays exactly. ``info["action_mask"]`` is in every reset/step info (all ones once the game is over). An action
outside the mask loses: reward -1, ``terminated``, ``info["illegal_action"] = True``.

**External opponent** (cross-play, ``arena ladder``): ``games.make(variant, opponent_policy=policy)``
replaces the variant's ``opponent`` (in ``rps``, the biased mix) with a Python callable. On the
other seat's turns the env calls ``policy(observation, info)`` with that seat's own observation and
``info["action_mask"]``, as if it were the agent (in ``rps`` before it sees the agent's move), and
plays the action it returns. An action outside that mask loses for the opponent: the agent's
return becomes +1 (in ``rps``: +1 for every round left), the episode ends and
``info["opponent_illegal_action"]`` is true (in ``reset``: the episode is over at once and the next
``step`` pays the reward). The variant string keeps its meaning.

``rps`` is implemented directly in numpy with PettingZoo ``rps_v2``'s moves and payoff rule
(rock, paper, scissors, spock, lizard): its AEC machinery only adds overhead to a payoff table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pyspiel
from gymnasium import spaces
from open_spiel.python.algorithms.mcts import MCTSBot, RandomRolloutEvaluator
from pettingzoo.classic.connect_four import connect_four as pz_connect_four
from pettingzoo.classic.go import go as pz_go
from pettingzoo.classic.go import go_base
from pettingzoo.classic.tictactoe import tictactoe as pz_tictactoe

from games.core import ChoiceParam, Family, FloatParam, IntParam, Spec, SpecParam, register

SEAT = IntParam(0, 0, 1, "the agent's seat; 0 moves first")
OPPONENTS = {"random": {}, "mcts": {"sims": IntParam(25, 2, 2000, "MCTS simulations per move")}}
Policy = Callable[[Any, dict[str, Any]], Any]


def _legal_choice(action: Any, mask: np.ndarray) -> int | None:
    """``action`` as an int when the mask allows it, else None (the opponent forfeits)."""
    try:
        a = int(action)
    except (TypeError, ValueError):
        return None
    return a if 0 <= a < len(mask) and mask[a] == 1 else None


def _with_opponent_policy(env_class: Callable[..., Any]) -> Callable[..., gym.Env]:
    """A family ``make`` that also takes ``opponent_policy``, a callable for the other seat."""

    def make(params: dict[str, Any], render_mode: str | None = None, opponent_policy: Policy | None = None) -> gym.Env:
        env = env_class(params, render_mode)
        env.external = opponent_policy
        return env

    return make


# --------------------------------------------------------------------------------------------
# Rock-paper-scissors(-spock-lizard) against a biased mixed strategy
# --------------------------------------------------------------------------------------------

RPS_MOVES = ("rock", "paper", "scissors", "spock", "lizard")  # PettingZoo rps_v2's order
MAX_RPS = len(RPS_MOVES)


def rps_payoff(n: int) -> np.ndarray:
    """PettingZoo rps_v2's rule: same parity, the lower move wins; else the higher one wins."""
    table = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            if a != b:
                lower_wins = (a + b) % 2 == 0
                table[a, b] = 1.0 if (a < b) == lower_wins else -1.0
    return table


def rps_mix(params: dict[str, Any]) -> np.ndarray:
    """The opponent's mixed strategy, drawn from the variant's task seed."""
    rng = np.random.default_rng(params["task"])
    return rng.dirichlet(np.full(params["actions"], params["concentration"]))


class RPSEnv(gym.Env):
    """Repeated rock-paper-scissors(-spock-lizard) against a fixed, biased mixed strategy.

    Observation: the opponent's and the agent's previous moves (one-hot over five moves plus
    'none'), and the fraction of the match played. Reward per round: +1 win, 0 tie, -1 loss.
    Moves beyond ``actions`` are masked; playing one forfeits the rest of the match
    (reward -1 for every round left, ``terminated``).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.n = params["actions"]
        self.rounds = params["rounds"]
        self.mix = rps_mix(params)
        self.cdf = np.cumsum(self.mix)
        self.payoff = rps_payoff(self.n)
        self.obs_size = 2 * (MAX_RPS + 1) + 1
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.obs_size,), dtype=np.float32)
        self.action_space = spaces.Discrete(MAX_RPS)
        self.mask = np.zeros(MAX_RPS, dtype=np.int8)
        self.mask[: self.n] = 1
        self.t = 0
        self.last: tuple[int, int] | None = None
        self.score = 0.0
        self.external: Policy | None = None  # set by make(..., opponent_policy=...)

    def _obs(self, flipped: bool = False) -> np.ndarray:
        out = np.zeros(self.obs_size, dtype=np.float32)
        theirs, mine = (MAX_RPS, MAX_RPS) if self.last is None else (self.last[1], self.last[0])
        if flipped:  # the other player's view
            theirs, mine = mine, theirs
        out[theirs] = 1.0
        out[MAX_RPS + 1 + mine] = 1.0
        out[-1] = self.t / self.rounds
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.last = None
        self.score = 0.0
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        a = int(action)
        if not (0 <= a < self.n):
            reward = -float(self.rounds - self.t)
            self.t = self.rounds
            self.score += reward
            return self._obs(), reward, True, False, {"action_mask": self.mask.copy(), "illegal_action": True}
        if self.external is not None:
            chosen = _legal_choice(self.external(self._obs(flipped=True), {"action_mask": self.mask.copy()}), self.mask)
            if chosen is None:
                reward = float(self.rounds - self.t)
                self.t = self.rounds
                self.score += reward
                info = {"action_mask": self.mask.copy(), "opponent_illegal_action": True}
                return self._obs(), reward, True, False, info
            b = chosen
        else:
            b = int(np.searchsorted(self.cdf, self.np_random.random(), side="right"))
            b = min(b, self.n - 1)
        reward = float(self.payoff[a, b])
        self.t += 1
        self.last = (a, b)
        self.score += reward
        return self._obs(), reward, self.t >= self.rounds, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        moves = ", ".join(RPS_MOVES[: self.n])
        last = "none yet" if self.last is None else f"you {RPS_MOVES[self.last[0]]}, them {RPS_MOVES[self.last[1]]}"
        return f"{moves}: round {self.t}/{self.rounds}, score {self.score:+g}; last: {last}"


def rps_reference(params: dict[str, Any]) -> tuple[float, float]:
    expected = rps_payoff(params["actions"]) @ rps_mix(params)
    return round(float(expected.mean() * params["rounds"]), 10) + 0.0, round(
        float(expected.max() * params["rounds"]), 10
    )


register(
    Family(
        name="rps",
        make=_with_opponent_policy(RPSEnv),
        params={
            "actions": ChoiceParam(3, (3, 5), "3: rock-paper-scissors, 5: adds spock and lizard"),
            "rounds": IntParam(50, 5, 500, "rounds per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the opponent's mixed strategy"),
            "concentration": FloatParam(0.5, 0.05, 10.0, "Dirichlet concentration of that mix: small is more biased"),
        },
        description="Repeated rock-paper-scissors(-spock-lizard) against a hidden biased mix: infer and exploit it.",
        group="pettingzoo",
        players=2,
        max_episode_steps=500,
        reference=rps_reference,
        example="rps(actions=5,concentration=0.3,task=11)",
    )
)


# --------------------------------------------------------------------------------------------
# Board games against an opponent
# --------------------------------------------------------------------------------------------


class _OpponentForfeit(Exception):
    """An external opponent chose an illegal move: it loses the game."""


class PZDuel(gym.Env):
    """A two-player PettingZoo AEC board game for one seat; subclasses say how to pad."""

    metadata = {"render_modes": ["ansi"]}
    obs_shape: tuple[int, ...] = ()
    n_actions = 0

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.params = params
        self.render_mode = render_mode
        self.seat = params["seat"]
        self.pz = self.build_env(params)
        self.me = self.pz.possible_agents[self.seat]
        self.them = self.pz.possible_agents[1 - self.seat]
        self.observation_space = spaces.Box(0.0, 1.0, shape=self.obs_shape, dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        self.mirror_game = self.build_mirror(params)
        self.mirror: pyspiel.State | None = None
        self.bot: MCTSBot | None = None
        self.done = True
        self.ret = 0.0
        self.mask = np.ones(self.n_actions, dtype=np.int8)
        self.last_illegal = False
        self.started = False
        self.external: Policy | None = None  # set by make(..., opponent_policy=...)
        self.forfeit_pending = False  # the external opponent forfeited in reset: the next step pays

    # -- hooks ---------------------------------------------------------------------------------

    def build_env(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def build_mirror(self, params: dict[str, Any]) -> pyspiel.Game:
        raise NotImplementedError

    def to_mirror(self, action: int) -> int:
        """PettingZoo action -> OpenSpiel mirror action."""
        return action

    def from_mirror(self, action: int) -> int:
        return action

    def pad(self, action: int) -> int:
        """PettingZoo action -> padded action id."""
        return action

    def unpad(self, action: int) -> int:
        """Padded action id -> PettingZoo action (or -1 where the variant has none)."""
        return action

    def encode(self, observation: np.ndarray) -> np.ndarray:
        return observation.astype(np.float32)

    def activate(self) -> None:
        """Called before every PettingZoo call (go uses it to restore its module globals)."""

    # -- play ----------------------------------------------------------------------------------

    def _over(self) -> bool:
        return bool(self.pz.terminations[self.me] or self.pz.truncations[self.me])

    def _play(self, action: int) -> None:
        self.pz.step(action)
        if self.mirror is not None:
            mirrored = self.to_mirror(action)
            if self.mirror.is_terminal() or mirrored not in self.mirror.legal_actions():
                self.mirror = None  # out of step: the opponent falls back to random play
            else:
                self.mirror.apply_action(mirrored)

    def _external_action(self, policy: Policy) -> int:
        observed = self.pz.observe(self.them)
        mask = np.zeros(self.n_actions, dtype=np.int8)
        for action in np.flatnonzero(observed["action_mask"]):
            mask[self.pad(int(action))] = 1
        chosen = _legal_choice(policy(self.encode(observed["observation"]), {"action_mask": mask}), mask)
        if chosen is None:
            raise _OpponentForfeit
        return self.unpad(chosen)

    def _opponent_forfeit(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward = 1.0 - self.ret
        self.ret = 1.0
        self.done = True
        self.forfeit_pending = False
        obs, info = self._obs_info()
        info["opponent_illegal_action"] = True
        return obs, reward, True, False, info

    def _opponent_action(self) -> int:
        if self.external is not None:
            return self._external_action(self.external)
        legal = np.flatnonzero(self.pz.observe(self.them)["action_mask"])
        if self.bot is not None and self.mirror is not None and not self.mirror.is_terminal():
            action = self.from_mirror(int(self.bot.step(self.mirror)))
            if action in legal:
                return action
            self.mirror = None
        return int(legal[self.np_random.integers(len(legal))])

    def _advance(self) -> None:
        while not self._over() and self.pz.agent_selection != self.me:
            self._play(self._opponent_action())

    def _obs_info(self) -> tuple[np.ndarray, dict[str, Any]]:
        observed = self.pz.observe(self.me)
        mask = np.zeros(self.n_actions, dtype=np.int8)
        if self.done:
            mask[:] = 1
        else:
            for action in np.flatnonzero(observed["action_mask"]):
                mask[self.pad(int(action))] = 1
        self.mask = mask
        return self.encode(observed["observation"]), {"action_mask": mask.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.activate()
        self.pz.reset()
        opponent = self.params["opponent"]
        self.bot = None
        self.mirror = None
        if opponent.name == "mcts" and self.external is None:
            # The bot draws from the env's own RNG: one stream, so a reset seed fixes everything.
            evaluator = RandomRolloutEvaluator(n_rollouts=1, random_state=self.np_random)
            self.bot = MCTSBot(
                self.mirror_game,
                uct_c=2.0,
                max_simulations=opponent.kwargs["sims"],
                evaluator=evaluator,
                random_state=self.np_random,
                solve=True,
            )
            self.mirror = self.mirror_game.new_initial_state()
        self.ret = 0.0
        self.last_illegal = False
        self.started = True
        self.forfeit_pending = False
        try:
            self._advance()
        except _OpponentForfeit:
            self.done = self.forfeit_pending = True
            obs, info = self._obs_info()
            info["opponent_illegal_action"] = True
            return obs, info
        self.done = self._over()
        return self._obs_info()

    def step(self, action: Any):
        if not self.started:
            raise RuntimeError("call reset() before step()")
        self.activate()
        if self.done:
            if self.forfeit_pending:
                return self._opponent_forfeit()
            obs, info = self._obs_info()
            return obs, 0.0, True, False, info
        a = int(action)
        if not (0 <= a < self.n_actions) or self.mask[a] == 0:
            reward = -1.0 - self.ret
            self.ret = -1.0
            self.done = True
            self.last_illegal = True
            obs, info = self._obs_info()
            info["illegal_action"] = True
            return obs, reward, True, False, info
        self._play(self.unpad(a))
        try:
            self._advance()
        except _OpponentForfeit:
            return self._opponent_forfeit()
        self.done = self._over()
        reward = 0.0
        if self.done:
            reward = float(self.pz.rewards[self.me]) - self.ret
            self.ret += reward
        obs, info = self._obs_info()
        return obs, reward, self.done, False, info

    def board_text(self) -> str:
        raise NotImplementedError

    def render(self) -> str:
        if not self.started:
            return f"{type(self).__name__}: not reset"
        self.activate()
        status = "illegal move: lost" if self.last_illegal else ("over" if self.done else "playing")
        opponent = "an external policy" if self.external is not None else self.params["opponent"]
        head = f"agent seat {self.seat} ({self.me}) vs {opponent} | return {self.ret:+g} ({status})"
        return head + "\n" + self.board_text()


class TicTacToeEnv(PZDuel):
    """Observation: PettingZoo's (3, 3, 2) planes, the agent's marks first. Actions are
    PettingZoo's square ids (column-major: 0 1 2 down the first column)."""

    obs_shape = (3, 3, 2)
    n_actions = 9

    def build_env(self, params: dict[str, Any]) -> Any:
        return pz_tictactoe.raw_env()

    def build_mirror(self, params: dict[str, Any]) -> pyspiel.Game:
        return pyspiel.load_game("tic_tac_toe")

    def to_mirror(self, action: int) -> int:
        return (action % 3) * 3 + action // 3  # column-major <-> row-major: a transpose

    from_mirror = to_mirror

    def board_text(self) -> str:
        marks = {0: ".", 1: "X", 2: "O"}
        squares = self.pz.board.squares
        return "\n".join("".join(marks[squares[col * 3 + row]] for col in range(3)) for row in range(3))

    def agent_text(self) -> str:
        """The board for the text track (``info["text"]``): empty squares show their number, 1 to
        9 left to right and top to bottom (square ``n`` is action ``((n-1) % 3) * 3 + (n-1) // 3``),
        and how the game stands; the opponent's identity is not shown."""
        if not self.started:
            return "tic-tac-toe: not reset"
        self.activate()
        mine, theirs = ("X", "O") if self.seat == 0 else ("O", "X")
        marks = {1: "X", 2: "O"}
        squares = self.pz.board.squares
        rows = [
            " " + " | ".join(marks.get(squares[col * 3 + row], str(row * 3 + col + 1)) for col in range(3))
            for row in range(3)
        ]
        if self.last_illegal:
            status = "Illegal move: you lose."
        elif self.done:
            status = {1.0: "Game over: you won.", -1.0: "Game over: you lost."}.get(self.ret, "Game over: a draw.")
        else:
            status = "Your move: name an empty square."
        return f"You are {mine}; the opponent is {theirs}.\n" + "\n---+---+---\n".join(rows) + "\n" + status


class ConnectFourPZEnv(PZDuel):
    """Observation: PettingZoo's (6, 7, 2) planes, the agent's discs first; actions are columns."""

    obs_shape = (6, 7, 2)
    n_actions = 7

    def build_env(self, params: dict[str, Any]) -> Any:
        return pz_connect_four.raw_env()

    def build_mirror(self, params: dict[str, Any]) -> pyspiel.Game:
        return pyspiel.load_game("connect_four")

    def board_text(self) -> str:
        board = np.asarray(self.pz.board).reshape(6, 7)
        return "\n".join("".join(".XO"[int(v)] for v in row) for row in board)


MAX_GO = 9


class GoEnv(PZDuel):
    """Observation: PettingZoo go's 17 planes (stone history and colour) padded to a 9x9 board,
    plus an 18th plane that marks the variant's board. Action ``r * 9 + c`` places a stone at
    row ``r`` (from the top), column ``c``; action 81 passes.

    PettingZoo's go keeps the board size in module globals; each env restores its own before
    every call, so envs of different sizes can be used side by side (not from several threads).
    """

    obs_shape = (MAX_GO, MAX_GO, 18)
    n_actions = MAX_GO * MAX_GO + 1

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.size = params["board_size"]
        super().__init__(params, render_mode)
        self.on_board = np.zeros(self.obs_shape, dtype=np.float32)
        self.on_board[: self.size, : self.size, 17] = 1.0

    def build_env(self, params: dict[str, Any]) -> Any:
        return pz_go.raw_env(board_size=params["board_size"], komi=params["komi"])

    def build_mirror(self, params: dict[str, Any]) -> pyspiel.Game:
        return pyspiel.load_game(f"go(board_size={params['board_size']},komi={params['komi']})")

    def activate(self) -> None:
        if self.size != go_base.N:
            self.pz._overwrite_go_global_variables(self.size)

    def to_mirror(self, action: int) -> int:
        n = self.size
        if action == n * n:
            return action
        row, col = divmod(action, n)
        return (n - 1 - row) * n + col  # OpenSpiel counts rows from the bottom

    from_mirror = to_mirror

    def pad(self, action: int) -> int:
        n = self.size
        if action == n * n:
            return MAX_GO * MAX_GO
        row, col = divmod(action, n)
        return row * MAX_GO + col

    def unpad(self, action: int) -> int:
        n = self.size
        if action == MAX_GO * MAX_GO:
            return n * n
        row, col = divmod(action, MAX_GO)
        return row * n + col if row < n and col < n else -1

    def encode(self, observation: np.ndarray) -> np.ndarray:
        out = self.on_board.copy()
        out[: self.size, : self.size, :17] = observation
        return out

    def board_text(self) -> str:
        board = self.pz._go.board
        return "\n".join("".join({1: "X", -1: "O"}.get(int(v), ".") for v in row) for row in board)


register(
    Family(
        name="tictactoe",
        make=_with_opponent_policy(TicTacToeEnv),
        params={"seat": SEAT, "opponent": SpecParam(Spec("random"), OPPONENTS, "who plays the other seat")},
        description="Tic-tac-toe (PettingZoo) against an opponent policy; seat and opponent vary.",
        group="pettingzoo",
        players=2,
        max_episode_steps=9,
        example="tictactoe(opponent=mcts(sims=25),seat=1)",
    )
)

register(
    Family(
        name="pz_connect_four",
        make=_with_opponent_policy(ConnectFourPZEnv),
        params={"seat": SEAT, "opponent": SpecParam(Spec("random"), OPPONENTS, "who plays the other seat")},
        description="Connect four on PettingZoo's 6x7 board against an opponent policy; seat and opponent vary.",
        group="pettingzoo",
        players=2,
        max_episode_steps=25,
        example="pz_connect_four(opponent=mcts(sims=25))",
    )
)

register(
    Family(
        name="go",
        make=_with_opponent_policy(GoEnv),
        params={
            "board_size": IntParam(7, 5, MAX_GO, "board size"),
            "komi": FloatParam(4.5, 0.0, 9.0, "points given to white (a drawn count goes to white)"),
            "seat": SEAT,
            "opponent": SpecParam(Spec("random"), OPPONENTS, "who plays the other seat"),
        },
        description="Go on small boards (PettingZoo, area scoring) against an opponent; board size and komi vary.",
        group="pettingzoo",
        players=2,
        max_episode_steps=120,
        example="go(board_size=5,komi=2.5,opponent=mcts(sims=25))",
    )
)
