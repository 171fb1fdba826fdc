"""Messages between the harness and an agent worker.

Both ends speak pickled tuples over a ``multiprocessing`` connection. The harness never
unpickles worker output with the full unpickler: :func:`recv_untrusted` admits only plain
Python values and numeric numpy arrays, so an agent cannot run code in the harness through
a crafted message.
"""

from __future__ import annotations

import io
import pickle
from multiprocessing.connection import Connection
from typing import Any

# Far above any honest message (a batch of actions, an error text), far below harm.
MAX_WORKER_MESSAGE = 16 * 1024 * 1024

_SAFE_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
}


class ProtocolError(RuntimeError):
    """The worker sent something that is not a valid message."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise ProtocolError(f"worker message refers to {module}.{name}, which is not allowed")


def send(conn: Connection, *message: Any) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def recv_trusted(conn: Connection) -> tuple[Any, ...]:
    """Worker side: messages from the harness."""
    message = pickle.loads(conn.recv_bytes())
    assert isinstance(message, tuple)
    return message


def recv_untrusted(conn: Connection) -> tuple[Any, ...]:
    """Harness side: messages from a worker, which runs untrusted code."""
    try:
        data = conn.recv_bytes(MAX_WORKER_MESSAGE)
    except OSError as exc:
        if "too long" in str(exc) or "bad message length" in str(exc):
            raise ProtocolError("worker sent an oversized message") from None
        raise
    try:
        message = _SafeUnpickler(io.BytesIO(data)).load()
    except ProtocolError:
        raise
    except Exception as exc:  # any malformed pickle
        raise ProtocolError(f"worker sent an unreadable message: {type(exc).__name__}") from None
    if not isinstance(message, tuple) or not message or not isinstance(message[0], str):
        raise ProtocolError("worker sent a message of the wrong shape")
    return message
