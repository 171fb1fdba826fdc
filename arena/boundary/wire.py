"""Encoding of the messages between the harness and an agent process (named in
:mod:`arena.boundary.protocol`).

Messages are tuples whose first item is their kind. The hot ones (an env step, its answer, an
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

from arena.boundary.protocol import Kind

_PICKLE, _STEP_INT, _STEP_ARRAY, _ACTION_INT, _ACTION_ARRAY, _STEP_REPLY, _ACT, _VECTOR_REPLY, _RESET_REPLY, _RESET = (
    range(10)
)
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
# Info entries' name fields by key (None: the key has no compact form), one table per kind.
_ARRAY_NAMES: dict[Any, bytes | None] = {}
_DICT_NAMES: dict[Any, bytes | None] = {}
_COUNTS = [b"\x01" + bytes((n,)) for n in range(256)]  # a compact info's marker and entry count
_VECTOR_REPLY_CODE, _RESET_REPLY_CODE, _STEP_ARRAY_CODE = (
    bytes((_VECTOR_REPLY,)),
    bytes((_RESET_REPLY,)),
    bytes((_STEP_ARRAY,)),
)
_HANDLE = struct.Struct("<I")
_INT = struct.Struct("<q")
_REPLY = struct.Struct("<d??")
_STEP_REPLY_HEAD = struct.Struct("<Bd??")  # code, then _REPLY
_STEP_INT_MESSAGE = struct.Struct("<BIq")  # code, handle, action
_RESET_MESSAGE = struct.Struct("<BI?q")  # code, handle, whether a seed follows, the seed
_FLOAT = struct.Struct("<d")
# Decoded messages carry their kind as a plain string (equal to the Kind member).
_STEP_RESULT_KIND, _VECTOR_STEP_RESULT_KIND, _RESET_RESULT_KIND, _ACT_KIND = (
    Kind.STEP_RESULT.value,
    Kind.VECTOR_STEP_RESULT.value,
    Kind.RESET_RESULT.value,
    Kind.ACT.value,
)
_STEP_KIND, _RESET_KIND, _ACTION_KIND = Kind.STEP.value, Kind.RESET.value, Kind.ACTION.value

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


_HEADS: dict[tuple[np.dtype[Any], tuple[int, ...]], bytes] = {}
_SMALL = 4096  # bytes: below this, tobytes() is cheaper than a memoryview of the array


def _array_parts(array: np.ndarray) -> list[Any]:
    """An array's header and its payload. A small payload is copied out (cheaper than a view);
    a large contiguous one is the array's own memory, copied once, when the message is joined
    (a vector reply is ~100 KB: copies add up)."""
    head = _HEADS.get((array.dtype, array.shape))
    if head is None:
        head = _array_head(array)
    if array.nbytes < _SMALL or not array.flags.c_contiguous:
        return [head, array.tobytes()]
    return [head, array.data]


def _array_head(array: np.ndarray) -> bytes:
    field = _FIELD_OF.get(array.dtype)
    if field is None or array.ndim > 8:
        raise TypeError(f"arrays on the wire must be numeric with at most 8 dimensions, got {array.dtype}")
    head = field + _NDIM[array.ndim] + _SHAPES[array.ndim].pack(*array.shape)
    if len(_HEADS) < 4096:  # an env's arrays have few shapes; never grow without bound
        _HEADS[(array.dtype, array.shape)] = head
    return head


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
    parts.append(_COUNTS[len(info)])
    for key, value in info.items():
        if isinstance(value, np.ndarray):
            name = _ARRAY_NAMES.get(key)
            if name is None:
                name = _name_field(_ARRAY_NAMES, b"\x00", key)
                if name is None:
                    return False
            try:
                parts += (name, *_array_parts(value))
            except TypeError:  # not a numeric array: no compact form
                return False
        elif nested and type(value) is dict and value:
            name = _DICT_NAMES.get(key)
            if name is None:
                name = _name_field(_DICT_NAMES, b"\x01", key)
                if name is None:
                    return False
            parts.append(name)
            if not _entry_parts(value, parts, nested=False):
                return False
        else:
            return False
    return True


def _name_field(cache: dict[Any, bytes | None], kind: bytes, key: Any) -> bytes | None:
    """An entry's kind byte, name length and name; None for a name with no compact form."""
    encoded = key.encode() if type(key) is str else b""
    field = kind + bytes((len(encoded),)) + encoded if 0 < len(encoded) < 256 else None
    if len(cache) < 4096:  # an env's info keys are few; never grow without bound
        cache[key] = field
    return field


def _unpack_info(data: bytearray, offset: int) -> dict[str, Any]:
    if offset >= len(data):
        return {}
    if data[offset] == 0:
        return pickle.loads(data[offset + 1 :])  # trusted side only
    return _unpack_entries(data, offset)[0]


def _unpack_entries(data: bytearray, offset: int) -> tuple[dict[str, Any], int]:
    info: dict[str, Any] = {}
    position = offset + 2
    for _ in range(data[offset + 1]):
        kind, size = data[position], data[position + 1]
        position += 2
        key = _KEY_OF.get(bytes(data[position : position + size]))
        if key is None:
            key = data[position : position + size].decode()
            if len(_KEY_OF) < 4096:
                _KEY_OF[key.encode()] = key
        if kind == 0:
            info[key], position = _view_array(data, position + size)
        else:
            info[key], position = _unpack_entries(data, position + size)
    return info, position


_KEY_OF: dict[bytes, str] = {}  # info keys by their bytes, decoded once


def _view_array(data: bytearray, offset: int) -> tuple[np.ndarray, int]:
    """Worker side: :func:`_unpack_array` without its checks, for the harness's own messages."""
    field, ndim = _ARRAY_HEAD.unpack_from(data, offset)
    start = offset + 5 + 8 * ndim
    array = np.ndarray(_SHAPES[ndim].unpack_from(data, offset + 5), _DTYPE_OF[field], data, start)
    return array, start + array.nbytes


def _pack_value(value: Any) -> bytes | None:
    """An action as int or array bytes; None if it has no compact form."""
    if type(value) is int and -(2**63) <= value < 2**63:
        return _INT.pack(value)
    if _packable(value):
        return _pack_array(value)
    return None


def _encode_step_result(message: tuple[Any, ...]) -> bytes | None:
    """One env's step: (STEP_RESULT, obs, reward, terminated, truncated, info)."""
    if type(message[2]) is float and _packable(message[1]):
        head = _STEP_REPLY_HEAD.pack(_STEP_REPLY, message[2], bool(message[3]), bool(message[4]))
        return b"".join([head, *_array_parts(message[1]), *_info_parts(message[5])])
    return None


def _encode_vector_step_result(message: tuple[Any, ...]) -> bytes | None:
    """A vector env's step: (VECTOR_STEP_RESULT, observations, rewards, terminations, truncations, infos)."""
    if all(_packable(part) for part in message[1:5]) and isinstance(message[5], dict):
        parts = [_VECTOR_REPLY_CODE]
        for array in message[1:5]:
            parts += _array_parts(array)
        parts += _info_parts(message[5])
        return b"".join(parts)
    return None


def _encode_reset_result(message: tuple[Any, ...]) -> bytes | None:
    """A reset, one env's or a vector env's: (RESET_RESULT, observation(s), info)."""
    if _packable(message[1]) and isinstance(message[2], dict):
        return b"".join([_RESET_REPLY_CODE, *_array_parts(message[1]), *_info_parts(message[2])])
    return None


def _encode_step(message: tuple[Any, ...]) -> bytes | None:
    """(STEP, handle, action)."""
    if type(message[2]) is int and -(2**63) <= message[2] < 2**63:
        return _STEP_INT_MESSAGE.pack(_STEP_INT, message[1], message[2])
    if _packable(message[2]):
        return b"".join([_STEP_ARRAY_CODE, _HANDLE.pack(message[1]), *_array_parts(message[2])])
    return None


def _encode_reset(message: tuple[Any, ...]) -> bytes | None:
    """(RESET, handle, seed or None)."""
    seed = message[2]
    if seed is None:
        return _RESET_MESSAGE.pack(_RESET, message[1], False, 0)
    if type(seed) is int and -(2**63) <= seed < 2**63:
        return _RESET_MESSAGE.pack(_RESET, message[1], True, seed)
    return None


def _encode_action(message: tuple[Any, ...]) -> bytes | None:
    """(ACTION, action)."""
    packed = _pack_value(message[1])
    if packed is None:
        return None
    return bytes((_ACTION_INT if type(message[1]) is int else _ACTION_ARRAY,)) + packed


def _encode_act(message: tuple[Any, ...]) -> bytes | None:
    """(ACT, new_episode, observation, info, previous reward)."""
    if _packable(message[2]) and type(message[4]) is float:
        head = bytes((_ACT, bool(message[1]))) + _FLOAT.pack(message[4])
        return b"".join([head, *_array_parts(message[2]), *_info_parts(message[3])])
    return None


# The hot messages (a step each way, an evaluation act and its action) and their compact forms,
# by kind and length: a message of another length (a malformed one) is pickled like any other.
_COMPACT = {
    (Kind.STEP_RESULT, 6): _encode_step_result,
    (Kind.VECTOR_STEP_RESULT, 6): _encode_vector_step_result,
    (Kind.RESET_RESULT, 3): _encode_reset_result,
    (Kind.STEP, 3): _encode_step,
    (Kind.RESET, 3): _encode_reset,
    (Kind.ACTION, 2): _encode_action,
    (Kind.ACT, 5): _encode_act,
}


def encode(message: tuple[Any, ...]) -> bytes:
    """A message (see :mod:`arena.boundary.protocol`) as bytes: compact where its kind has a
    compact form and its values fit it, else pickled."""
    compact = _COMPACT.get((message[0], len(message)))
    if compact is not None:
        data = compact(message)
        if data is not None:
            return data
    # Kinds travel as plain strings: an enum member would pickle as a reference to its class,
    # which the harness's restricted unpickler refuses.
    message = (str(message[0]), *message[1:])
    return bytes((_PICKLE,)) + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode_trusted(data: bytes | bytearray) -> tuple[Any, ...]:
    """Agent side: messages from the harness. Arrays come back writable, as an env's would."""
    code = data[0]
    if code == _PICKLE:
        message = pickle.loads(data[1:])
        assert isinstance(message, tuple)
        return message
    if not isinstance(data, bytearray):
        data = bytearray(data)  # one copy, so the arrays (views) are writable
    if code == _STEP_REPLY:
        reward, terminated, truncated = _REPLY.unpack_from(data, 1)
        obs, end = _view_array(data, 1 + _REPLY.size)
        info = _unpack_info(data, end)
        return (_STEP_RESULT_KIND, obs, reward, terminated, truncated, info)
    if code == _VECTOR_REPLY:
        parts, end = [], 1
        for _ in range(4):
            part, end = _view_array(data, end)
            parts.append(part)
        return (_VECTOR_STEP_RESULT_KIND, *parts, _unpack_info(data, end))
    if code == _RESET_REPLY:
        obs, end = _view_array(data, 1)
        return (_RESET_RESULT_KIND, obs, _unpack_info(data, end))
    if code == _ACT:
        (reward,) = _FLOAT.unpack_from(data, 2)
        obs, end = _view_array(data, 2 + _FLOAT.size)
        info = _unpack_info(data, end)
        return (_ACT_KIND, bool(data[1]), obs, info, reward)
    raise ValueError(f"unknown message code {code}")


def decode_untrusted(data: bytes) -> tuple[Any, ...]:
    """Harness side: messages from a worker, which runs untrusted code."""
    if not data:
        raise ProtocolError("worker sent an empty message")
    code = data[0]
    try:
        if code == _STEP_INT:
            _, handle, action = _STEP_INT_MESSAGE.unpack(data)
            return (_STEP_KIND, handle, action)
        if code == _STEP_ARRAY:
            (handle,) = _HANDLE.unpack_from(data, 1)
            return (_STEP_KIND, handle, _unpack_array(data, 5)[0])
        if code == _RESET:
            _, handle, seeded, seed = _RESET_MESSAGE.unpack(data)
            return (_RESET_KIND, handle, seed if seeded else None)
        if code in (_ACTION_INT, _ACTION_ARRAY):
            action = _INT.unpack_from(data, 1)[0] if code == _ACTION_INT else _unpack_array(data, 1)[0]
            return (_ACTION_KIND, action)
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
