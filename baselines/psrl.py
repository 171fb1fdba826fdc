"""Bayesian reference agents for tabular MDPs: posterior sampling (PSRL; Strens 2000, Osband et
al. 2013), the reference agent of Duan et al. 2016 (RL², Table 2), and planning in the
posterior-mean MDP, greedy or with an exploration bonus.

numpy only, no meta-training, the public agent API only. The prior is the tasks' own:
transitions ``P(·|s, a) ~ Dirichlet(1)``, mean rewards ``μ(s, a) ~ N(1, 1)`` with the reward
noise known to be N(0, 1), so the posterior of ``μ(s, a)`` after ``n`` rewards summing to ``R``
is ``N((1 + R) / (1 + n), 1 / (1 + n))``. (A flat reward prior is much worse on 10-episode
trials: 116.6 against 133.9 in quick simulations.) At the start of every episode PSRL draws one
MDP from the posterior, solves it by backward induction over the episode's steps, and follows
that plan; it learns from every step it takes, while adapting and (through ``info["reward"]``
and the next observation) while evaluated, over the whole trial.

The other rules keep the same posterior and plan once an episode in the posterior-mean MDP
(``E[P]``, ``E[μ]``) instead of a drawn one:

* **greedy-mdp**: the posterior-mean MDP as it is (certainty equivalence).
* **optimistic-mdp**: mean rewards plus ``c / sqrt(1 + n(s, a))``, a bonus that shrinks with the
  rewards seen and with the trial's evaluation episodes still to come (times ``(left / all) ** β``
  where the spec says how many there are), in the spirit of BEB (Kolter & Ng 2009) and UCB-VI;
  ``c`` and ``β`` are tuned on tasks the evaluation never uses (``scripts/tune_mdp_references.py``).

The state is the observation's one-hot part (its last entry is the fraction of the episode
elapsed, which also gives the episode length after one step); the legal actions are
``info["action_mask"]``. Off the tabular MDP families it plays uniformly at random.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import arena

MDP_FAMILIES = ("tabular_mdp",)  # and every rl2_mdp_n* family
REWARD_PRIOR_MEAN, REWARD_PRIOR_PRECISION = 1.0, 1.0  # μ(s, a) ~ N(1, 1); noise variance 1
# optimistic-mdp's bonus c and its decay β: scripts/tune_mdp_references.py (1,000 tasks of mdp
# n = 10 from a seed the suites never use; c from {0.25, 0.5, 1, 1.5, 2}, β from {0, 0.5, 1}).
BONUS, BONUS_DECAY = 1.0, 0.5


def models(family: str) -> bool:
    return family in MDP_FAMILIES or family.startswith("rl2_mdp_")


class PSRL(arena.Agent):
    """Posterior sampling; the base of the posterior-mean planners (``rule``)."""

    rule: ClassVar[str] = "psrl"
    prior_mean: ClassVar[float] = REWARD_PRIOR_MEAN  # what the agent believes of μ before any reward
    bonus: ClassVar[float] = 0.0
    bonus_decay: ClassVar[float] = 0.0

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        self.rng = np.random.default_rng(spec.seed)
        self.spec.action_space.seed(int(self.rng.integers(2**31)))
        self.models = models(spec.family) and isinstance(spec.action_space, gym.spaces.Discrete)
        shape = spec.observation_space.shape or (1,)
        self.states = int(shape[0]) - 1
        self.actions = int(spec.action_space.n) if self.models else 0  # type: ignore[attr-defined]
        self.counts = np.zeros((self.states, self.actions, self.states))  # transitions seen
        self.reward_n = np.zeros((self.states, self.actions))
        self.reward_sum = np.zeros((self.states, self.actions))
        self.horizon = 0  # steps per episode, read off the observation after one step
        self.step_in_episode = 0
        self.plan: np.ndarray | None = None  # (horizon, states, actions) Q values of the sampled MDP
        self.last: tuple[int, int] | None = None  # the previous step's (state, action)
        self.new_episode = True
        self.episodes = 0  # evaluation episodes begun (through act)

    # -- the agent API -------------------------------------------------------------------------

    def adapt(self, env: gym.Env[Any, Any]) -> None:
        obs, info = env.reset()
        self.reset()
        while True:
            action = self._act(obs, info)
            obs, reward, terminated, truncated, info = env.step(action)
            self._learn(float(reward), obs)  # an episode's last observation is a real next state too
            if terminated or truncated:
                obs, info = env.reset()
                self.reset()

    def reset(self) -> None:
        self.new_episode = True

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        if "reward" in info and self.last is not None:
            # The next state is this observation, unless an episode ended in between.
            self._learn(float(info["reward"]), None if self.new_episode else observation)
        if self.new_episode:
            self.episodes += 1
        return self._act(observation, info)

    # -- PSRL ----------------------------------------------------------------------------------

    def _act(self, observation: Any, info: dict[str, Any]) -> int:
        mask = info.get("action_mask")
        legal = np.flatnonzero(mask) if mask is not None else np.arange(int(self.spec.action_space.n))  # type: ignore[attr-defined]
        if not self.models:
            return int(legal[self.rng.integers(len(legal))])
        obs = np.asarray(observation, dtype=np.float64).reshape(-1)
        state = int(np.argmax(obs[: self.states]))
        if self.new_episode:
            self.new_episode, self.step_in_episode, self.plan = False, 0, None
        elif not self.horizon and obs[-1] > 0:
            self.horizon = max(1, round(self.step_in_episode / obs[-1]))
        if self.plan is None and self.horizon:
            self.plan = self._solve(self._model(), self.horizon, legal)
        if self.plan is None or self.step_in_episode >= len(self.plan):
            # The first step of the first episode: the horizon is not known yet, and under the
            # symmetric prior every action is as good as another.
            action = int(legal[self.rng.integers(len(legal))])
        else:
            q = self.plan[self.step_in_episode, state, legal]
            best = legal[q >= q.max() - 1e-12]
            action = int(best[self.rng.integers(len(best))])
        self.last = (state, action)
        self.step_in_episode += 1
        return action

    def _learn(self, reward: float, next_observation: Any | None) -> None:
        if not self.models or self.last is None:
            return
        state, action = self.last
        self.reward_n[state, action] += 1
        self.reward_sum[state, action] += reward
        if next_observation is not None:
            following = int(np.argmax(np.asarray(next_observation).reshape(-1)[: self.states]))
            self.counts[state, action, following] += 1

    def _model(self) -> tuple[np.ndarray, np.ndarray]:
        """The MDP this episode is planned in: (transitions, mean rewards). PSRL's is one draw
        from the posterior (Dirichlet transitions, drawn as normalized gammas; Normal means),
        the other rules' the posterior mean, plus the bonus."""
        precision = REWARD_PRIOR_PRECISION + self.reward_n
        mean = (REWARD_PRIOR_PRECISION * self.prior_mean + self.reward_sum) / precision
        if self.rule == "psrl":
            gammas = self.rng.standard_gamma(1.0 + self.counts)
            transitions = gammas / gammas.sum(axis=2, keepdims=True)
            return transitions, mean + self.rng.standard_normal(mean.shape) / np.sqrt(precision)
        transitions = (1.0 + self.counts) / (1.0 + self.counts).sum(axis=2, keepdims=True)
        total = self.spec.eval_episodes
        left = max(total - max(self.episodes - 1, 0), 0) / total if total else 1.0
        return transitions, mean + self.bonus * left**self.bonus_decay / np.sqrt(1.0 + self.reward_n)

    @staticmethod
    def _solve(mdp: tuple[np.ndarray, np.ndarray], horizon: int, legal: np.ndarray) -> np.ndarray:
        """Q values of every step of an episode of ``horizon`` steps, by backward induction
        (a state's value is its best legal action's)."""
        transitions, rewards = mdp
        q = np.zeros((horizon, *rewards.shape))
        value = np.zeros(rewards.shape[0])
        for step in range(horizon - 1, -1, -1):
            q[step] = rewards + transitions @ value
            value = q[step][:, legal].max(axis=1)
        return q


class GreedyMDP(PSRL):
    rule = "greedy-mdp"


class OptimisticMDP(PSRL):
    rule = "optimistic-mdp"
    bonus = BONUS
    bonus_decay = BONUS_DECAY
