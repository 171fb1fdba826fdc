"""The shared-memory lane between the harness and an agent worker, on a real memfd and socket pair.

The two ends run in two threads of this process: the lane is only a mapping, counters and a
socket, so a thread sees exactly what another process would.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from arena.boundary import lane as lanes


class CountingSocket(socket.socket):
    """A real socket that counts the wake-ups (non-empty reads) of the lane sleeping on it."""

    wakeups = 0

    def recv(self, size: int, *args: int) -> bytes:
        data = super().recv(size, *args)
        if data:
            self.wakeups += 1
        return data


def lane_pair(spin: float = 0.0) -> tuple[lanes.Lane, lanes.Lane, CountingSocket]:
    fd, size = lanes.create()
    harness_end, worker_end = socket.socketpair()
    counted = CountingSocket(fileno=harness_end.detach())
    return (
        lanes.Lane(fd, size, counted, "harness", spin=spin),
        lanes.Lane(fd, size, worker_end, "worker", spin=spin),
        counted,
    )


@pytest.mark.parametrize("spin", [0.0, lanes.SPIN_SECONDS])
def test_messages_arrive_whole_and_in_order_also_past_one_chunk(spin: float) -> None:
    harness, worker, _ = lane_pair(spin)
    messages = [b"", b"x", bytes(range(256)) * 3, b"y" * (lanes.CAPACITY + 12345), b"last"]

    def echo() -> None:
        for _ in messages:
            worker.send(bytes(worker.recv_writable(deadline=time.monotonic() + 10)))

    thread = threading.Thread(target=echo)
    thread.start()
    for message in messages:
        harness.send(message, deadline=time.monotonic() + 10)
        assert harness.recv(deadline=time.monotonic() + 10) == message
    thread.join()


def test_a_sleeping_receiver_is_woken_by_the_answer_and_not_by_the_read_receipt() -> None:
    """On a shared core every needless wake-up is two context switches; the worker's receipt
    that it copied the request out must not wake a harness that waits for the answer."""
    harness, worker, counted = lane_pair(spin=0.0)

    def slow_answer() -> None:
        time.sleep(0.05)  # the harness is asleep by now
        request = worker.recv(deadline=time.monotonic() + 10)  # writes the read receipt
        time.sleep(0.05)  # the harness would be awake in between if the receipt woke it
        worker.send(b"answer to " + request)

    thread = threading.Thread(target=slow_answer)
    thread.start()
    harness.send(b"request")
    assert harness.recv(deadline=time.monotonic() + 10) == b"answer to request"
    thread.join()
    assert counted.wakeups == 1


def test_a_silent_peer_times_out_and_a_gone_one_closes_the_lane() -> None:
    harness, worker, _ = lane_pair(spin=0.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        harness.recv(deadline=started + 0.2)
    waited = time.monotonic() - started
    assert 0.2 <= waited < 0.2 + 0.5  # the sleep re-checks every few ms, not once at the end
    worker.sock.close()
    with pytest.raises(lanes.LaneClosed):
        harness.recv(deadline=time.monotonic() + 10)


def test_a_malformed_chunk_length_from_the_worker_is_refused() -> None:
    harness, worker, _ = lane_pair(spin=0.0)
    worker.send(b"fine")
    worker.header[lanes._W2H_LEN] = lanes.CAPACITY + 1  # the worker scribbles on its own half
    with pytest.raises(lanes.LaneError, match="malformed"):
        harness.recv(deadline=time.monotonic() + 1)
    harness.close()
    worker.close()


def test_an_oversized_message_is_refused_at_its_first_chunk() -> None:
    """Refusing only after copying 64 MB took longer than an agent's time limit on a loaded CI
    machine, so the refusal came out as a timeout: the first chunk announces the whole length."""
    harness, worker, _ = lane_pair(spin=0.0)
    sender_ended: list[str] = []

    def send_too_much() -> None:
        try:
            worker.send(b"x" * (3 * lanes.CAPACITY), timeout=0.5)
        except TimeoutError:
            sender_ended.append("timeout")  # waiting for a receipt that never comes

    sender = threading.Thread(target=send_too_much)
    sender.start()
    with pytest.raises(lanes.LaneError, match="longer than"):
        harness.recv(deadline=time.monotonic() + 10, limit=2 * lanes.CAPACITY)
    assert harness._read == 0  # not one chunk was copied out
    sender.join()
    assert sender_ended == ["timeout"]


def test_a_chunked_message_that_understates_its_length_is_still_refused() -> None:
    harness, worker, _ = lane_pair(spin=0.0)
    limit = lanes.CAPACITY + 10

    def lying_send() -> None:  # announces nothing and sends two whole chunks
        for number, more in ((1, lanes._MORE), (2, 0)):
            worker.out[: lanes.CAPACITY] = b"y" * lanes.CAPACITY
            worker.header[lanes._W2H_LEN] = lanes.CAPACITY | more
            worker.header[lanes._W2H_SENT] = number
            worker._poke()
            while number == 1 and worker.header[lanes._W2H_READ] != 1:
                time.sleep(0.001)

    thread = threading.Thread(target=lying_send)
    thread.start()
    with pytest.raises(lanes.LaneError, match="longer than"):
        harness.recv(deadline=time.monotonic() + 10, limit=limit)
    thread.join()
    assert harness._read == 1  # the first chunk passed; the running size caught the second


@pytest.mark.parametrize("length", [4 * lanes.CAPACITY, (5 << lanes._CHUNK_BITS) | 7, lanes._MORE])
def test_a_length_word_that_no_sender_writes_is_refused(length: int) -> None:
    """Lengths whose chunk bits alone look harmless: a chunk of 0 announcing 2 MB, a chunked
    message announcing fewer bytes than one chunk holds, an empty chunk with more to come."""
    harness, worker, _ = lane_pair(spin=0.0)
    worker.header[lanes._W2H_LEN] = length
    worker.header[lanes._W2H_SENT] = 1
    with pytest.raises(lanes.LaneError, match="malformed"):
        harness.recv(deadline=time.monotonic() + 1)
