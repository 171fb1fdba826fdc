"""Language-model agents that learn in context: ``llm-history`` and ``llm-summary``.

Both ask the harness's model (``spec.llm``) for every move, and keep what the variant has shown
them in the prompt rather than in weights: what they learn while adapting carries into the
evaluation episodes, as RL²'s hidden state does. They differ only in how that experience is
written (Krishnamurthy et al. 2024, "Can large language models explore in-context?"):

* ``llm-history``: the raw interaction history, one line per move (the most recent ones that
  fit the prompt);
* ``llm-summary``: the history as sufficient statistics, per move the times it was played and
  the mean reward it earned (per arm, for a bandit), the only prompt design Krishnamurthy et al.
  found to explore reliably.

A move is asked for with constrained decoding (``spec.llm.choose``: the answer is exactly one
of ``info["legal_actions"]``), or with a free chat reply that the harness parses
(``constrained = False``), which a small model often answers with something that names no move.
When the phase's tokens run out, adaptation stops; during evaluation a move that cannot be paid
for is forfeit (the harness's rule for an answer that names no move).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import arena


@dataclass(frozen=True)
class Config:
    summary: bool = False  # the history as per-move statistics (llm-summary) instead of raw lines
    constrained: bool = True  # spec.llm.choose over the legal moves, else a free chat reply
    history_lines: int = 24  # raw history kept in the prompt (llm-history)
    board_chars: int = 600  # of the current observation's text
    max_tokens: int = 8  # of a free reply: a move's name


SYSTEM = (
    "You are playing a game. Each turn you see the game state and the legal moves, and you answer "
    "with exactly one legal move and nothing else. Use what earlier moves earned to earn more."
)


class LLMAgent(arena.Agent):
    config = Config()

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        if spec.llm is None:
            raise RuntimeError("this agent needs a language model: run it on a text suite (e.g. --suite text-v1)")
        self.llm = spec.llm
        self.lines: list[str] = []  # one per move: what was played and what it earned
        self.counts: dict[str, int] = defaultdict(int)
        self.totals: dict[str, float] = defaultdict(float)
        self.last_move: str | None = None
        self.episode_return = 0.0
        self.episodes: list[float] = []
        self.rules = ""
        self.episode_over = False

    # -- the trial ------------------------------------------------------------------------------

    def adapt(self, env: Any) -> None:
        """Play the variant within the step budget, remembering every move's reward."""
        _obs, info = env.reset(seed=self.spec.seed)
        while True:
            move = self._move(info)
            _obs, reward, terminated, truncated, info = env.step(move)
            self._remember(float(reward), terminated or truncated)
            if terminated or truncated:
                _obs, info = env.reset()  # raises BudgetExhausted once the budget is spent

    def reset(self) -> None:
        self.episode_over = True  # the reward the next act sees ended the episode before

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        if "reward" in info and self.last_move is not None:
            self._remember(float(info["reward"]), ended=self.episode_over)
        self.episode_over = False
        return self._move(info)

    # -- prompting -------------------------------------------------------------------------------

    def _move(self, info: dict[str, Any]) -> str:
        legal = [str(name) for name in info.get("legal_actions", [])]
        self.rules = str(info.get("rules", self.rules))
        messages = [
            {"role": "system", "content": SYSTEM + (" " + self.rules if self.rules else "")},
            {"role": "user", "content": self._prompt(str(info.get("text", "")), legal)},
        ]
        if self.config.constrained and legal:
            move = self.llm.choose(messages, legal)
        else:
            move = self.llm.chat(messages, max_tokens=self.config.max_tokens)
        self.last_move = move.strip()
        return move

    def _prompt(self, board: str, legal: list[str]) -> str:
        # What stays the same from move to move comes first: the model server reuses the
        # computation of a prompt's unchanged beginning, so only the tail costs prompt tokens.
        parts = [f"Game: {self.spec.family}. Legal moves: {', '.join(legal)}. Answer with one legal move."]
        if self.config.summary:
            parts.append(self._summary())
        elif self.lines:
            parts.append("Your most recent moves:\n" + "\n".join(self.lines[-self.config.history_lines :]))
        if self.episodes:
            parts.append(
                f"Episodes so far: {len(self.episodes)}, mean return {sum(self.episodes) / len(self.episodes):.2f}."
            )
        parts.append("Now:\n" + board[-self.config.board_chars :])
        return "\n\n".join(parts)

    def _summary(self) -> str:
        if not self.counts:
            return "You have not played any move yet."
        rows = [f"{move}: {n} plays, mean {self.totals[move] / n:.2f}" for move, n in sorted(self.counts.items())]
        return "What each move has earned so far:\n" + "\n".join(rows)

    def _remember(self, reward: float, ended: bool) -> None:
        move = self.last_move or "?"
        self.counts[move] += 1
        self.totals[move] += reward
        self.lines.append(f"played {move}: reward {reward:g}" + (" (episode over)" if ended else ""))
        self.episode_return += reward
        if ended:
            self.episodes.append(self.episode_return)
            self.episode_return = 0.0
        self.last_move = None


class HistoryAgent(LLMAgent):
    config = Config(summary=False)


class SummaryAgent(LLMAgent):
    config = Config(summary=True)


class FreeSummaryAgent(LLMAgent):
    config = Config(summary=True, constrained=False)
