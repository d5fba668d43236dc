"""ISO 8601 instants: the one parser of the codebase (CRM values, files, options, stored state).

A date and time must carry its UTC offset (`Z`, or `+02:00`): a time without one is refused,
since guessing its zone would shift it silently. A date alone (`2026-06-01`, as HubSpot sends
date properties) is midnight UTC. The result is always timezone-aware, in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(text: str) -> datetime:
    """`text` as an aware UTC datetime; ValueError naming the text when it is not one."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or time: {text!r}") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    if "T" not in value.upper() and " " not in value:  # a date alone
        return parsed.replace(tzinfo=UTC)
    raise ValueError(f"{text!r} has no timezone: add Z for UTC, or an offset such as +02:00")
