"""Scoring stored contacts: qualify, record transitions, and queue the CRM write-back.

The new qualification, its transition and its outbox row are written in the caller's
transaction, so a crash never leaves a status change without its write-back (or the reverse).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import Activity, Contact, OutboxEntry, OutboxState, QualificationRecord, Transition
from app.sql import upsert_insert
from qualification import records
from qualification.criteria import Criteria
from qualification.engine import Qualification, qualify, rescore, transition
from qualification.fields import crm_values, needs_write

SAMPLES = 20  # what a dry run shows of the writes it would make


@dataclass(frozen=True)
class StatusChange:
    contact_id: int
    crm_id: str
    from_status: str | None
    to_status: str
    reasons: str


@dataclass
class ScoreCounts:
    scored: int = 0
    status_changes: int = 0
    to_write: int = 0
    changes: list[StatusChange] = field(default_factory=list)
    write_samples: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add(self, other: ScoreCounts) -> None:
        self.scored += other.scored
        self.status_changes += other.status_changes
        self.to_write += other.to_write
        self.changes.extend(other.changes)
        room = SAMPLES - len(self.write_samples)
        self.write_samples.extend(other.write_samples[: max(0, room)])


def to_qualification(record: QualificationRecord) -> Qualification:
    return Qualification.from_dict(
        {
            "contact_id": str(record.contact_id),
            "status": record.status,
            "score": record.score,
            "fit": record.fit,
            "engagement": record.engagement,
            "reasons": record.reasons,
            "reasons_text": record.reasons_text,
            "criteria_version": record.criteria_version,
            "status_since": record.status_since.isoformat(),
            "computed_at": record.computed_at.isoformat(),
            "next_change_at": record.next_change_at.isoformat() if record.next_change_at else None,
            "probability": record.conversion_probability,
            "profile": record.profile,
            "engagement_state": record.engagement_state,
        }
    )


def _row(contact_id: int, q: Qualification) -> dict[str, Any]:
    stored = q.to_dict()
    return {
        "contact_id": contact_id,
        "status": q.status.value,
        "status_since": q.status_since,
        "score": q.score,
        "fit": q.fit,
        "engagement": q.engagement,
        "engagement_state": stored["engagement_state"],
        "profile": stored["profile"],
        "reasons": stored["reasons"],
        "reasons_text": q.reasons_text,
        "criteria_version": q.criteria_version,
        "computed_at": q.computed_at,
        "next_change_at": q.next_change_at,
        "conversion_probability": q.probability,
    }


def engine_activities(session: Session, ids: list[int]) -> dict[int, list[records.Activity]]:
    grouped: dict[int, list[records.Activity]] = defaultdict(list)
    rows = session.execute(
        select(Activity.contact_id, Activity.type, Activity.occurred_at, Activity.properties).where(
            Activity.contact_id.in_(ids)
        )
    )
    for contact_id, kind, occurred_at, properties in rows:
        grouped[contact_id].append(records.Activity(str(contact_id), kind, occurred_at, properties))
    return grouped


def score_contacts(
    session: Session,
    connection_id: int,
    contact_ids: Collection[int],
    criteria: Criteria,
    at: datetime,
    *,
    enqueue: bool = True,
) -> ScoreCounts:
    """Fully rescore these contacts from their stored properties and activities."""
    ids = list(contact_ids)
    if not ids:
        return ScoreCounts()
    contacts = session.scalars(
        select(Contact).where(Contact.id.in_(ids), Contact.deleted_at.is_(None))
    ).all()
    activities = engine_activities(session, ids)
    previous = _previous(session, ids)
    results: list[tuple[Contact, Qualification]] = []
    for contact in contacts:
        prior = previous.get(contact.id)
        current = qualify(
            records.Contact(str(contact.id), contact.properties),
            activities.get(contact.id, ()),
            criteria,
            at,
            prior[1] if prior else None,
        )
        results.append((contact, current))
    return _record(session, connection_id, results, previous, criteria, enqueue=enqueue)


def rescore_due(
    session: Session,
    connection_id: int,
    contact_ids: Collection[int],
    criteria: Criteria,
    at: datetime,
    *,
    enqueue: bool = True,
) -> ScoreCounts:
    """Decay only: rescore from stored state, no activity read (the schedule's path)."""
    previous = _previous(session, list(contact_ids))
    contacts = {
        c.id: c
        for c in session.scalars(
            select(Contact).where(Contact.id.in_(list(previous)), Contact.deleted_at.is_(None))
        )
    }
    results = [
        (contacts[cid], rescore(prior, criteria, at))
        for cid, (_, prior) in previous.items()
        if cid in contacts and prior.criteria_version == criteria.version
    ]
    return _record(session, connection_id, results, previous, criteria, enqueue=enqueue)


def _previous(
    session: Session, ids: list[int]
) -> dict[int, tuple[QualificationRecord, Qualification]]:
    rows = session.scalars(
        select(QualificationRecord).where(QualificationRecord.contact_id.in_(ids))
    ).all()
    return {row.contact_id: (row, to_qualification(row)) for row in rows}


def _record(
    session: Session,
    connection_id: int,
    results: list[tuple[Contact, Qualification]],
    previous: dict[int, tuple[QualificationRecord, Qualification]],
    criteria: Criteria,
    *,
    enqueue: bool,
) -> ScoreCounts:
    counts = ScoreCounts(scored=len(results))
    if not results:
        return counts
    rows, transitions, outbox, touched = [], [], [], []
    for contact, current in results:
        prior = previous.get(contact.id)
        rows.append(_row(contact.id, current))
        change = transition(prior[1] if prior else None, current)
        if change is not None:
            transitions.append(
                {
                    "contact_id": contact.id,
                    "from_status": change.from_status.value if change.from_status else None,
                    "to_status": change.to_status.value,
                    "at": change.at,
                    "reason": change.reason,
                    "criteria_version": current.criteria_version,
                    "score": current.score,
                    "conversion_probability": current.probability,
                    "properties": contact.properties or {},
                }
            )
            counts.status_changes += 1
            counts.changes.append(
                StatusChange(
                    contact.id,
                    contact.crm_id,
                    change.from_status.value if change.from_status else None,
                    change.to_status.value,
                    current.reasons_text,
                )
            )
        written = prior[0].written_values if prior else None
        touched.append(contact.id)
        if needs_write(written, current, criteria):
            counts.to_write += 1
            if len(counts.write_samples) < SAMPLES:
                counts.write_samples.append((contact.crm_id, crm_values(current)))
            outbox.append(
                {
                    "connection_id": connection_id,
                    "contact_id": contact.id,
                    "field_values": crm_values(current),
                    "state": OutboxState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": current.computed_at,
                    "created_at": current.computed_at,
                }
            )
    insert = upsert_insert(session, QualificationRecord)
    updated = {name: insert.excluded[name] for name in rows[0] if name != "contact_id"}
    session.execute(insert.on_conflict_do_update(index_elements=["contact_id"], set_=updated), rows)
    if transitions:
        session.execute(upsert_insert(session, Transition), transitions)
    if enqueue:
        # Newer values supersede any still waiting: one pending row per contact. A row in
        # flight (claimed) is left to settle; the new one is claimed once it has.
        session.execute(
            delete(OutboxEntry).where(
                OutboxEntry.contact_id.in_(touched),
                OutboxEntry.state == OutboxState.PENDING,
                OutboxEntry.claim_token.is_(None),
            )
        )
        if outbox:
            session.execute(upsert_insert(session, OutboxEntry), outbox)
    return counts
