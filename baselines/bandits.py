"""Reference agents for Bernoulli bandits: Thompson sampling, UCB1, tuned UCB1, the Gittins
index, greedy and ε-greedy, the baselines of Duan et al. 2016 (RL², Table 1).

numpy only, no meta-training, the public agent API only. Each keeps a Beta posterior per arm
(a Beta(1, 1) prior: successes + 1, failures + 1) over the whole trial: what it pulls while
adapting, and every evaluation pull, learned from ``info["reward"]`` (what its previous pull
paid, also across an episode's end). On a family it does not model it plays uniformly at random.

The rules, for arm ``i`` with ``s_i`` successes in ``n_i`` pulls, ``t`` pulls so far in the trial:

* **Thompson sampling**: a draw from each Beta(s_i + 1, n_i - s_i + 1), the largest.
* **UCB1** (Auer et al. 2002), textbook: every arm once, then ``s_i / n_i + sqrt(2 ln t / n_i)``.
* **UCB1, tuned** (prior-aware): the posterior mean ``(s_i + 1) / (n_i + 2)`` plus
  ``c sqrt(2 ln(t + 1) / (n_i + 2))``, with ``c`` tuned per (pulls, arms) on tasks the
  evaluation never uses (``scripts/tune_bandit_references.py``; the table is ``TUNED``). The
  paper's UCB1 cannot be the textbook rule: it scores 6.6 on 10 pulls of 50 arms, where pulling
  every arm once first cannot do better than chance.
* **Gittins index** (Gittins 1979): the index of each arm's Beta state for a discount ``γ``
  with ``1 / (1 - γ)`` = the trial's pulls, from a table computed once per process by
  calibration (the retirement reward λ at which pulling and retiring are worth the same), by
  backward induction over every state of that many pulls, on a grid of λ, refined linearly.
* **Greedy**: the largest posterior mean. **ε-greedy**: a uniformly random arm with
  probability ε, else greedy (ε tuned like c).
* **Bayes-optimal** (Bellman 1956; Berry & Fristedt 1985): the arm whose expected reward over
  the episode's pulls left, acting optimally after it, is largest under the arms' Beta
  posteriors, by exact dynamic programming over the posterior (``bayes_value``): the ceiling of
  what any agent can score in expectation on a trial of one episode of up to ``EXACT_PULLS``
  pulls (10 pulls of 50 arms: 4,435 posterior states). Elsewhere it is the Gittins index: after
  pulls in earlier episodes the optimal pull depends on the pulls the trial has still to come,
  which an agent is not told, and on longer episodes the state space is too large.

Ties are broken uniformly at random.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import arena

BANDIT_FAMILIES = ("bandit",)  # and every rl2_bandit_k*_n* family


def models(family: str) -> bool:
    return family in BANDIT_FAMILIES or family.startswith("rl2_bandit_")


@dataclass(frozen=True)
class Tuned:
    """Constants tuned per (pulls per episode, arms): the exploration bonus and ε."""

    c: float
    epsilon: float


# (pulls, arms) -> tuned constants: scripts/tune_bandit_references.py --tasks 1000 (1,000 tuning
# tasks per cell, 333 for 500 pulls, from a seed the suites never use; c from {0.05, 0.1, 0.2,
# 0.3, 0.5}, ε from {0, 0.01, 0.02, 0.05, 0.1}). Unlisted cells use the nearest pulls, then arms.
TUNED: dict[tuple[int, int], Tuned] = {
    (10, 5): Tuned(c=0.05, epsilon=0.0),
    (10, 10): Tuned(c=0.1, epsilon=0.0),
    (10, 50): Tuned(c=0.05, epsilon=0.0),
    (100, 5): Tuned(c=0.2, epsilon=0.0),
    (100, 10): Tuned(c=0.2, epsilon=0.01),
    (100, 50): Tuned(c=0.2, epsilon=0.05),
    (500, 5): Tuned(c=0.2, epsilon=0.05),
    (500, 10): Tuned(c=0.2, epsilon=0.05),
    (500, 50): Tuned(c=0.2, epsilon=0.05),
}


def tuned(pulls: int, arms: int) -> Tuned:
    key = min(TUNED, key=lambda cell: (abs(math.log(cell[0] / max(pulls, 1))), abs(math.log(cell[1] / arms))))
    return TUNED[key]


@functools.cache
def gittins_table(pulls: int, grid: int = 1001) -> np.ndarray:
    """``table[s, f]``: the Gittins index of an arm with ``s`` successes and ``f`` failures
    (Beta(1, 1) prior), discount ``γ = 1 - 1 / pulls``, for ``s + f < pulls``.

    For a retirement reward λ per step the one-armed value is ``V(s, f) = max(λ / (1 - γ),
    p (1 + γ V(s+1, f)) + (1 - p) γ V(s, f+1))`` with ``p = (s+1) / (s+f+2)``; the index is the
    λ at which both terms are equal. Backward induction over the diagonals ``s + f = d`` from
    the depth ``pulls`` (where an arm is worth ``max(λ, p) / (1 - γ)``) gives every state's
    crossing for all λ of the grid at once."""
    depth = max(pulls, 2)
    gamma = 1.0 - 1.0 / depth
    lam = np.linspace(0.0, 1.0, grid)
    retire = lam / (1.0 - gamma)
    table = np.zeros((depth + 1, depth + 1))
    s = np.arange(depth + 1)
    p = (s + 1) / (depth + 2)
    value = np.maximum(retire[:, None], p[None, :] / (1.0 - gamma))
    table[s, depth - s] = p
    for d in range(depth - 1, -1, -1):
        s = np.arange(d + 1)
        p = (s + 1) / (d + 2)
        pull = p * (1.0 + gamma * value[:, s + 1]) + (1.0 - p) * gamma * value[:, s]
        gap = pull - retire[:, None]  # decreasing in λ: positive while pulling is better
        first = np.argmax(gap <= 0.0, axis=0)  # the first λ where retiring is at least as good
        first = np.where((gap <= 0.0).any(axis=0), first, grid - 1)
        before = np.maximum(first - 1, 0)
        g0, g1 = gap[before, s], gap[first, s]
        fraction = np.where(g0 > g1, g0 / np.where(g0 > g1, g0 - g1, 1.0), 0.0)
        table[s, d - s] = lam[before] + fraction * (lam[first] - lam[before])
        value = np.maximum(retire[:, None], pull)
    return table


EXACT_PULLS = 12  # 12 pulls of 50 arms: 15,582 posterior states (0.1 s); 15: 91,206 (0.6 s); 20: 1.4 million (15 s)

Posterior = tuple[tuple[int, int], ...]  # (successes, failures) of every pulled arm, sorted


@functools.cache
def bayes_value(pulled: Posterior, unpulled: int, pulls: int) -> float:
    """The Bayes-optimal expected reward of ``pulls`` more pulls of Bernoulli arms with
    uniform priors: ``pulled`` arms in the posterior states given, ``unpulled`` arms not yet
    pulled (all alike: ``(0, 0)``). Arms in the same state are interchangeable, so a state is the
    sorted multiset of the pulled arms' states and the count of the others."""
    if pulls == 0:
        return 0.0
    values = [bayes_q(pulled, unpulled, pulls, arm) for arm in set(pulled)]
    if unpulled:
        values.append(bayes_q(pulled, unpulled, pulls, (0, 0)))
    return max(values)


def bayes_q(pulled: Posterior, unpulled: int, pulls: int, arm: tuple[int, int]) -> float:
    """The expected reward of pulling an arm in state ``arm`` (``(0, 0)``: an unpulled one) now,
    then ``pulls - 1`` Bayes-optimal pulls."""
    if arm == (0, 0):
        rest, unpulled = pulled, unpulled - 1
    else:
        index = pulled.index(arm)
        rest = pulled[:index] + pulled[index + 1 :]
    s, f = arm
    p = (s + 1) / (s + f + 2)
    win = tuple(sorted((*rest, (s + 1, f))))
    lose = tuple(sorted((*rest, (s, f + 1))))
    return p * (1.0 + bayes_value(win, unpulled, pulls - 1)) + (1.0 - p) * bayes_value(lose, unpulled, pulls - 1)


def bayes_scores(successes: np.ndarray, pulls: np.ndarray, left: int) -> np.ndarray:
    """Each arm's expected reward over ``left`` pulls if it is pulled now, then optimally."""
    states = [(int(s), int(n - s)) for s, n in zip(successes, pulls, strict=True)]
    pulled = tuple(sorted(state for state in states if state != (0, 0)))
    unpulled = len(states) - len(pulled)
    q = {state: bayes_q(pulled, unpulled, left, state) for state in set(states)}
    return np.array([q[state] for state in states])


class BanditReference(arena.Agent):
    """A Beta-Bernoulli bandit rule (``rule``) over the whole trial; random off its families."""

    rule: ClassVar[str] = "thompson"

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        self.rng = np.random.default_rng(spec.seed)
        self.spec.action_space.seed(int(self.rng.integers(2**31)))
        self.models = models(spec.family) and isinstance(spec.action_space, gym.spaces.Discrete)
        size = int(spec.action_space.n) if self.models else 0  # type: ignore[attr-defined]
        self.successes = np.zeros(size)
        self.pulls = np.zeros(size)
        self.t = 0  # pulls so far in the trial
        self.episode_t = 0  # pulls so far in this episode
        self.horizon = 0  # pulls per episode, read off the observation (elapsed fraction)
        self.last: int | None = None

    # -- the agent API -------------------------------------------------------------------------

    def adapt(self, env: gym.Env[Any, Any]) -> None:
        obs, info = env.reset()
        self.reset()
        while True:
            action = self._choose(obs, info)
            obs, reward, terminated, truncated, info = env.step(action)
            self._learn(action, float(reward))
            if terminated or truncated:
                obs, info = env.reset()
                self.reset()

    def reset(self) -> None:
        self.episode_t = 0

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        if "reward" in info and self.last is not None:
            self._learn(self.last, float(info["reward"]))
        action = self._choose(observation, info)
        self.last = action
        return action

    # -- the rule ------------------------------------------------------------------------------

    def _learn(self, arm: int, reward: float) -> None:
        if self.models:
            self.successes[arm] += reward
            self.pulls[arm] += 1

    def _choose(self, observation: Any, info: dict[str, Any]) -> int:
        mask = info.get("action_mask")
        legal = np.flatnonzero(mask) if mask is not None else np.arange(int(self.spec.action_space.n))  # type: ignore[attr-defined]
        if self.models:
            self._read_horizon(observation)
            scores = self.scores(legal)
            best = legal[scores >= scores.max() - 1e-12]
            arm = int(best[self.rng.integers(len(best))])
        else:
            arm = int(legal[self.rng.integers(len(legal))])
        self.t += 1
        self.episode_t += 1
        return arm

    def _read_horizon(self, observation: Any) -> None:
        """Pulls per episode: the observation is the fraction of the episode elapsed."""
        elapsed = float(np.asarray(observation).reshape(-1)[0])
        if self.episode_t > 0 and elapsed > 0 and not self.horizon:
            self.horizon = max(1, round(self.episode_t / elapsed))

    def scores(self, legal: np.ndarray) -> np.ndarray:
        """The rule's value of each legal arm (the largest is pulled)."""
        s, n = self.successes[legal], self.pulls[legal]
        mean = (s + 1.0) / (n + 2.0)
        if self.rule == "thompson":
            return self.rng.beta(s + 1.0, n - s + 1.0)
        if self.rule == "greedy":
            return mean
        if self.rule == "epsilon-greedy":
            if self.rng.random() < tuned(self.horizon or 100, len(legal)).epsilon:
                return self.rng.random(len(legal))
            return mean
        if self.rule == "ucb1":
            if (n == 0).any():
                return (n == 0).astype(float)
            return s / n + np.sqrt(2.0 * math.log(self.t) / n)
        if self.rule == "ucb1-tuned":
            c = tuned(self.horizon or 100, len(legal)).c
            return mean + c * np.sqrt(2.0 * math.log(self.t + 1.0) / (n + 2.0))
        left = self.horizon - self.episode_t if self.horizon else 0
        if self.rule == "bayes-optimal" and self.t == self.episode_t and 0 < left <= EXACT_PULLS:
            return bayes_scores(s, n, left)
        if self.rule in ("gittins", "bayes-optimal"):
            table = gittins_table(self.horizon or 100)
            si, fi = s.astype(int), (n - s).astype(int)
            inside = si + fi < table.shape[0] - 1
            return np.where(inside, table[np.minimum(si, table.shape[0] - 1), np.minimum(fi, table.shape[0] - 1)], mean)
        raise ValueError(f"unknown bandit rule {self.rule!r}")


class Thompson(BanditReference):
    rule = "thompson"


class UCB1(BanditReference):
    rule = "ucb1"


class UCB1Tuned(BanditReference):
    rule = "ucb1-tuned"


class Gittins(BanditReference):
    rule = "gittins"


class BayesOptimal(BanditReference):
    rule = "bayes-optimal"


class Greedy(BanditReference):
    rule = "greedy"


class EpsilonGreedy(BanditReference):
    rule = "epsilon-greedy"
