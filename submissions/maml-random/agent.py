"""MAML's "random initialisation" comparison: no meta-training, the same fine-tuning in a trial."""

import arena
from baselines.maml import MAML


class Agent(MAML):
    meta_train = arena.Agent.meta_train  # the harness sees no meta-training: nothing to load


__all__ = ["Agent"]
