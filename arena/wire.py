"""Encoding of the messages between the harness and an agent worker.

Messages are tuples whose first item names them. The hot ones (an env step, its answer, an
evaluation ``act`` and its action) have compact binary forms, so a step costs microseconds of
encoding, not the ~8 µs of pickling numpy arrays; everything else is pickled.

The harness never unpickles worker output with the full unpickler: :func:`decode_untrusted`
admits only plain Python values and numeric arrays, so a crafted message cannot run code in the
harness.
"""

from __future__ import annotations

import io
import pickle
import struct
from typing import Any

import numpy as np

_PICKLE, _STEP_INT, _STEP_ARRAY, _ACTION_INT, _ACTION_ARRAY, _STEP_REPLY, _ACT, _VECTOR_REPLY = range(8)
_NUMERIC = {
    np.dtype(t).str: np.dtype(t)
    for t in (
        "bool",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
}
_DTYPE_FIELD = {name: name.encode().ljust(4) for name in _NUMERIC}
_SHAPES = [struct.Struct(f"<{n}q") for n in range(9)]
_HANDLE = struct.Struct("<I")
_INT = struct.Struct("<q")
_REPLY = struct.Struct("<d??")
_FLOAT = struct.Struct("<d")

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


def _pack_array(array: np.ndarray) -> bytes:
    field = _DTYPE_FIELD.get(array.dtype.str)
    if field is None:
        raise TypeError(f"arrays on the wire must be numeric, got dtype {array.dtype}")
    shape = array.shape
    return b"".join((field, bytes((len(shape),)), _SHAPES[len(shape)].pack(*shape), array.tobytes()))


def _unpack_array(data: bytes | memoryview, offset: int) -> tuple[np.ndarray, int]:
    dtype = _NUMERIC.get(bytes(data[offset : offset + 4]).rstrip(b" ").decode("ascii", "replace"))
    if dtype is None:
        raise ProtocolError("array of a non-numeric dtype is not allowed")
    ndim = data[offset + 4]
    if ndim > 8:
        raise ProtocolError("array with too many dimensions")
    shape = _SHAPES[ndim].unpack_from(data, offset + 5)
    count = 1
    for n in shape:
        if n < 0:
            raise ProtocolError("array with a negative dimension")
        count *= n
    start = offset + 5 + 8 * ndim
    end = start + count * dtype.itemsize
    if end > len(data):
        raise ProtocolError("array shorter than its shape")
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape), end


def _pack_info(info: dict[str, Any]) -> bytes:
    """An info dict: compact when it holds only numeric arrays (action masks), else pickled."""
    if not info:
        return b""
    parts = [b"\x01", bytes((len(info),))]
    for key, value in info.items():
        if not (type(key) is str and len(key) < 256 and isinstance(value, np.ndarray) and value.dtype.str in _NUMERIC):
            return b"\x00" + pickle.dumps(info, protocol=pickle.HIGHEST_PROTOCOL)
        name = key.encode()
        parts += [bytes((len(name),)), name, _pack_array(value)]
    if len(info) > 255:
        return b"\x00" + pickle.dumps(info, protocol=pickle.HIGHEST_PROTOCOL)
    return b"".join(parts)


def _unpack_info(data: bytes, offset: int) -> dict[str, Any]:
    if offset >= len(data):
        return {}
    if data[offset] == 0:
        return pickle.loads(data[offset + 1 :])  # trusted side only
    info = {}
    position = offset + 2
    for _ in range(data[offset + 1]):
        size = data[position]
        key = data[position + 1 : position + 1 + size].decode()
        info[key], position = _unpack_array(data, position + 1 + size)
    return info


def _pack_value(value: Any) -> bytes | None:
    """An action as int or array bytes; None if it has no compact form."""
    if type(value) is int and -(2**63) <= value < 2**63:
        return _INT.pack(value)
    if isinstance(value, np.ndarray) and value.dtype.str in _NUMERIC:
        return _pack_array(value)
    return None


def encode(message: tuple[Any, ...]) -> bytes:
    kind = message[0]
    if kind == "step" and len(message) == 3:
        packed = _pack_value(message[2])
        if packed is not None:
            code = _STEP_INT if type(message[2]) is int else _STEP_ARRAY
            return bytes((code,)) + _HANDLE.pack(message[1]) + packed
    elif kind == "action" and len(message) == 2:
        packed = _pack_value(message[1])
        if packed is not None:
            return bytes((_ACTION_INT if type(message[1]) is int else _ACTION_ARRAY,)) + packed
    elif kind == "ok" and len(message) == 6 and isinstance(message[1], np.ndarray) and type(message[2]) is float:
        # A single env's step answer: (ok, obs, reward, terminated, truncated, info)
        if message[1].dtype.str in _NUMERIC:
            info = _pack_info(message[5])
            head = _REPLY.pack(message[2], bool(message[3]), bool(message[4]))
            return bytes((_STEP_REPLY,)) + head + _pack_array(message[1]) + info
    elif (
        kind == "ok"
        and len(message) == 6
        and all(isinstance(part, np.ndarray) and part.dtype.str in _NUMERIC for part in message[1:5])
        and isinstance(message[5], dict)
    ):
        # A vector env's step answer: (ok, observations, rewards, terminations, truncations, infos)
        return bytes((_VECTOR_REPLY,)) + b"".join(_pack_array(part) for part in message[1:5]) + _pack_info(message[5])
    elif (
        kind == "act"
        and len(message) == 5
        and isinstance(message[2], np.ndarray)
        and message[2].dtype.str in _NUMERIC
        and type(message[4]) is float
    ):
        # (act, new_episode, observation, info, previous reward)
        head = bytes((_ACT, bool(message[1]))) + _FLOAT.pack(message[4])
        return head + _pack_array(message[2]) + _pack_info(message[3])
    return bytes((_PICKLE,)) + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode_trusted(data: bytes) -> tuple[Any, ...]:
    """Worker side: messages from the harness. Arrays come back writable, as an env's would."""
    code = data[0]
    if code != _PICKLE:
        data = bytearray(data)  # type: ignore[assignment]  # one copy, so frombuffer views are writable
    if code == _STEP_REPLY:
        reward, terminated, truncated = _REPLY.unpack_from(data, 1)
        obs, end = _unpack_array(data, 1 + _REPLY.size)
        info = _unpack_info(data, end)
        return ("ok", obs, reward, terminated, truncated, info)
    if code == _VECTOR_REPLY:
        parts, end = [], 1
        for _ in range(4):
            part, end = _unpack_array(data, end)
            parts.append(part)
        return ("ok", *parts, _unpack_info(data, end))
    if code == _ACT:
        (reward,) = _FLOAT.unpack_from(data, 2)
        obs, end = _unpack_array(data, 2 + _FLOAT.size)
        info = _unpack_info(data, end)
        return ("act", bool(data[1]), obs, info, reward)
    message = pickle.loads(data[1:])
    assert isinstance(message, tuple)
    return message


def decode_untrusted(data: bytes) -> tuple[Any, ...]:
    """Harness side: messages from a worker, which runs untrusted code."""
    if not data:
        raise ProtocolError("worker sent an empty message")
    code = data[0]
    try:
        if code in (_STEP_INT, _STEP_ARRAY):
            (handle,) = _HANDLE.unpack_from(data, 1)
            value = _INT.unpack_from(data, 5)[0] if code == _STEP_INT else _unpack_array(data, 5)[0]
            return ("step", handle, value)
        if code in (_ACTION_INT, _ACTION_ARRAY):
            return ("action", _INT.unpack_from(data, 1)[0] if code == _ACTION_INT else _unpack_array(data, 1)[0])
        if code != _PICKLE:
            raise ProtocolError(f"unknown message code {code}")
        message = _SafeUnpickler(io.BytesIO(data[1:])).load()
    except ProtocolError:
        raise
    except Exception as exc:  # malformed bytes of any kind
        raise ProtocolError(f"worker sent an unreadable message: {type(exc).__name__}") from None
    if not isinstance(message, tuple) or not message or not isinstance(message[0], str):
        raise ProtocolError("worker sent a message of the wrong shape")
    return message
