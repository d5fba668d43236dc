"""The webhook inbox: each event stored once (deduplicated), before anything else happens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models import InboxEvent
from app.sql import upsert_insert
from connectors.base import ChangeEvent, ChangeKind


@dataclass(frozen=True)
class Stored:
    new: int
    duplicates: int


# PostgreSQL refuses NUL and lone surrogates in JSON (and in text); both are valid JSON escapes a
# CRM may send in a property value. They are stored as U+FFFD so that the event is kept and
# processed; the dedup key was computed from the event as received.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(value: Any) -> Any:
    """`value` with every string (keys included) fit for either database's JSON."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def event_document(event: ChangeEvent) -> dict[str, Any]:
    document: dict[str, Any] = storable(
        {
            "kind": event.kind.value,
            "crm_id": event.crm_id,
            "account_id": event.account_id,
            "occurred_at": event.occurred_at.isoformat(),
            "property_name": event.property_name,
            "property_value": event.property_value,
            "merged_crm_ids": list(event.merged_crm_ids),
            "raw": dict(event.raw),
        }
    )
    return document


def document_event(document: dict[str, Any], dedup_key: str) -> ChangeEvent:
    return ChangeEvent(
        dedup_key=dedup_key,
        account_id=str(document.get("account_id", "")),
        kind=ChangeKind(document["kind"]),
        crm_id=str(document["crm_id"]),
        occurred_at=datetime.fromisoformat(document["occurred_at"]),
        property_name=document.get("property_name"),
        property_value=document.get("property_value"),
        merged_crm_ids=tuple(document.get("merged_crm_ids") or ()),
        raw=document.get("raw") or {},
    )


def store_events(
    session: Session,
    source: str,
    connection_id: int,
    events: Sequence[ChangeEvent],
    now: datetime,
) -> Stored:
    """INSERT ... ON CONFLICT DO NOTHING on (source, dedup key): a retried event is one row."""
    if not events:
        return Stored(0, 0)
    unique = {event.dedup_key: event for event in events}
    rows = [
        {
            "source": source,
            "connection_id": connection_id,
            "dedup_key": key,
            "event": event_document(event),
            "received_at": now,
            "attempts": 0,
            "object_id": storable(event.crm_id),
        }
        for key, event in unique.items()
    ]
    statement = (
        upsert_insert(session, InboxEvent)
        .on_conflict_do_nothing(index_elements=["source", "dedup_key"])
        .returning(InboxEvent.id)
    )
    new = len(session.execute(statement, rows).all())
    return Stored(new, len(events) - new)
