"""A shared-memory message lane between the harness and one agent worker.

A pipe round trip costs ~125 µs here while a CartPole step costs ~7 µs, so per-step IPC through
pipes would make learning ~10x slower than the env allows. A lane is a memfd mapped by both
processes: one buffer per direction plus counters. The receiver spins briefly on the counters
(the peer usually answers within microseconds), then sleeps on a socket that the sender pokes
only when the receiver says it is asleep waiting for that very counter. The socket's EOF also
tells each side the other died.

Everything the harness reads from the worker's half is untrusted: lengths are bounds-checked
and bytes are copied out before they are parsed.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import TypeVar

_SLOTS = 8  # uint64 counters at the start of the mapping
_H2W_SENT, _H2W_READ, _W2H_SENT, _W2H_READ, _HARNESS_WAITING, _WORKER_WAITING, _H2W_LEN, _W2H_LEN = range(_SLOTS)
_HEADER = 64
CAPACITY = 1 << 20  # bytes per direction and chunk; longer messages go in several chunks
MAX_MESSAGE = 64 << 20  # the most a harness accepts from a worker
_MORE = 1 << 63
# A chunk's length word: its length in the low bits and, in a chunked message, the whole
# message's length above them, so that a receiver refuses an oversized message at its first
# chunk instead of after copying 64 MB of it (on a loaded 2-core machine the 64 hand-overs took
# longer than the agent's time limit, and the refusal came out as a timeout).
_CHUNK_BITS = 21  # CAPACITY itself needs 21 bits
_CHUNK_MASK = (1 << _CHUNK_BITS) - 1
_TOTAL_MASK = (1 << (63 - _CHUNK_BITS)) - 1
# Spin (yielding) this long before sleeping. A vector step of 64 copies keeps the agent waiting
# ~0.5 ms, and an SB3 rollout step keeps the harness waiting ~0.3 ms; a sleep then costs a
# wake-up of ~0.1 ms. With 1 ms, waits longer than usual (a reset, a GC pass) fell asleep often
# enough to cost 5% (vector ratio 0.77 vs 0.82 at 10 ms, measured back to back). Only used
# where each process has a core of its own (see executors.LocalExecutor).
SPIN_SECONDS = 10e-3
YIELD_AFTER_SECONDS = 20e-6
_NAP = 0.01  # sleeping waits re-check this often: a lost wake-up, or a deadline, costs at most this


_Buffer = TypeVar("_Buffer", bytes, bytearray)


class LaneClosed(EOFError):
    """The other process closed its end (it exited or was killed)."""


class LaneError(RuntimeError):
    """The other process wrote something that is not a valid message."""


def create() -> tuple[int, int]:
    """A new lane's memfd and its size, for the harness to map and pass to the worker."""
    size = _HEADER + 2 * CAPACITY
    fd = os.memfd_create("arena-lane", 0)
    os.ftruncate(fd, size)
    return fd, size


class Lane:
    def __init__(self, mem_fd: int, size: int, sock: socket.socket, side: str, spin: float = SPIN_SECONDS):
        self.spin = spin  # 0 where processes outnumber cores: spinning then steals the peer's core
        self.mm = mmap.mmap(mem_fd, size)
        self.sock = sock
        # Sleeping is one blocking recv that the kernel ends after _NAP (SO_RCVTIMEO): on a shared
        # core every syscall of a hand-over counts, and select() + a non-blocking recv were two.
        self.sock.setblocking(True)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, int(_NAP * 1e6)))
        self.header = memoryview(self.mm)[:_HEADER].cast("Q")
        self._in_start = _HEADER + CAPACITY if side == "harness" else _HEADER
        h2w = memoryview(self.mm)[_HEADER : _HEADER + CAPACITY]
        w2h = memoryview(self.mm)[_HEADER + CAPACITY : _HEADER + 2 * CAPACITY]
        if side == "harness":
            self.out, self.inbox = h2w, w2h
            self.out_sent, self.out_read, self.out_len = _H2W_SENT, _H2W_READ, _H2W_LEN
            self.in_sent, self.in_read, self.in_len = _W2H_SENT, _W2H_READ, _W2H_LEN
            self.me_waiting, self.peer_waiting = _HARNESS_WAITING, _WORKER_WAITING
        else:
            self.out, self.inbox = w2h, h2w
            self.out_sent, self.out_read, self.out_len = _W2H_SENT, _W2H_READ, _W2H_LEN
            self.in_sent, self.in_read, self.in_len = _H2W_SENT, _H2W_READ, _H2W_LEN
            self.me_waiting, self.peer_waiting = _WORKER_WAITING, _HARNESS_WAITING
        self._sent = int(self.header[self.out_sent])
        self._read = int(self.header[self.in_read])
        # What header[peer_waiting] holds when the peer sleeps until our next message or receipt.
        self._wake_for_sent = self.out_sent + 1
        self._wake_for_read = self.in_read + 1

    # -- waiting -------------------------------------------------------------------------------

    def _poke(self) -> None:
        """Wake the peer, which sleeps waiting for the counter we just advanced. Callers poke
        only a peer that waits for that very counter: on a shared core, waking it only to find
        nothing costs two context switches (the read receipt of every message used to do that)."""
        self.header[self.peer_waiting] = 0
        try:
            self.sock.send(b"!", socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass  # the peer's socket buffer is full of pokes: it is awake anyway
        except OSError:
            raise LaneClosed("the other side of the lane is gone") from None

    def _wait(self, ready_slot: int, ready_value: int, deadline: float | None) -> None:
        """Until header[ready_slot] != ready_value, spinning first, then sleeping."""
        header = self.header
        if header[ready_slot] != ready_value:
            return
        # Sleeping costs a wake-up, and the kernel may preempt the waker to run us (~0.1-0.6 ms),
        # so spin first, yielding the core to any other runnable process after a few µs. An
        # adaptive spin length was tried: sleeps inflate the measured answer time, which then
        # shortens the spin, which causes more sleeps; a fixed bound is steadier.
        started = time.perf_counter()
        spin_until = started + self.spin
        yield_after = started + YIELD_AFTER_SECONDS
        while True:
            now = time.perf_counter()
            if header[ready_slot] != ready_value:
                return
            if now > spin_until:
                break
            if now > yield_after:
                os.sched_yield()
        while True:
            header[self.me_waiting] = ready_slot + 1  # what we wait for, so the peer wakes us only for it
            if header[ready_slot] != ready_value:
                header[self.me_waiting] = 0
                return
            if deadline is not None and time.monotonic() >= deadline:  # overshoots by at most _NAP
                header[self.me_waiting] = 0
                raise TimeoutError("no message before the deadline")
            try:
                data = self.sock.recv(4096)  # pokes, or b"" once the peer is gone
            except (BlockingIOError, InterruptedError):
                data = b"!"  # _NAP passed without a poke: look again
            except OSError:
                data = b""
            if not data:
                raise LaneClosed("the other side of the lane is gone")
            header[self.me_waiting] = 0
            if header[ready_slot] != ready_value:
                return

    # -- messages ------------------------------------------------------------------------------
    # A step is one message each way, so send and recv are the harness's per-step cost: the
    # common one-chunk message takes a straight path of a few header reads and one copy (the
    # general chunked path cost ~1.6 µs a call, as much as a quarter of a CartPole step).

    def send(self, data: bytes, deadline: float | None = None, timeout: float | None = None) -> None:
        """``timeout``: seconds from now, an alternative to ``deadline`` that costs nothing when
        the send need not wait."""
        total = len(data)
        header = self.header
        if total > CAPACITY or header[self.out_read] != self._sent:
            if deadline is None and timeout is not None:
                deadline = time.monotonic() + timeout
            if total > CAPACITY:
                self._send_chunks(memoryview(data), deadline)
                return
        # The previous message must have been copied out before its buffer is reused.
        while header[self.out_read] != self._sent:
            self._wait(self.out_read, int(header[self.out_read]), deadline)
        self.out[:total] = data
        header[self.out_len] = total
        self._sent += 1
        header[self.out_sent] = self._sent
        if header[self.peer_waiting] == self._wake_for_sent:
            self._poke()

    def _send_chunks(self, view: memoryview, deadline: float | None) -> None:
        total = len(view)
        offset = 0
        while offset < total:
            while self.header[self.out_read] != self._sent:
                self._wait(self.out_read, int(self.header[self.out_read]), deadline)
            chunk = min(CAPACITY, total - offset)
            self.out[:chunk] = view[offset : offset + chunk]
            offset += chunk
            self.header[self.out_len] = chunk | (total << _CHUNK_BITS) | (_MORE if offset < total else 0)
            self._sent += 1
            self.header[self.out_sent] = self._sent
            if self.header[self.peer_waiting] == self._wake_for_sent:
                self._poke()

    def recv(self, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytes:
        chunk = self._next_whole(deadline, limit)
        if chunk < 0:
            return b"".join(self._recv(bytes, deadline, limit))
        data = self.mm[self._in_start : self._in_start + chunk]  # copied out, as bytes
        self._release()
        return data

    def recv_writable(self, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytearray:
        """The next message as a bytearray, so arrays decoded from it can be views that an agent
        may write to, without a second copy."""
        chunk = self._next_whole(deadline, limit)
        if chunk < 0:
            return bytearray().join(self._recv(bytearray, deadline, limit))
        data = bytearray(self.inbox[:chunk])
        self._release()
        return data

    def _next_whole(self, deadline: float | None, limit: int) -> int:
        """Waits for the next chunk: its length if it is a whole message within ``limit``, else
        -1 (a chunked, oversized or malformed message, for :meth:`_recv` to read or refuse)."""
        header = self.header
        if header[self.in_sent] == self._read:
            self._wait(self.in_sent, self._read, deadline)
        chunk = int(header[self.in_len])  # read once: the peer may rewrite it under us
        return chunk if chunk <= CAPACITY and chunk <= limit else -1

    def _release(self) -> None:
        """The chunk is copied out: the peer may write the next one."""
        self._read += 1
        self.header[self.in_read] = self._read
        if self.header[self.peer_waiting] == self._wake_for_read:
            self._poke()

    def _recv(self, copy: Callable[[memoryview], _Buffer], deadline: float | None, limit: int) -> list[_Buffer]:
        header = self.header
        parts: list[_Buffer] = []
        size = 0
        while True:
            if header[self.in_sent] == self._read:
                self._wait(self.in_sent, self._read, deadline)
            raw = int(header[self.in_len])  # read once: the peer may rewrite it under us
            more = bool(raw & _MORE)
            chunk = raw & _CHUNK_MASK
            announced = (raw >> _CHUNK_BITS) & _TOTAL_MASK
            # Only a message longer than one chunk is chunked, and none of its chunks is empty.
            if chunk > CAPACITY or ((more or announced) and chunk == 0) or 0 < announced <= CAPACITY:
                raise LaneError("malformed chunk length")
            size += chunk
            # The announcement is only a hint that lets us refuse early: a lying peer is still
            # caught by the running size.
            if size > limit or announced > limit:
                raise LaneError(f"message longer than {limit} bytes")
            parts.append(copy(self.inbox[:chunk]))  # copied out: the peer may scribble on it later
            self._release()
            if not more:
                return parts

    def close(self) -> None:
        self.header.release()
        self.out.release()
        self.inbox.release()
        try:
            self.mm.close()
        except BufferError:
            pass
        self.sock.close()
