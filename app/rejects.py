"""Rejected records: write-backs the CRM refused for good (kept as failed in the outbox), that
no newer write of the same contact has replaced. Retrying one queues it again, afresh."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, aliased

from app.models import Contact, OutboxEntry, OutboxState


@dataclass(frozen=True)
class Reject:
    id: int
    contact_id: int
    crm_id: str
    reason: str | None
    values: dict[str, Any]
    attempts: int
    last_attempt_at: datetime | None
    created_at: datetime


def _rejects(connection_id: int) -> Select[OutboxEntry, str]:
    newer = aliased(OutboxEntry)
    replaced = exists().where(newer.contact_id == OutboxEntry.contact_id, newer.id > OutboxEntry.id)
    return (
        select(OutboxEntry, Contact.crm_id)
        .join(Contact, Contact.id == OutboxEntry.contact_id)
        .where(
            OutboxEntry.connection_id == connection_id,
            OutboxEntry.state == OutboxState.FAILED,
            ~replaced,
        )
        .order_by(OutboxEntry.id)
    )


def list_rejects(
    session: Session, connection_id: int, *, limit: int, after: int = 0
) -> list[Reject]:
    rows = session.execute(_rejects(connection_id).where(OutboxEntry.id > after).limit(limit))
    return [
        Reject(
            id=entry.id,
            contact_id=entry.contact_id,
            crm_id=crm_id,
            reason=entry.last_error,
            values=dict(entry.field_values or {}),
            attempts=entry.attempts,
            last_attempt_at=entry.last_attempt_at,
            created_at=entry.created_at,
        )
        for entry, crm_id in rows
    ]


def retry_rejects(
    session: Session, connection_id: int, ids: Sequence[int] | None, now: datetime
) -> list[int]:
    """Queue the rejects again (all, or those of `ids` that are rejects): attempts start over,
    the last reason stays until the CRM answers again. The ids queued."""
    query = _rejects(connection_id)
    if ids is not None:
        query = query.where(OutboxEntry.id.in_(list(ids)))
    queued = []
    for entry, _ in session.execute(query.with_for_update(of=OutboxEntry)):
        entry.state, entry.attempts, entry.next_attempt_at = OutboxState.PENDING, 0, now
        entry.claim_token = None
        queued.append(entry.id)
    return queued
