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
import math
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
# The hot paths look dtypes up by object and fields by their raw bytes: dtype.str and decoding
# the field would each cost more than the rest of packing a small array.
_FIELD_OF = {dtype: _DTYPE_FIELD[name] for name, dtype in _NUMERIC.items()}
_ARRAY_HEAD = struct.Struct("<IB")  # an array's dtype field (read as an int) and its ndim
_DTYPE_OF = {_ARRAY_HEAD.unpack(field + b"\x00")[0]: _NUMERIC[name] for name, field in _DTYPE_FIELD.items()}
_SHAPES = [struct.Struct(f"<{n}q") for n in range(9)]
_NDIM = [bytes((n,)) for n in range(9)]
_NAMES: dict[str, bytes] = {}
_STEP_REPLY_CODE, _VECTOR_REPLY_CODE = (
    bytes((_STEP_REPLY,)),
    bytes((_VECTOR_REPLY,)),
)  # info keys, encoded with their length byte in front
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


def _packable(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype in _FIELD_OF and value.ndim <= 8


def _array_parts(array: np.ndarray) -> list[Any]:
    """An array's header and its payload; a contiguous array's payload is the array's own memory,
    copied once, when the message is joined (a vector reply is ~100 KB: copies add up)."""
    field = _FIELD_OF.get(array.dtype)
    if field is None or array.ndim > 8:
        raise TypeError(f"arrays on the wire must be numeric with at most 8 dimensions, got {array.dtype}")
    ndim = array.ndim
    payload = array.data if array.flags.c_contiguous else array.tobytes()
    return [field + _NDIM[ndim] + _SHAPES[ndim].pack(*array.shape), payload]


def _pack_array(array: np.ndarray) -> bytes:
    return b"".join(_array_parts(array))


def _unpack_array(data: bytes | bytearray | memoryview, offset: int) -> tuple[np.ndarray, int]:
    field, ndim = _ARRAY_HEAD.unpack_from(data, offset)
    dtype = _DTYPE_OF.get(field)
    if dtype is None:
        raise ProtocolError("array of a non-numeric dtype is not allowed")
    if ndim > 8:
        raise ProtocolError("array with too many dimensions")
    shape = _SHAPES[ndim].unpack_from(data, offset + 5)
    if ndim and min(shape) < 0:
        raise ProtocolError("array with a negative dimension")
    count = math.prod(shape)
    start = offset + 5 + 8 * ndim
    end = start + count * dtype.itemsize
    if end > len(data):
        raise ProtocolError("array shorter than its shape")
    return np.ndarray(shape, dtype, data, start), end  # a view, like frombuffer, at a third of its cost


def _info_parts(info: dict[str, Any]) -> list[Any]:
    """An info dict: compact when it holds only numeric arrays, or dicts of them (a vector env's
    ``final_info``), else pickled."""
    if not info:
        return []
    parts: list[Any] = []
    if _entry_parts(info, parts, nested=True):
        return parts
    return [b"\x00", pickle.dumps(info, protocol=pickle.HIGHEST_PROTOCOL)]


def _entry_parts(info: dict[str, Any], parts: list[Any], nested: bool) -> bool:
    """``\x01``, the count, then per entry: its kind (0 array, 1 dict), name and payload.
    Appends to ``parts``; False (parts then unusable) when ``info`` has no compact form."""
    if len(info) > 255:
        return False
    parts += [b"\x01", _NDIM[len(info)] if len(info) < len(_NDIM) else bytes((len(info),))]
    for key, value in info.items():
        name = _NAMES.get(key) if type(key) is str else None
        if name is None:
            if type(key) is not str or len(key.encode()) >= 256:
                return False
            name = bytes((len(key.encode()),)) + key.encode()
            if len(_NAMES) < 4096:  # an env's info keys are few; never grow without bound
                _NAMES[key] = name
        if _packable(value):
            parts.append(b"\x00" + name)
            parts += _array_parts(value)
        elif nested and type(value) is dict and value:
            parts.append(b"\x01" + name)
            if not _entry_parts(value, parts, nested=False):
                return False
        else:
            return False
    return True


def _unpack_info(data: bytes | bytearray, offset: int) -> dict[str, Any]:
    if offset >= len(data):
        return {}
    if data[offset] == 0:
        return pickle.loads(data[offset + 1 :])  # trusted side only
    return _unpack_entries(data, offset)[0]


def _unpack_entries(data: bytes | bytearray, offset: int) -> tuple[dict[str, Any], int]:
    info: dict[str, Any] = {}
    position = offset + 2
    for _ in range(data[offset + 1]):
        kind, size = data[position], data[position + 1]
        key = data[position + 2 : position + 2 + size].decode()
        if kind == 0:
            info[key], position = _unpack_array(data, position + 2 + size)
        else:
            info[key], position = _unpack_entries(data, position + 2 + size)
    return info, position


def _pack_value(value: Any) -> bytes | None:
    """An action as int or array bytes; None if it has no compact form."""
    if type(value) is int and -(2**63) <= value < 2**63:
        return _INT.pack(value)
    if _packable(value):
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
    elif kind == "ok" and len(message) == 6 and type(message[2]) is float:
        # A single env's step answer: (ok, obs, reward, terminated, truncated, info)
        if _packable(message[1]):
            head = _STEP_REPLY_CODE + _REPLY.pack(message[2], bool(message[3]), bool(message[4]))
            return b"".join([head, *_array_parts(message[1]), *_info_parts(message[5])])
    elif (
        kind == "ok"
        and len(message) == 6
        and all(_packable(part) for part in message[1:5])
        and isinstance(message[5], dict)
    ):
        # A vector env's step answer: (ok, observations, rewards, terminations, truncations, infos)
        parts = [_VECTOR_REPLY_CODE]
        for array in message[1:5]:
            parts += _array_parts(array)
        parts += _info_parts(message[5])
        return b"".join(parts)
    elif kind == "act" and len(message) == 5 and _packable(message[2]) and type(message[4]) is float:
        # (act, new_episode, observation, info, previous reward)
        head = bytes((_ACT, bool(message[1]))) + _FLOAT.pack(message[4])
        return b"".join([head, *_array_parts(message[2]), *_info_parts(message[3])])
    return bytes((_PICKLE,)) + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode_trusted(data: bytes | bytearray) -> tuple[Any, ...]:
    """Worker side: messages from the harness. Arrays come back writable, as an env's would."""
    code = data[0]
    if code != _PICKLE and not isinstance(data, bytearray):
        data = bytearray(data)  # one copy, so the arrays (views) are writable
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
