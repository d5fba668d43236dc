"""The effectiveness report of a connection, from what is stored: the I/O beside
qualification/effectiveness.py (which computes it).

Point in time: only status changes, outcomes and activities dated by `until` are read, so a
report as of a past instant is the one that instant would have produced (outcomes are dated by
the CRM, when they happened, not when Glengarry read them).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.connections import find
from app.errors import GlengarryError
from app.models import Activity, Contact, OutcomeRecord, Transition
from app.sync.outcomes import OUTCOMES, SURVEYS
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
_ROWS = 5_000  # rows fetched at a time: the report streams, never holds ORM objects


class ReportError(GlengarryError):
    exit_code = 2


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


def _live(connection_id: int) -> Any:
    return (Contact.connection_id == connection_id) & Contact.merged_into_id.is_(None)


def _changes(session: Session, connection_id: int, until: datetime) -> list[Change]:
    query = (
        select(
            Transition.contact_id,
            Transition.from_status,
            Transition.to_status,
            Transition.at,
            Transition.score,
            Transition.conversion_probability,
        )
        .join(Contact, Contact.id == Transition.contact_id)
        .where(_live(connection_id), Transition.at <= until)
        .order_by(Transition.contact_id, Transition.at, Transition.id)
        .execution_options(yield_per=_ROWS)
    )
    return [Change(*row) for row in session.execute(query)]


def _outcomes(session: Session, connection_id: int, until: datetime) -> list[Happened]:
    query = (
        select(
            OutcomeRecord.contact_id,
            OutcomeRecord.kind,
            OutcomeRecord.occurred_at,
            OutcomeRecord.amount,
            OutcomeRecord.currency,
            OutcomeRecord.deal_key,
        )
        .where(OutcomeRecord.connection_id == connection_id, OutcomeRecord.occurred_at <= until)
        .execution_options(yield_per=_ROWS)
    )
    return [Happened(*row) for row in session.execute(query)]


def _touches(session: Session, connection_id: int, until: datetime) -> list[Touch]:
    """Rep activities of the contacts that were ever sales_ready (the only ones read)."""
    ready = select(Transition.contact_id).where(
        or_(Transition.to_status == SALES_READY, Transition.from_status == SALES_READY)
    )
    query = (
        select(Activity.contact_id, Activity.occurred_at)
        .where(
            Activity.connection_id == connection_id,
            Activity.type.in_(REP_ACTIVITIES),
            Activity.occurred_at <= until,
            Activity.contact_id.in_(ready),
        )
        .execution_options(yield_per=_ROWS)
    )
    return [Touch(*row) for row in session.execute(query)]


def _surveys(session: Session, connection_id: int, until: datetime) -> list[Survey]:
    """Survey answers of the contacts that were sold something (the only ones read)."""
    sold = select(OutcomeRecord.contact_id).where(
        OutcomeRecord.connection_id == connection_id, OutcomeRecord.kind.in_(SALES)
    )
    query = (
        select(Activity.contact_id, Activity.occurred_at, Activity.properties)
        .where(
            Activity.connection_id == connection_id,
            Activity.type == SURVEY_ACTIVITY,
            Activity.occurred_at <= until,
            Activity.contact_id.in_(sold),
        )
        .execution_options(yield_per=_ROWS)
    )
    found = []
    for contact, at, properties in session.execute(query):
        kind = str(properties.get("survey") or "")
        # An NPS answer carries `score` (0-10), a CSAT/CES one `rating` (connectors' mapping).
        value = _number(properties.get("score" if kind == "nps" else "rating"))
        found.append(Survey(contact, at, kind, value))
    return found


def _number(value: object) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
