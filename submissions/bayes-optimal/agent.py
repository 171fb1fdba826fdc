"""Submission wrapper: the bayes-optimal reference agent through the public agent API only."""

from baselines.bandits import BayesOptimal

Agent = BayesOptimal

__all__ = ["Agent"]
