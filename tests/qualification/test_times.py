"""The one ISO 8601 parser: an offset is required, a date alone is midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from app.cli.main import cli
from app.errors import InputError
from connectors.hubspot.mapping import parse_time
from qualification.engagement import EngagementState
from qualification.times import parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T10:00:00Z", datetime(2026, 6, 1, 10, tzinfo=UTC)),
        ("2026-06-01T10:00:00.250+00:00", datetime(2026, 6, 1, 10, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-06-01T12:00:00+02:00", datetime(2026, 6, 1, 10, tzinfo=UTC)),
        ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
        (" 2026-06-01T10:00:00Z ", datetime(2026, 6, 1, 10, tzinfo=UTC)),
    ],
)
def test_instants_with_an_offset_and_dates_are_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-06-01T10:00:00", "has no timezone"),
        ("2026-06-01 10:00", "has no timezone"),
        ("yesterday", "not an ISO 8601 date or time"),
        ("", "not an ISO 8601 date or time"),
    ],
)
def test_a_time_without_offset_and_garbage_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_instant(text)


def test_every_reader_of_times_follows_the_same_rule() -> None:
    naive = "2026-06-01T10:00:00"
    # HubSpot values: epoch milliseconds or ISO 8601 with an offset; a naive time is not read.
    assert parse_time(naive) is None
    assert parse_time("2026-06-01") == datetime(2026, 6, 1, tzinfo=UTC)
    assert parse_time("1780308000000") == datetime(2026, 6, 1, 10, tzinfo=UTC)
    # Stored engine state.
    with pytest.raises(ValueError, match="has no timezone"):
        EngagementState.from_dict({"at": naive, "signals": []})
    # Command-line options.
    result = CliRunner().invoke(cli, ["score", "--contacts", "c.jsonl", "--at", naive])
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == (
        "--at: '2026-06-01T10:00:00' has no timezone: add Z for UTC, or an offset such as +02:00"
    )
