"""Batched families (games/batched.py) and the env server's batched vector envs: the same game
as one Gymnasium env per copy, stepped in one numpy call."""

from __future__ import annotations

import numpy as np
import pytest

import games
from arena.boundary.protocol import Kind
from arena.harness.envserver import Budget, EnvServer


def test_a_bandit_batch_pays_each_copys_own_arm_probabilities() -> None:
    copies = [games.parse_variant(f"bandit(arms=3,task={t})").params for t in range(4)]
    batch = games.get_family("bandit").make_batch(copies, seed=0)
    obs, info = batch.reset()
    assert obs.shape == (4, 1) and info["action_mask"][:, :3].all() and not info["action_mask"][:, 3:].any()
    totals = np.zeros(4)
    for _ in range(3000):
        _, rewards, terminated, _, _ = batch.step(np.zeros(4, dtype=np.int64))
        totals += rewards
        if terminated.any():
            batch.reset_rows(np.flatnonzero(terminated))
    expected = [games.metarl.bandit_means(c)[0] for c in copies]
    assert np.allclose(totals / 3000, expected, atol=0.03)


def test_an_mdp_batch_follows_each_copys_tables_and_horizon() -> None:
    variant = games.parse_variant("rl2_mdp_n10(task=4)")
    batch = games.get_family("rl2_mdp_n10").make_batch([variant.params] * 2000, seed=1)
    obs, _ = batch.reset()
    assert (obs[:, 0] == 1).all()  # the paper's MDPs start in state 0
    _, rewards, _, _, _ = batch.step(np.full(2000, 2))
    transitions, means = games.rl2_paper.mdp_tables(4)
    assert rewards.mean() == pytest.approx(means[0, 2], abs=0.1)
    first = np.bincount(batch.s, minlength=10) / 2000
    assert np.allclose(first, transitions[0, 2], atol=0.04)
    for _ in range(9):
        _, _, terminated, _, _ = batch.step(np.zeros(2000, dtype=np.int64))
    assert terminated.all()  # 10 steps per episode


def _serve(batched: bool, steps: int) -> tuple[list[tuple], int]:
    train = iter(games.parse_variant(f"bandit(arms=4,horizon=10,task={t})") for t in range(10_000))
    server = EnvServer(Budget(steps, 60.0), train, secret=7, batched=batched)
    (kind, handle, *_) = server.handle((Kind.SAMPLE, 8, True))
    assert kind == Kind.OK
    replies = [server.handle((Kind.RESET, handle, None))]
    while True:
        reply = server.handle((Kind.STEP, handle, np.zeros(8, dtype=np.int64)))
        if reply[0] != Kind.VECTOR_STEP_RESULT:
            break
        replies.append(reply)
    return replies, server.steps_used


def test_the_env_server_steps_a_batch_like_its_copies_budget_autoreset_and_layout() -> None:
    batched, used_batched = _serve(True, steps=100)
    single, used_single = _serve(False, steps=100)
    assert used_batched == used_single == 96  # 12 steps of 8 copies; a 13th would not fit
    assert len(batched) == len(single) == 13
    for b, s in zip(batched[1:], single[1:], strict=True):
        _, obs_b, _, terms_b, truncs_b, info_b = b
        _, obs_s, _, terms_s, truncs_s, info_s = s
        assert obs_b.shape == obs_s.shape and np.array_equal(terms_b, terms_s) and np.array_equal(truncs_b, truncs_s)
        assert set(info_b) == set(info_s)  # action masks, and final_obs/final_info where episodes ended
        if "final_obs" in info_b:
            assert np.array_equal(info_b["_final_obs"], info_s["_final_obs"])
            assert np.array_equal(info_b["final_obs"], info_s["final_obs"])  # the last observation: t = horizon
            assert np.array_equal(obs_b, obs_s)  # and the first of the next episode
    assert batched[-1][4].all()  # the last grant is truncated everywhere
