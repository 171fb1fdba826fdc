"""The text track (issue 22): games as text for language-model agents.

A suite with ``text = true`` wraps each env in :class:`TextEnv` (``make_text(variant)``). Every
``reset`` and ``step`` info then carries

* ``info["text"]``: the game as the agent sees it, in words: the env's ``agent_text()`` where the
  family has one (the agent's own view where ``render`` would show hidden state: the maze
  around it, its own poker card), else its ``render_mode="ansi"`` rendering;
* ``info["legal_actions"]``: the names of the legal moves (by ``info["action_mask"]``; every
  name where the family has no mask);
* on ``reset`` also ``info["rules"]``: one paragraph that says how to play (:class:`TextRules`).

``step`` takes an int, as before (an RL agent plays a text suite exactly as any other), or a
string: the model's answer, read by :func:`parse_answer`. An answer that names a legal move plays
it; any other (garbage, an illegal move's name) forfeits the episode by the family's illegal-move
rule: ``terminated``, ``info["illegal_action"]`` and ``info["illegal_answer"]`` (the answer's
first 200 characters); nothing crashes and the trial goes on. Families whose illegal moves end the
episode (board and card games, ``rps``) apply their own rule, as for an int outside the mask;
for the others (``bandit``, ``tabular_mdp``, ``maze``) the wrapper ends the episode, every step
left paying the family's worst reward per step. The wrapper counts ``unparsable_answers`` and
keeps the first five (``illegal_answers``).

Only families with :class:`TextRules` may be in a text suite (:func:`text_rules`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from games.core import SpecError, Variant, did_you_mean, make, parse_variant

__all__ = [
    "NoTextRulesError",
    "TextEnv",
    "TextRules",
    "make_text",
    "parse_answer",
    "text_families",
    "text_rules",
]

Params = dict[str, Any]
ANSWER_KEPT = 200  # characters of an answer kept in info["illegal_answer"] and illegal_answers
ANSWERS_KEPT = 5  # unparsable answers kept verbatim per env
ANSWER_READ = 10_000  # characters of an answer that parse_answer reads


class NoTextRulesError(SpecError):
    """A family without text rules asked for in a text suite."""


def _no_aliases(params: Params) -> dict[str, int]:
    return {}


@dataclass(frozen=True)
class TextRules:
    """How a family is played as text.

    * ``action_names(params)``: a name for every action id of the action space, by index.
    * ``forfeit_reward(params)``: the return of an episode forfeited on its first move: the
      family's worst outcome. A later forfeit pays what the family's rule pays then (the board
      and card games bring the return to that worst outcome; ``rps`` pays -1 per round left; the
      step-cost families pay ``worst_step`` per step left).
    * ``rules(params)``: one paragraph a language model needs to play: the goal, the moves, what
      the rewards mean. It never reveals a variant's hidden parameters (arm means, the opponent's
      mix or identity, the maze's layout).
    * ``aliases(params)``: other words for some moves (``"check"`` for Kuhn's ``pass``).
    * ``worst_step``: None where the family's own illegal-move rule ends the episode (a bad answer
      is played as an action outside the mask); else the reward of each step left when the
      wrapper ends a forfeited episode itself (the family's params then have a ``horizon``).
    """

    action_names: Callable[[Params], list[str]]
    forfeit_reward: Callable[[Params], float]
    rules: Callable[[Params], str]
    aliases: Callable[[Params], dict[str, int]] = field(default=_no_aliases)
    worst_step: Callable[[Params], float] | None = None


# --------------------------------------------------------------------------------------------
# Reading an answer
# --------------------------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")
_WORD_NUMBER = re.compile(r"^[a-z ]+ ([0-9]+)$")


def _normalize(text: str) -> str:
    """Lower case, punctuation and quotes to spaces, letters and digits apart (``arm3``)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NOT_WORD.sub(" ", text)
    return " ".join(_LETTER_DIGIT.sub(" ", text).split())


def _first(said: str, words: Sequence[tuple[str, int]], legal: set[int]) -> int | None:
    """The legal action whose word comes first in ``said`` (the longer word at a tie)."""
    best: tuple[int, int, int] | None = None
    for word, index in words:
        if index not in legal or not word:
            continue
        at = said.find(f" {word} ")
        if at >= 0 and (best is None or (at, -len(word)) < best[:2]):
            best = (at, -len(word), index)
    return None if best is None else best[2]


def parse_answer(
    answer: str, names: Sequence[str], legal: Sequence[int], aliases: Mapping[str, int] | None = None
) -> int | None:
    """The action an answer names, or None when it names no legal one.

    Tolerant of case, whitespace, quotes, punctuation and surrounding words ("I choose Rock.").
    The first legal move named wins; a move's name counts before its other words: ``aliases``
    (``{"check": 0}``), and the bare number of a name that ends in one (``"3"`` for ``"arm 3"``,
    where no two names share it). Only the answer's first 10,000 characters are read.
    """
    said = f" {_normalize(answer[:ANSWER_READ])} "
    allowed = {int(a) for a in legal}
    named = [(_normalize(name), i) for i, name in enumerate(names)]
    found = _first(said, named, allowed)
    if found is not None:
        return found
    taken = {word for word, _ in named}
    numbers: dict[str, list[int]] = {}
    for word, i in named:
        match = _WORD_NUMBER.match(word)
        if match:
            numbers.setdefault(match.group(1), []).append(i)
    other = [(number, ids[0]) for number, ids in numbers.items() if len(ids) == 1 and number not in taken]
    other += [(_normalize(word), i) for word, i in (aliases or {}).items() if _normalize(word) not in taken]
    return _first(said, other, allowed)


# --------------------------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------------------------


class TextEnv(gym.Wrapper[Any, Any, Any, Any]):
    """A family's env (``render_mode="ansi"``) that speaks text: see the module docstring."""

    def __init__(self, env: gym.Env[Any, Any], variant: Variant):
        super().__init__(env)
        self.variant = variant
        self.params = variant.params
        self.text_rules = text_rules(variant.family)
        self.names = self.text_rules.action_names(self.params)
        self.aliases = self.text_rules.aliases(self.params)
        self.rules = self.text_rules.rules(self.params)
        n = getattr(env.action_space, "n", None)
        if n is not None and int(n) != len(self.names):
            raise ValueError(f"{variant}: {len(self.names)} action names for {n} actions")
        self.numbered = all(name.isdigit() for name in self.names)
        self.unparsable_answers = 0  # answers that named no legal move, over this env's life
        self.illegal_answers: list[str] = []  # the first few of them
        self.legal: list[int] = list(range(len(self.names)))
        self.steps = 0  # steps of the current episode
        self.last: tuple[Any, dict[str, Any]] | None = None  # the latest observation and its info
        self.forfeited = False  # the wrapper ended the episode (families without their own rule)

    # -- what the agent reads -----------------------------------------------------------------

    def _shown_before(self, index: int) -> tuple[int, int]:
        """``legal_actions`` lists moves by id, or by number where every name is one (tic-tac-toe)."""
        name = self.names[index]
        return (int(name), index) if self.numbered else (index, index)

    def text(self) -> str:
        """The game now, as the agent may see it."""
        agent_text = getattr(self.env.unwrapped, "agent_text", None)
        shown = agent_text() if callable(agent_text) else self.env.render()
        return str(shown).rstrip()

    def _decorate(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        mask = info.get("action_mask")
        self.legal = list(range(len(self.names))) if mask is None else [int(i) for i in np.flatnonzero(mask)]
        info = dict(info)
        info["text"] = self.text()
        info["legal_actions"] = [self.names[i] for i in sorted(self.legal, key=self._shown_before)]
        self.last = (obs, info)
        return info

    # -- Gymnasium API ------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.steps = 0
        self.forfeited = False
        return obs, {**self._decorate(obs, info), "rules": self.rules}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.forfeited:  # stepping an episode the wrapper ended: nothing happens
            return self._ended()
        if isinstance(action, str):
            chosen = parse_answer(action, self.names, self.legal, self.aliases)
            if chosen is None:
                return self.forfeit(action)
            action = chosen
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, reward, terminated, truncated, self._decorate(obs, info)

    def _ended(self) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        assert self.last is not None
        return self.last[0], 0.0, True, False, dict(self.last[1])

    def forfeit(self, answer: str = "") -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """End the episode as an answer that names no legal move does (and count ``answer``):
        ``step`` does this for such an answer; the harness may too (a move the model never gave)."""
        answer = str(answer)
        self.unparsable_answers += 1
        if len(self.illegal_answers) < ANSWERS_KEPT:
            self.illegal_answers.append(answer[:ANSWER_KEPT])
        if self.forfeited:
            return self._ended()
        worst_step = self.text_rules.worst_step
        reward: SupportsFloat
        if worst_step is None:  # the family's own rule: an action outside the mask
            obs, reward, _, _, info = self.env.step(-1)
            self.steps += 1
            info = self._decorate(obs, info)
        else:
            if self.last is None:
                raise RuntimeError("call reset() before step()")
            obs, info = self.last[0], dict(self.last[1])
            reward = float(worst_step(self.params)) * max(0, int(self.params["horizon"]) - self.steps)
            self.forfeited = True
        info["illegal_action"] = True
        info["illegal_answer"] = answer[:ANSWER_KEPT]
        info["text"] += f"\nYour answer {answer[:60]!r} names no legal move: the episode is lost."
        self.last = (obs, info)
        return obs, reward, True, False, info


def make_text(variant: str | Variant) -> TextEnv:
    """The env of a variant of a family with text rules, wrapped for the text track."""
    v = parse_variant(variant)
    text_rules(v.family)  # refuse before building anything
    return TextEnv(make(v, render_mode="ansi"), v)


# --------------------------------------------------------------------------------------------
# The families' rules
# --------------------------------------------------------------------------------------------


def _bandit_rules(p: Params) -> str:
    k = p["arms"]
    return (
        f"A slot machine with {k} arms, arm 0 to arm {k - 1}; an episode is {p['horizon']} pulls. Each pull "
        "of an arm pays 1 or 0 at random: every arm pays 1 with its own fixed chance, unknown to you and the "
        "same in every episode. Goal: the most total reward: try the arms to find the one that pays most "
        'often, then keep pulling it. Answer with the arm to pull, e.g. "arm 0". An answer that names no '
        "arm ends the episode (the pulls left pay nothing)."
    )


def _mdp_worst(p: Params) -> float:
    from games.metarl import mdp_tables

    return float(mdp_tables(p)[1].min())


def _mdp_rules(p: Params) -> str:
    s, a = p["states"], p["actions"]
    return (
        f"A hidden Markov decision process with {s} states (0 to {s - 1}) and {a} actions (action 0 to "
        f"action {a - 1}). An episode is {p['horizon']} steps from a random state. Each step the action you "
        "take pays a random reward, normally distributed around a mean that depends on your state and the "
        "action, and moves you to a random next state, with probabilities that also depend on both. Those "
        "tables are unknown to you and the same in every episode. Goal: the most total reward. Answer with "
        'the action to take, e.g. "action 0". An answer that names no action ends the episode, every step '
        "left paying the table's worst mean reward."
    )


MAZE_MOVES = ["up", "down", "left", "right"]  # games.metarl.MOVES' order


def _maze_rules(p: Params) -> str:
    return (
        "You walk a maze of corridors on a square grid to find a hidden goal square. You see only the "
        "squares within 2 of you: '@' is you, '#' a wall, '.' open floor, 'G' the goal when in view; your "
        "position is (row, column), row 0 at the top. Moves: up, down, left, right, one square (walking into "
        f"a wall wastes the step). Reaching the goal pays +1 and ends the episode; every other step costs "
        f"0.01; an episode ends after {p['horizon']} steps. The maze and its goal are the same in every "
        'episode: remember the way. Answer with one move, e.g. "up". An answer that names no move ends the '
        "episode, every step left costing 0.01."
    )


def _rps_rules(p: Params) -> str:
    from games.pettingzoo_games import RPS_MOVES, rps_payoff

    n = p["actions"]
    payoff = rps_payoff(n)
    moves = RPS_MOVES[:n]
    beats = "; ".join(
        f"{moves[a]} beats {' and '.join(moves[b] for b in range(n) if payoff[a, b] > 0)}" for a in range(n)
    )
    return (
        f"Repeated {'-'.join(moves)} for {p['rounds']} rounds against the same opponent. Each round you both "
        "pick a move at once; the opponent picks at random with fixed preferences, unknown to you and the "
        f"same in every episode. {beats}. A win pays +1, a tie 0, a loss -1. Goal: the most total reward: "
        f'find out what the opponent favours and beat it. Answer with your move, e.g. "{moves[0]}". An answer '
        "that names no move forfeits the match: -1 for every round left."
    )


def _tictactoe_names(p: Params) -> list[str]:
    # Action i is PettingZoo's square i, column-major; names number the squares row by row.
    return [str((i % 3) * 3 + i // 3 + 1) for i in range(9)]


_SQUARES = {
    "top left": 1, "top middle": 2, "top center": 2, "top centre": 2, "top right": 3,
    "middle left": 4, "center left": 4, "centre left": 4, "center": 5, "centre": 5, "middle": 5,
    "middle right": 6, "center right": 6, "centre right": 6,
    "bottom left": 7, "bottom middle": 8, "bottom center": 8, "bottom centre": 8, "bottom right": 9,
}  # fmt: skip


def _tictactoe_aliases(p: Params) -> dict[str, int]:
    action = {int(name): i for i, name in enumerate(_tictactoe_names(p))}
    return {word: action[square] for word, square in _SQUARES.items()}


def _tictactoe_rules(p: Params) -> str:
    who = "You play X and move first" if p["seat"] == 0 else "You play O; the opponent plays X and moves first"
    return (
        f"Tic-tac-toe against a fixed opponent. {who}. The squares are numbered 1 to 9, left to right and top "
        "to bottom; the board shows the number of each empty square. Three of your marks in a row (across, "
        "down or diagonally) win. A win pays +1, a draw 0, a loss -1. Answer with the number of an empty "
        'square, e.g. "5". An answer that names no empty square loses the game (-1).'
    )


def _spiel_worst(game_string: str) -> Callable[[Params], float]:
    def worst(p: Params) -> float:
        import pyspiel

        return float(pyspiel.load_game(game_string).min_utility())

    return worst


def _kuhn_rules(p: Params) -> str:
    return (
        "Kuhn poker against a fixed opponent. The deck has three cards, J < Q < K; each player puts 1 chip "
        f"in the pot and gets one card, which the other cannot see. You are player {p['seat'] + 1}; player 1 "
        "acts first. Moves: pass (check, or fold when facing a bet) and bet (add 1 chip: a bet, or a call "
        "when facing a bet). If both pass, or a bet is called, the higher card takes the pot; whoever passes "
        "facing a bet folds and loses what they put in. Your reward is the chips you win or lose: +1 or -1, "
        "+2 or -2 when a bet was called. The opponent plays the same way in every hand: learn how and exploit "
        'it. Answer with your move, "pass" or "bet". An answer that names neither loses the hand (-2).'
    )


def _catch_worst(p: Params) -> float:
    from games.openspiel_games import CatchEnv

    return _spiel_worst(CatchEnv.build_game_string(p))(p)


def _catch_rules(p: Params) -> str:
    return (
        f"Catch on a board of {p['rows']} rows and {p['columns']} columns. A ball ('o') starts in a random "
        "column of the top row and falls straight down one row per step; your paddle ('x') moves along the "
        "bottom row. Moves: left, stay, right (one column). When the ball reaches the bottom row the episode "
        'ends: +1 if the paddle is under it, -1 if not. Answer with one move, e.g. "stay". An answer that '
        "names no move loses (-1)."
    )


_RULES: dict[str, TextRules] = {
    "bandit": TextRules(
        action_names=lambda p: [f"arm {i}" for i in range(10)],  # games.metarl.MAX_ARMS
        forfeit_reward=lambda p: 0.0,
        rules=_bandit_rules,
        worst_step=lambda p: 0.0,
    ),
    "tabular_mdp": TextRules(
        action_names=lambda p: [f"action {i}" for i in range(10)],  # games.metarl.MAX_ACTIONS
        forfeit_reward=lambda p: _mdp_worst(p) * p["horizon"],
        rules=_mdp_rules,
        worst_step=_mdp_worst,
    ),
    "maze": TextRules(
        action_names=lambda p: list(MAZE_MOVES),
        forfeit_reward=lambda p: -0.01 * p["horizon"],  # games.metarl.STEP_COST
        rules=_maze_rules,
        aliases=lambda p: {"north": 0, "south": 1, "west": 2, "east": 3},
        worst_step=lambda p: -0.01,
    ),
    "rps": TextRules(
        action_names=lambda p: ["rock", "paper", "scissors", "spock", "lizard"],  # PettingZoo rps_v2's order
        forfeit_reward=lambda p: -float(p["rounds"]),
        rules=_rps_rules,
    ),
    "tictactoe": TextRules(
        action_names=_tictactoe_names,
        forfeit_reward=lambda p: -1.0,
        rules=_tictactoe_rules,
        aliases=_tictactoe_aliases,
    ),
    "kuhn_poker": TextRules(
        action_names=lambda p: ["pass", "bet"],  # OpenSpiel's Pass and Bet
        forfeit_reward=_spiel_worst("kuhn_poker"),
        rules=_kuhn_rules,
        aliases=lambda p: {"check": 0, "fold": 0, "call": 1, "raise": 1},
    ),
    "catch": TextRules(
        action_names=lambda p: ["left", "stay", "right"],  # OpenSpiel's LEFT, STAY, RIGHT
        forfeit_reward=_catch_worst,
        rules=_catch_rules,
        aliases=lambda p: {"wait": 1, "stay put": 1},
    ),
}


def text_families() -> list[str]:
    """The families a text suite may hold."""
    return sorted(_RULES)


def text_rules(family: str) -> TextRules:
    """The text rules of ``family``; :class:`NoTextRulesError` for a family without them."""
    found = _RULES.get(family)
    if found is None:
        raise NoTextRulesError(
            f"family {family!r} has no text rules, so no text suite may hold it{did_you_mean(family, _RULES)}"
        )
    return found
