"""Storing what the CRM sent: contacts and activities upserted in batches, idempotently.

Re-reading the same records (an overlap, a retried batch, a webhook and a sync racing) changes
nothing: contacts are keyed by (connection, kind, CRM id), activities by (connection, CRM id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.models import Activity, Contact, OutboxEntry, OutboxState, QualificationRecord, Transition
from app.sql import upsert_insert
from connectors.base import CrmActivity, CrmContact
from qualification.times import parse_instant

CUSTOMER_STAGES = frozenset({"customer", "evangelist"})


def store_contacts(
    session: Session, connection_id: int, contacts: Sequence[CrmContact], now: datetime
) -> dict[str, int]:
    """Upsert contacts; return CRM id -> local id. Merges point the merged-away to the survivor."""
    if not contacts:
        return {}
    latest: dict[tuple[str, str], CrmContact] = {}
    for contact in contacts:  # a page can hold one contact twice around a window edge
        latest[(contact.kind, contact.crm_id)] = contact
    newer = _newer_than_read(session, connection_id, latest)
    rows = []
    for key, c in latest.items():
        properties = dict(c.properties)
        kept = newer.get(key, {})
        properties.update({name: value for name, (value, _) in kept.items()})
        rows.append(
            {
                "connection_id": connection_id,
                "crm_id": c.crm_id,
                "kind": c.kind,
                "email": (properties.get("email") or None),
                "properties": properties,
                "property_times": {n: at.isoformat() for n, (_, at) in kept.items()} or None,
                "is_customer": (properties.get("lifecyclestage") or "") in CUSTOMER_STAGES,
                "deleted_at": now if c.archived else None,
                "crm_modified_at": c.modified_at,
                "created_at": now,
                "updated_at": now,
            }
        )
    insert = upsert_insert(session, Contact)
    statement = insert.on_conflict_do_update(
        index_elements=["connection_id", "kind", "crm_id"],
        set_={
            name: insert.excluded[name]
            for name in (
                "email",
                "properties",
                "property_times",
                "is_customer",
                "deleted_at",
                "crm_modified_at",
            )
        }
        | {"updated_at": now},
    ).returning(Contact.id, Contact.crm_id)
    ids = {crm_id: local for local, crm_id in session.execute(statement, rows).all()}
    for contact in latest.values():
        if contact.merged_crm_ids:
            follow_survivor(
                session, connection_id, ids[contact.crm_id], contact.merged_crm_ids, now
            )
    return ids


Carried = tuple[str | None, datetime]  # a value a webhook event carried, and its instant


def property_times(stored: Mapping[str, Any] | None) -> dict[str, datetime]:
    """The instants of the values events set on a contact since its last read."""
    return {name: parse_instant(str(at)) for name, at in (stored or {}).items()}


def _newer_than_read(
    session: Session, connection_id: int, contacts: Mapping[tuple[str, str], CrmContact]
) -> dict[tuple[str, str], dict[str, Carried]]:
    """Values events set after what a read returned (the read was older than the event: a
    sync and a webhook racing): kept over the read, so that no value goes back in time. Only
    contacts holding such values are looked at (`property_times IS NOT NULL`)."""
    found: dict[tuple[str, str], dict[str, Carried]] = {}
    wanted = sorted({crm_id for _, crm_id in contacts})
    for start in range(0, len(wanted), _CHUNK):
        # Columns, not entities: the upsert that follows would leave entities stale.
        for kind, crm_id, properties, times in session.execute(
            select(Contact.kind, Contact.crm_id, Contact.properties, Contact.property_times).where(
                Contact.connection_id == connection_id,
                Contact.crm_id.in_(wanted[start : start + _CHUNK]),
                Contact.property_times.is_not(None),
            )
        ):
            read = contacts.get((kind, crm_id))
            if read is None:
                continue
            kept = {
                name: (properties.get(name), at)
                for name, at in property_times(times).items()
                if at > read.modified_at
            }
            if kept:
                found[(kind, crm_id)] = kept
    return found


def apply_carried(
    session: Session,
    connection_id: int,
    carried: Mapping[str, Mapping[str, Carried]],
    at: datetime,
) -> dict[str, Contact]:
    """Set the values webhook events carried on the stored contacts, each only where it is
    newer than the value held (checked again here, in the writing transaction, as another
    worker or a sync may have stored the contact since the events were planned). Returns CRM
    id -> the contacts whose properties changed."""
    changed: dict[str, Contact] = {}
    wanted = sorted(carried)
    for start in range(0, len(wanted), _CHUNK):
        rows = session.scalars(
            select(Contact)
            .where(
                Contact.connection_id == connection_id,
                Contact.crm_id.in_(wanted[start : start + _CHUNK]),
                Contact.deleted_at.is_(None),
            )
            .with_for_update()
        )
        for row in rows:
            if _apply_values(row, carried[row.crm_id], at):
                changed[row.crm_id] = row
    return changed


def _apply_values(row: Contact, values: Mapping[str, Carried], at: datetime) -> bool:
    times = property_times(row.property_times)
    properties = dict(row.properties)
    moved = differs = False
    for name, (value, when) in values.items():
        moments = [m for m in (times.get(name), row.crm_modified_at) if m is not None]
        held = max(moments, default=None)
        if held is not None and when <= held:
            continue
        times[name] = when
        moved = True
        if (properties.get(name) or "") != (value or ""):
            properties[name] = value
            differs = True
    if not moved:
        return False
    row.property_times = {name: when.isoformat() for name, when in times.items()}
    if differs:
        row.properties = properties
        row.email = properties.get("email") or None
        row.is_customer = (properties.get("lifecyclestage") or "") in CUSTOMER_STAGES
        row.updated_at = at
    return differs


def follow_survivor(
    session: Session,
    connection_id: int,
    survivor_id: int,
    merged_crm_ids: Sequence[str],
    now: datetime,
) -> None:
    """Merged-away contacts (a merge's losers, a converted Lead) hand their activities and their
    status history to the survivor and are never written again."""
    merged = list(
        session.scalars(
            select(Contact.id).where(
                Contact.connection_id == connection_id,
                Contact.crm_id.in_(merged_crm_ids),
                Contact.id != survivor_id,
            )
        )
    )
    if not merged:
        return
    # Activities both contacts had would collide on (connection, crm_id): keep the survivor's.
    survivor_keys = select(Activity.crm_id).where(Activity.contact_id == survivor_id)
    session.execute(
        delete(Activity).where(Activity.contact_id.in_(merged), Activity.crm_id.in_(survivor_keys))
    )
    session.execute(
        update(Activity).where(Activity.contact_id.in_(merged)).values(contact_id=survivor_id)
    )
    # Their transitions become the survivor's: its history then starts with the Lead's.
    session.execute(
        update(Transition).where(Transition.contact_id.in_(merged)).values(contact_id=survivor_id)
    )
    session.execute(
        update(Contact)
        .where(Contact.id.in_(merged))
        .values(merged_into_id=survivor_id, deleted_at=now, updated_at=now)
    )
    session.execute(delete(QualificationRecord).where(QualificationRecord.contact_id.in_(merged)))
    _drop_pending_writes(session, merged)


def _drop_pending_writes(session: Session, contact_ids: Sequence[int]) -> None:
    session.execute(
        delete(OutboxEntry).where(
            OutboxEntry.contact_id.in_(contact_ids), OutboxEntry.state == OutboxState.PENDING
        )
    )


def mark_deleted(session: Session, connection_id: int, crm_ids: set[str], at: datetime) -> int:
    """Contacts the CRM no longer has: marked deleted, their pending writes dropped, decay
    no longer scheduled. Returns how many were live here."""
    if not crm_ids:
        return 0
    ids: list[int] = []
    wanted = sorted(crm_ids)
    for start in range(0, len(wanted), _CHUNK):
        ids += session.scalars(
            select(Contact.id).where(
                Contact.connection_id == connection_id,
                Contact.crm_id.in_(wanted[start : start + _CHUNK]),
                Contact.deleted_at.is_(None),
            )
        )
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        session.execute(update(Contact).where(Contact.id.in_(chunk)).values(deleted_at=at))
        _drop_pending_writes(session, chunk)
        session.execute(
            update(QualificationRecord)
            .where(QualificationRecord.contact_id.in_(chunk))
            .values(next_change_at=None)
        )
    return len(ids)


def reconcile(session: Session, connection_id: int, live: frozenset[str], at: datetime) -> int:
    """After the CRM forgot deletions (Salesforce's recycle bin emptied): every stored live
    contact absent from the CRM's full list of ids is marked deleted. Returns how many."""
    stored = set(
        session.scalars(
            select(Contact.crm_id).where(
                Contact.connection_id == connection_id, Contact.deleted_at.is_(None)
            )
        )
    )
    return mark_deleted(session, connection_id, stored - live, at)


_CHUNK = 500  # ids per IN (): well under every database's parameter limit


def store_activities(
    session: Session,
    connection_id: int,
    contact_ids: Mapping[str, int],
    activities: Sequence[CrmActivity],
) -> set[int]:
    """Insert activities not seen before, and update those whose properties moved since (a
    ticket or Case closed, a survey answer changed: the CRM keeps one record that changes);
    return the local ids of contacts that gained or changed any."""
    rows = [
        {
            "connection_id": connection_id,
            "contact_id": contact_ids[a.contact_crm_id],
            "crm_id": a.crm_id,
            "type": a.type,
            "occurred_at": a.occurred_at,
            "properties": dict(a.properties),
        }
        for a in activities
        if a.contact_crm_id in contact_ids
    ]
    if not rows:
        return set()
    insert = upsert_insert(session, Activity)
    statement = insert.on_conflict_do_update(
        index_elements=["connection_id", "crm_id"],
        set_={"properties": insert.excluded.properties},
        where=Activity.properties.is_distinct_from(insert.excluded.properties),
    ).returning(Activity.contact_id)
    return {contact_id for (contact_id,) in session.execute(statement, rows).all()}
