"""What live calibration learns from: the stored contacts as they were at T, their activities
before T, and the conversions the outcomes table dates after T.

Point in time: a contact's lifecycle stage at T is rebuilt from its dated outcomes (a customer
by T, an opportunity by T, else none), never read from today's properties; a property whose
value is an instant after T (a stage reached, a last visit, the last modification) and
Glengarry's own written fields are dropped; activities dated after T are not read. A contact
stored again after T is read with the properties kept with its last status change at or before
T (each transition keeps them); only one with no change by T (first synced after T, or changed
before migration 0007) is read with today's, where a field filled in after T could still leak.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.connections import find
from app.models import Activity, Contact, OutcomeRecord, Transition
from qualification import records
from qualification.calibration import Member
from qualification.effectiveness import CONVERSIONS
from qualification.times import parse_instant

STAGE_DATE = "hs_lifecyclestage_{}_date"
_OWN_PREFIX = "glengarry_"  # what Glengarry wrote back: its own past verdicts, never signals
# Bookkeeping that says when a record was last touched, by anyone (Glengarry's write-back
# included): never a fact about the person, and not knowable as of T.
_BOOKKEEPING = frozenset({"lastmodifieddate", "hs_lastmodifieddate"})
REBUILT = "lifecyclestage"  # from the dated outcomes, below
_ROWS = 5_000


def members_at(session: Session, connection_ref: str, at: datetime) -> list[Member]:
    """Every live stored contact of the connection, as calibration reads a file's."""
    connection = find(session, connection_ref)
    reached: dict[int, dict[str, datetime]] = defaultdict(dict)  # contact -> kind -> first
    after: dict[int, datetime] = {}  # contact -> first conversion after T
    for contact_id, kind, occurred in session.execute(
        select(OutcomeRecord.contact_id, OutcomeRecord.kind, OutcomeRecord.occurred_at).where(
            OutcomeRecord.connection_id == connection.id
        )
    ):
        first = reached[contact_id].get(kind)
        if occurred <= at and (first is None or occurred < first):
            reached[contact_id][kind] = occurred
        if (
            kind in CONVERSIONS
            and occurred > at
            and (contact_id not in after or occurred < after[contact_id])
        ):
            after[contact_id] = occurred
    activities: dict[int, list[records.Activity]] = defaultdict(list)
    for contact_id, kind, occurred, properties in session.execute(
        select(Activity.contact_id, Activity.type, Activity.occurred_at, Activity.properties)
        .where(Activity.connection_id == connection.id, Activity.occurred_at <= at)
        .execution_options(yield_per=_ROWS)
    ):
        activities[contact_id].append(
            records.Activity(str(contact_id), kind, occurred, properties or {})
        )
    known = _properties_at(session, connection.id, at)
    members: list[Member] = []
    for contact_id, properties, stored_at in session.execute(
        select(Contact.id, Contact.properties, Contact.updated_at)
        .where(
            Contact.connection_id == connection.id,
            Contact.merged_into_id.is_(None),
            Contact.deleted_at.is_(None),
        )
        .order_by(Contact.id)
        .execution_options(yield_per=_ROWS)
    ):
        # Stored by T: today's values were known then. Stored since: as at the last change.
        then = properties if stored_at <= at else known.get(contact_id, properties)
        contact = records.Contact(
            str(contact_id), as_of(then or {}, reached.get(contact_id, {}), at)
        )
        outcome = records.Outcome(str(contact_id), after.get(contact_id))
        members.append((contact, activities.get(contact_id, []), outcome))
    return members


def _properties_at(session: Session, connection_id: int, at: datetime) -> dict[int, Any]:
    """Each contact's properties as stored with its last status change at or before `at`."""
    known: dict[int, Any] = {}
    for contact_id, properties in session.execute(
        select(Transition.contact_id, Transition.properties)
        .join(Contact, Contact.id == Transition.contact_id)
        .where(
            Contact.connection_id == connection_id,
            Transition.at <= at,
            Transition.properties.is_not(None),
        )
        .order_by(Transition.contact_id, Transition.at, Transition.id)
        .execution_options(yield_per=_ROWS)
    ):
        known[contact_id] = properties  # in time order: the last one stays
    return known


def as_of(
    properties: Mapping[str, Any], reached: Mapping[str, datetime], at: datetime
) -> dict[str, str | None]:
    """The properties a contact had at `at`, as far as storage can tell."""
    kept: dict[str, str | None] = {}
    for name, value in properties.items():
        if name.startswith(_OWN_PREFIX) or name in _BOOKKEEPING or name == REBUILT:
            continue
        stamped = _instant(value)
        if stamped is not None and stamped > at:
            # A date after T (a stage reached, a last visit, the last modification) is
            # today's knowledge: the property is read as unknown then.
            continue
        kept[name] = None if value is None else str(value)
    if "became_customer" in reached or "deal_won" in reached:
        kept[REBUILT] = "customer"
    elif "became_opportunity" in reached:
        kept[REBUILT] = "opportunity"
    return kept


def _instant(value: Any) -> datetime | None:
    """The value as an instant, when it reads as one (ISO 8601 with a time and an offset)."""
    text = str(value or "")
    if len(text) < 20 or not text[:4].isdigit() or text[4] != "-":
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None
