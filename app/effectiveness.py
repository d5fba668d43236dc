"""The effectiveness report of a connection, from what is stored: the I/O beside
qualification/effectiveness.py (which computes it).

Point in time: only status changes, outcomes and activities dated by `until` are read, so a
report as of a past instant is the one that instant would have produced (outcomes are dated by
the CRM, when they happened, not when Glengarry read them).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, or_, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import GlengarryError
from app.models import Activity, Connection, Contact, OutcomeRecord, Transition
from connectors.base import OUTCOMES, SURVEYS
from qualification.effectiveness import (
    SALES,
    Change,
    Happened,
    ReportInput,
    Survey,
    Touch,
    effectiveness_report,
)
from qualification.evaluation import SALES_READY

# A rep reaching a contact (connectors' activity vocabulary): not the contact's own doing.
REP_ACTIVITIES = ("task", "call", "meeting", "email_sent")
SURVEY_ACTIVITY = "survey_response"
# The object types whose absence leaves the report without survey answers or outcomes.
SURVEY_SOURCES = ("feedback_submissions", SURVEYS)
OUTCOME_SOURCES = (OUTCOMES,)
_DURATION = re.compile(r"^\s*(\d+)\s*([dw])\s*$")
# Rows fetched at a time, through Core (no ORM row processing): the report streams.
_ROWS = 5_000


class ReportError(GlengarryError):
    exit_code = 2


def find(session: Session, ref: str) -> Connection:
    """A connection by name or id, or an error listing the names there are. (Not
    `app.connections.find`: importing the CRM registry would double the report's memory, and
    the report needs no connector.)"""
    query = select(Connection).where(Connection.name == ref)
    if ref.isdigit() and len(ref) < 12:
        query = select(Connection).where((Connection.name == ref) | (Connection.id == int(ref)))
    connection = session.scalars(query).first()
    if connection is None:
        known = ", ".join(session.scalars(select(Connection.name).order_by(Connection.name)))
        raise ReportError(f"no connection named {ref!r} (known: {known or 'none'})")
    return connection


def _instants(
    session: Session, column: InstrumentedAttribute[datetime]
) -> tuple[ColumnElement[Any] | InstrumentedAttribute[datetime], Callable[[Any], datetime]]:
    """The column as selected, and how a value of it becomes an aware UTC datetime. SQLite
    keeps text: parsed by `datetime.fromisoformat` it is read several times faster than through
    the column type, which matters at hundreds of thousands of rows."""
    if session.get_bind().dialect.name == "sqlite":
        return type_coerce(column, String()), _from_text
    return column, _aware


def _from_text(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _aware(value: Any) -> datetime:
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_horizon(text: str) -> timedelta:
    """'90d' or '12w' (days or weeks), at least a day."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ReportError(f"--horizon {text!r}: give a number of days or weeks, like 90d or 12w")
    count = int(match.group(1))
    return timedelta(days=count * (7 if match.group(2) == "w" else 1))


def report(
    session: Session,
    connection_ref: str,
    *,
    until: datetime,
    horizon: timedelta,
    since: datetime | None = None,
) -> dict[str, Any]:
    """The report of `connection_ref` for (since, until]; `since` defaults to `until - horizon`
    so that the cohort at `since` has the whole horizon to convert."""
    connection = find(session, connection_ref)
    start = since if since is not None else until - horizon
    if start >= until:
        raise ReportError(
            f"--since {start.date().isoformat()} is not before {until.date().isoformat()}"
        )
    unavailable: dict[str, Any] = dict(connection.unavailable or {})
    surveys_missing = next((str(unavailable[k]) for k in SURVEY_SOURCES if k in unavailable), "")
    outcomes_missing = next(
        (str(unavailable[k]) for k in OUTCOME_SOURCES if k in unavailable), ""
    ) or (f"deals: {unavailable['deals']}" if "deals" in unavailable else "")
    data = ReportInput(
        since=start,
        until=until,
        horizon=horizon,
        changes=_changes(session, connection.id, until),
        outcomes=_outcomes(session, connection.id, until),
        touches=_touches(session, connection.id, until),
        surveys=None if surveys_missing else _surveys(session, connection.id, until),
        surveys_missing=surveys_missing,
        outcomes_missing=outcomes_missing,
    )
    body = effectiveness_report(data)
    body["connection"] = connection.name
    return body


def _rows(session: Session, query: Select[Any]) -> Iterator[Any]:
    """The query's rows, fetched `_ROWS` at a time through Core (no ORM row processing)."""
    result = session.connection().execute(query.execution_options(yield_per=_ROWS))
    for partition in result.partitions():
        yield from partition


def _live(connection_id: int) -> Any:
    return (Contact.connection_id == connection_id) & Contact.merged_into_id.is_(None)


def _changes(session: Session, connection_id: int, until: datetime) -> list[Change]:
    at, instant = _instants(session, Transition.at)
    query = (
        select(
            Transition.contact_id,
            Transition.from_status,
            Transition.to_status,
            at,
            Transition.score,
            Transition.conversion_probability,
        )
        .join(Contact, Contact.id == Transition.contact_id)
        .where(_live(connection_id), Transition.at <= until)
        .order_by(Transition.contact_id, Transition.at, Transition.id)
    )
    # Statuses interned: a handful of strings, not two new ones per row.
    status = sys.intern
    return [
        Change(contact, status(old) if old else None, status(new), instant(when), score, p)
        for contact, old, new, when, score, p in _rows(session, query)
    ]


def _outcomes(session: Session, connection_id: int, until: datetime) -> list[Happened]:
    at, instant = _instants(session, OutcomeRecord.occurred_at)
    query = select(
        OutcomeRecord.contact_id,
        OutcomeRecord.kind,
        at,
        OutcomeRecord.amount,
        OutcomeRecord.currency,
        OutcomeRecord.deal_key,
    ).where(OutcomeRecord.connection_id == connection_id, OutcomeRecord.occurred_at <= until)
    return [
        Happened(contact, sys.intern(kind), instant(when), amount, currency, deal)
        for contact, kind, when, amount, currency, deal in _rows(session, query)
    ]


def _touches(session: Session, connection_id: int, until: datetime) -> list[Touch]:
    """Rep activities of the contacts that were ever sales_ready (the only ones read)."""
    ready = (
        select(Transition.contact_id)
        .join(Contact, Contact.id == Transition.contact_id)
        .where(
            Contact.connection_id == connection_id,
            or_(Transition.to_status == SALES_READY, Transition.from_status == SALES_READY),
        )
    )
    at, instant = _instants(session, Activity.occurred_at)
    query = select(Activity.contact_id, at).where(
        Activity.connection_id == connection_id,
        Activity.type.in_(REP_ACTIVITIES),
        Activity.occurred_at <= until,
        Activity.contact_id.in_(ready),
    )
    return [Touch(contact, instant(when)) for contact, when in _rows(session, query)]


def _surveys(session: Session, connection_id: int, until: datetime) -> list[Survey]:
    """Survey answers of the contacts that were sold something (the only ones read)."""
    sold = select(OutcomeRecord.contact_id).where(
        OutcomeRecord.connection_id == connection_id, OutcomeRecord.kind.in_(SALES)
    )
    at, instant = _instants(session, Activity.occurred_at)
    query = select(Activity.contact_id, at, Activity.properties).where(
        Activity.connection_id == connection_id,
        Activity.type == SURVEY_ACTIVITY,
        Activity.occurred_at <= until,
        Activity.contact_id.in_(sold),
    )
    found = []
    for contact, when, properties in _rows(session, query):
        kind = str(properties.get("survey") or "")
        # An NPS answer carries `score` (0-10), a CSAT/CES one `rating` (connectors' mapping).
        value = _number(properties.get("score" if kind == "nps" else "rating"))
        found.append(Survey(contact, instant(when), kind, value))
    return found


def _number(value: object) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
