"""MAML's "pretrained" comparison: the same outer loop with no inner step (multi-task policy
gradient on the train variants), the same fine-tuning in a trial."""

from dataclasses import replace

from baselines.maml import CONFIG, MAML


class Agent(MAML):
    config = replace(CONFIG, inner_steps=0)


__all__ = ["Agent"]
