"""Baseline agents. Each one is also a submission folder under ``submissions/``."""
