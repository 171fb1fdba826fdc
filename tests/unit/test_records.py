"""Records: one definition per record, its columns derived from it, rows that round-trip."""

from __future__ import annotations

import json

import pytest

from arena.boundary import wire
from arena.boundary.protocol import FAILURES, RESULTS, Kind
from arena.records import (
    MatchRecord,
    MetaTrainRecord,
    Status,
    SubmissionRecord,
    TrialRecord,
    as_plain,
    columns,
    fields,
    from_row,
    to_row,
)
from tests.conftest import make_trial


def test_columns_follow_the_fields_and_lists_are_json_text() -> None:
    cols = columns(TrialRecord)
    assert list(cols) == list(fields(TrialRecord))
    assert cols["budget"] is int and cols["eval_return"] is float and cols["episode_returns"] is str
    assert set(TrialRecord.KEY) <= set(cols)
    for record in (MetaTrainRecord, MatchRecord, SubmissionRecord):
        assert set(record.KEY) <= set(columns(record))


def test_rows_round_trip_and_statuses_are_plain_strings() -> None:
    record = make_trial(status=Status.TIMEOUT, episode_returns=(1.0, 2.5), error="slow")
    row = to_row(record)
    assert type(row["status"]) is str and row["status"] == "timeout"
    assert json.loads(row["episode_returns"]) == [1.0, 2.5]
    assert from_row(TrialRecord, {**row, "a_column_of_a_newer_schema": 1}) == record
    assert as_plain(record)["episode_returns"] == [1.0, 2.5]
    json.dumps(as_plain(record))


def test_records_are_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        TrialRecord("h", "s", 1, "dev", "v", 0, 0, "x", "1", "f", "g", "ok")  # type: ignore[misc]
    record = make_trial()
    with pytest.raises(AttributeError):
        record.seed = 3  # type: ignore[misc]
    assert record.key == ("h", "s", 1, "dev", "cartpole", 0, 0, 0, "", "harness")


def test_message_kinds_cross_the_wire_as_plain_strings() -> None:
    """An enum member would pickle as a reference to its class, which the harness refuses."""
    message = wire.decode_untrusted(wire.encode((Kind.FAILED, "adapt", "Traceback ...")))
    assert message == ("error", "adapt", "Traceback ...") and type(message[0]) is str
    assert wire.decode_trusted(wire.encode((Kind.OK, 3, "spaces")))[0] == Kind.OK
    assert Kind.EXHAUSTED not in RESULTS and Kind.REFUSED not in RESULTS
    assert {Kind.FAILED, Kind.OUT_OF_MEMORY} == FAILURES
