"""The harness/worker message codec: every hot message round-trips exactly, and the harness's
decoder refuses malformed worker bytes with a ProtocolError rather than misreading them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arena.boundary import wire
from arena.boundary.protocol import Kind

DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "uint64", "float16", "float32", "float64"]
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(np.dtype(dtype), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
)
names = st.text(min_size=1, max_size=12)
infos = st.dictionaries(names, arrays | st.dictionaries(names, arrays, min_size=1, max_size=3), max_size=4)


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=150, deadline=None)
@given(obs=arrays, reward=st.floats(allow_nan=False), term=st.booleans(), trunc=st.booleans(), info=infos)
def test_step_replies_round_trip_with_writable_arrays(obs, reward, term, trunc, info) -> None:
    message = (Kind.STEP_RESULT, obs, reward, term, trunc, info)
    decoded = wire.decode_trusted(wire.encode(message))
    assert same(decoded, message)
    if decoded[1].size:
        decoded[1].flat[0] = decoded[1].flat[0]  # an agent may write to its observation


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 6),
    width=st.integers(0, 4),
    info=infos,
    new_episode=st.booleans(),
    reward=st.floats(allow_nan=False),
)
def test_vector_replies_and_act_messages_round_trip(n, width, info, new_episode, reward) -> None:
    rng = np.random.default_rng(n * 10 + width)
    vector = (
        Kind.VECTOR_STEP_RESULT,
        rng.normal(size=(n, width)).astype(np.float32),
        rng.normal(size=n),
        rng.random(n) < 0.5,
        rng.random(n) < 0.5,
        info,
    )
    assert same(wire.decode_trusted(wire.encode(vector)), vector)
    act = ("act", new_episode, vector[1][0], info, reward)
    assert same(wire.decode_trusted(wire.encode(act)), act)


def test_non_compact_infos_still_round_trip() -> None:
    message = (
        Kind.STEP_RESULT,
        np.zeros(3, np.float32),
        1.0,
        False,
        True,
        {"text": "hello", "mask": np.ones(2, np.int8)},
    )
    assert same(wire.decode_trusted(wire.encode(message)), message)


@given(action=arrays)
def test_worker_actions_decode_on_the_harness_side(action) -> None:
    assert same(wire.decode_untrusted(wire.encode(("action", action))), ("action", action))
    assert wire.decode_untrusted(wire.encode(("step", 7, 3))) == ("step", 7, 3)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-3],  # shorter than its shape says
        lambda b: b[:1] + b"zz  " + b[5:],  # a dtype field that is not numeric
        lambda b: b[:5] + bytes([9]) + b[6:],  # more than 8 dimensions
        lambda b: b[:6] + (-4).to_bytes(8, "little", signed=True) + b[14:],  # a negative dimension
    ],
)
def test_malformed_worker_arrays_are_protocol_errors(mutate) -> None:
    data = wire.encode(("action", np.arange(4, dtype=np.int64)))
    with pytest.raises(wire.ProtocolError):
        wire.decode_untrusted(mutate(data))


@settings(max_examples=100, deadline=None)
@given(obs=arrays, info=infos, n=st.integers(1, 4))
def test_reset_replies_round_trip_compactly_for_one_env_and_for_a_vector_env(obs, info, n) -> None:
    single = (Kind.RESET_RESULT, obs, info)
    encoded = wire.encode(single)
    assert encoded[0] == wire._RESET_REPLY  # not pickled: a reset costs a few µs, not ~15
    assert same(wire.decode_trusted(encoded), single)
    vector = (Kind.RESET_RESULT, np.stack([obs] * n), info)
    assert same(wire.decode_trusted(wire.encode(vector)), vector)


@pytest.mark.parametrize("seed", [None, 0, -1, 2**63 - 1, -(2**63), 2**64, "not a seed"])
def test_reset_requests_decode_on_the_harness_side_as_sent(seed) -> None:
    data = wire.encode(("reset", 3, seed))
    compact = seed is None or (type(seed) is int and -(2**63) <= seed < 2**63)
    assert (data[0] != wire._PICKLE) == compact
    assert wire.decode_untrusted(data) == ("reset", 3, seed)


@pytest.mark.parametrize("message", [("step", 1, 2), ("reset", 1, 5), ("reset", 1, None)])
def test_truncated_or_padded_compact_requests_are_protocol_errors(message) -> None:
    data = wire.encode(message)
    for bad in (data[:-1], data + b"\x00"):
        with pytest.raises(wire.ProtocolError):
            wire.decode_untrusted(bad)
