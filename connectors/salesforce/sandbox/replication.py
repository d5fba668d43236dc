"""Replication: `sobjects/{type}/deleted` and `/updated` ("sObject Get Deleted", "sObject Get
Updated", REST API Developer Guide; "getDeleted()", "getUpdated()", SOAP API Developer Guide).

`start` and `end` are ISO date-times, truncated to the minute; `start` must come before `end`
(`400 INVALID_REPLICATION_DATE`), and `/updated` looks back at most 30 days. Deletions are
known for 15 days or since the last purge: `earliestDateAvailable` says from when, and a
`start` before it answers 200 without the ids lost. `latestDateCovered` is `end`, or now when
`end` is later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.clock import parse_datetime, sf_datetime
from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.store import Store

UPDATED_DAYS = 30


def _window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    moments = []
    for name, text in (("start", start), ("end", end)):
        moment = parse_datetime(text) if text else None
        if moment is None:
            raise SalesforceError(
                400,
                "INVALID_REPLICATION_DATE" if text else "MISSING_ARGUMENT",
                f"{name} must be an ISO 8601 date-time with an offset, not {text!r}",
            )
        moments.append(moment.replace(second=0, microsecond=0))
    first, last = moments
    if first >= last:
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
        )
    return first, min(last, now.replace(second=0, microsecond=0))


def deleted(store: Store, sobject: str, start: str | None, end: str | None) -> dict[str, Any]:
    with store.locked():
        now = store.clock.now()
        first, last = _window(start, end, now)
        earliest = store.earliest_available(sobject)
        found = [
            {"id": r.id, "deletedDate": sf_datetime(r.deleted_at)}
            for r in store.records(sobject, deleted=True)
            if r.deleted_at is not None and first <= r.deleted_at < last + timedelta(minutes=1)
        ]
        return {
            "deletedRecords": sorted(found, key=lambda item: item["deletedDate"]),
            "earliestDateAvailable": sf_datetime(earliest),
            "latestDateCovered": sf_datetime(last),
        }


def updated(store: Store, sobject: str, start: str | None, end: str | None) -> dict[str, Any]:
    with store.locked():
        now = store.clock.now()
        first, last = _window(start, end, now)
        if first < now - timedelta(days=UPDATED_DAYS):
            raise SalesforceError(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {UPDATED_DAYS} days ago",
            )
        ids = [
            r.id
            for r in store.records(sobject)
            if first <= r.values["SystemModstamp"] < last + timedelta(minutes=1)
        ]
        return {"ids": ids, "latestDateCovered": sf_datetime(last)}
