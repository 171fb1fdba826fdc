"""Which runner gets which job (executors.WarmFirst), and the local executor's runner processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict

import pytest

from arena import campaign
from arena.harness.executors import JobFeed, LocalExecutor
from arena.harness.executors.dispatch import WarmFirst
from arena.harness.limits import Limits
from arena.store import Store
from arena.submission import load_submission
from arena.suites import load_suite

RANDOM = """
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        return 0
"""

SLOW = """
import time
import arena

class Agent(arena.Agent):
    def adapt(self, env):
        time.sleep(0.5)

    def act(self, observation, info):
        return 0
"""


def plan(write_submission, tiny_suite, *codes: tuple[str, str]):
    suite = load_suite(str(tiny_suite))
    submissions = [load_submission(write_submission(name, code)) for name, code in codes]
    return submissions, campaign.plan_trials(submissions, suite, "dev", None)


def test_each_runner_keeps_to_the_submissions_it_has_warm(write_submission, tiny_suite) -> None:
    (a, b), jobs = plan(write_submission, tiny_suite, ("a", RANDOM), ("b", RANDOM))
    dispatch = WarmFirst(2)
    dispatch.plan(jobs)
    ran: dict[int, list[str]] = defaultdict(list)
    idle = [0, 1]
    while True:  # the runners finish in turns
        given = dispatch.assign(idle)
        if not given:
            break
        idle = []
        for slot, _, job in given:
            ran[slot].append(job.submission.name)
            idle.append(slot)
    assert sorted(ran) == [0, 1]
    assert {name for names in ran.values() for name in names} == {a.name, b.name}
    assert all(len(set(names)) == 1 for names in ran.values()), ran  # no runner started both
    assert sum(len(names) for names in ran.values()) == len(jobs)


def test_runners_share_the_submissions_out_and_keep_the_plans_fair_order(write_submission, tiny_suite) -> None:
    codes = [(name, RANDOM) for name in "abcd"]
    _, jobs = plan(write_submission, tiny_suite, *codes)
    dispatch = WarmFirst(2)
    dispatch.plan(jobs)
    order: list[int] = []
    on: dict[str, set[int]] = defaultdict(set)
    idle = [0, 1]
    while given := dispatch.assign(idle):
        idle = [slot for slot, _, _ in given]
        for slot, index, job in given:
            order.append(index)
            on[job.submission.name].add(slot)
    # Two runners finishing in turns run the jobs in the plan's order (a b c d a b c d ...:
    # a run stopped halfway has advanced every submission alike), each submission on one runner.
    assert order == list(range(len(jobs)))
    assert {name: len(slots) for name, slots in on.items()} == dict.fromkeys("abcd", 1)
    assert on["a"] != on["b"]


def test_an_idle_runner_takes_over_work_but_not_a_last_job(write_submission, tiny_suite) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("a", RANDOM))
    dispatch = WarmFirst(2)
    dispatch.plan(jobs[:3])
    [(slot, _, _)] = dispatch.assign([0])
    assert slot == 0
    # Runner 0 is busy; two of a's jobs wait: the idle runner 1 takes one, starting a cold.
    [(slot, _, _)] = dispatch.assign([1])
    assert slot == 1
    assert dispatch.assign([0]) != []  # warm on both now: the last job goes to whoever is free

    lone = WarmFirst(2)
    lone.plan(jobs[:2])
    lone.assign([0])
    # One job left, warm on runner 0 only: runner 1 would pay a cold start for it; it waits.
    assert lone.assign([1]) == []
    assert lone.assign([0]) != []


def test_a_retried_job_goes_first_and_a_replaced_runner_starts_cold(write_submission, tiny_suite) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("a", RANDOM), ("b", RANDOM))
    dispatch = WarmFirst(2)
    dispatch.plan(jobs)
    [(slot0, index0, job0), (slot1, _, job1)] = dispatch.assign([0, 1])
    assert (slot0, slot1) == (0, 1) and job0.submission.hash != job1.submission.hash
    dispatch.retry(index0, job0)
    dispatch.forget(0)  # runner 0 died with job0
    [(slot, index, _)] = dispatch.assign([0])
    # Runner 0 has nothing warm now; job0's submission is warm nowhere, so it is the one taken,
    # and the retried job comes before the rest of its queue.
    assert (slot, index) == (0, index0)


def test_two_runners_start_each_submission_once(write_submission, tiny_suite) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("a", RANDOM), ("b", RANDOM))
    executor = LocalExecutor(2, Limits(setup_seconds=5))
    try:
        outcomes = dict(executor.run(jobs))
    finally:
        executor.shutdown()
    assert sorted(outcomes) == list(range(len(jobs)))
    assert {o.status for o in outcomes.values()} == {"ok"}
    pids: dict[str, set[int]] = defaultdict(set)
    for index, outcome in outcomes.items():
        pids[jobs[index].submission.name].add(outcome.worker_pid)
    # A plan-order dispatch started both submissions on both runners (4 cold starts). Here each
    # runner starts with its own submission; at most one takes over the other's last trials.
    assert sorted(pids) == ["a", "b"]
    assert len(pids["a"]) + len(pids["b"]) <= 3, pids


def test_a_job_whose_runner_is_killed_runs_again(write_submission, tiny_suite) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("slow", SLOW))
    jobs = [job for job in jobs if job.budget > 0][:2]
    executor = LocalExecutor(2, Limits(setup_seconds=5))
    outcomes: dict[int, object] = {}
    try:
        assert len(dict(executor.run(jobs))) == 2  # both runners up, each with the agent warm
        consumer = threading.Thread(target=lambda: outcomes.update(executor.run(jobs)))
        consumer.start()
        time.sleep(0.25)  # both jobs are now inside adapt()'s half-second sleep
        victim = executor._procs[0]
        os.kill(victim.pid, signal.SIGKILL)
        consumer.join(timeout=60)
        assert not consumer.is_alive()
        assert executor._procs[0] is not victim  # replaced
    finally:
        executor.shutdown()
    assert sorted(outcomes) == [0, 1]
    assert {o.status for o in outcomes.values()} == {"ok"}  # type: ignore[attr-defined]


def test_a_new_run_drops_what_an_abandoned_one_left_and_keeps_what_is_warm(write_submission, tiny_suite) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("a", RANDOM), ("b", RANDOM))
    dispatch = WarmFirst(2)
    dispatch.plan(jobs)
    dispatch.assign([0, 1])  # a on runner 0, b on runner 1; then the run is abandoned (Ctrl-C)
    later = [job for job in jobs if job.submission.name == "b"][:1]
    dispatch.plan(later)  # indices now mean this list; a's leftovers are gone
    given = dispatch.assign([0, 1])
    assert [(slot, index) for slot, index, _ in given] == [(1, 0)]  # b is still warm on runner 1
    assert dispatch.assign([0, 1]) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_added_to_a_feed_mid_run_are_run_and_the_run_ends_when_it_closes(
    write_submission, tiny_suite, workers: int
) -> None:
    _, jobs = plan(write_submission, tiny_suite, ("a", RANDOM), ("b", RANDOM))
    feed = JobFeed(jobs[:1])
    executor = LocalExecutor(workers, Limits(setup_seconds=5))
    seen = []
    try:
        for index, outcome in executor.run(feed):
            seen.append((index, outcome.status))
            if len(feed.jobs) < 4:  # the consumer adds work as outcomes come in, then closes
                feed.add(jobs[len(feed.jobs)])
                feed.add(jobs[len(feed.jobs)])
            else:
                feed.close()
    finally:
        executor.shutdown()
    assert len(feed.jobs) == 5
    assert sorted(seen) == [(index, "ok") for index in range(5)], seen


def test_an_open_feed_with_nothing_left_to_run_is_an_error_not_a_hang() -> None:
    executor = LocalExecutor(1)
    try:
        with pytest.raises(RuntimeError, match="open JobFeed"):
            list(executor.run(JobFeed()))
    finally:
        executor.shutdown()


META = """
import time
import arena

class Agent(arena.Agent):
    def meta_train(self, tasks):
        time.sleep(SLEEP)

    def save(self, path):
        (path / "done.txt").write_text("1")

    def load(self, path):
        self.loaded = (path / "done.txt").read_text() == "1"

    def act(self, observation, info):
        assert self.loaded, "the checkpoint was not loaded"
        return 0
"""


def test_trials_start_as_soon_as_their_own_meta_training_ends(write_submission, tiny_suite, tmp_path) -> None:
    tiny_suite.write_text(
        tiny_suite.read_text().replace("meta_train_steps = 0", "meta_train_steps = 300\nmeta_train_seconds = 20")
    )
    suite = load_suite(str(tiny_suite))
    submissions = [
        load_submission(write_submission(name, META.replace("SLEEP", sleep)))
        for name, sleep in (("slow", "4"), ("fast", "0"))
    ]
    events: list[tuple[str, int, int]] = []
    store = Store(tmp_path / "p.db")
    summary = campaign.run(
        submissions, suite, "dev", store, LocalExecutor(2, Limits(setup_seconds=5)),
        progress=lambda stage, done, total, _: events.append((stage, done, total)),
    )  # fmt: skip
    assert summary.statuses == {"ok": 16}, [t.error for t in store.trials() if t.status != "ok"]
    assert {m.status for m in store.meta_trains()} == {"ok"}
    # While one runner sleeps in the slow submission's meta-training, the other has finished the
    # fast one's and runs its trials: with a barrier between the phases no trial would end first.
    meta_done = next(i for i, (stage, done, total) in enumerate(events) if stage == "meta-training" and done == total)
    first_trial = next(i for i, (stage, done, _) in enumerate(events) if stage == "trials" and done > 0)
    assert first_trial < meta_done, events
