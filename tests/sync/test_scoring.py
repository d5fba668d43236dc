"""Scoring stored contacts: records, transitions and the outbox move together."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import OutboxEntry, QualificationRecord, Transition
from app.sync.scoring import rescore_due, score_contacts
from app.sync.store import store_activities, store_contacts
from connectors.base import CrmActivity, CrmContact
from qualification.criteria import default_criteria
from tests.sync.helpers import NOW, add_connection

VP = {
    "email": "dana@bigsoftware.com",
    "jobtitle": "VP Sales",
    "industry": "COMPUTER_SOFTWARE",
    "numemployees": "100-500",
    "country": "United States",
}


def _hot_lead(session: Session) -> tuple[int, int]:
    conn = add_connection(session)
    ids = store_contacts(session, conn, [CrmContact("1", VP, NOW)], NOW)
    store_activities(
        session,
        conn,
        ids,
        [
            CrmActivity(f"pv{i}", "1", "page_view", NOW - timedelta(hours=i), {"url": "/pricing"})
            for i in range(1, 6)
        ]
        + [
            CrmActivity("m1", "1", "meeting", NOW - timedelta(days=1)),
            CrmActivity(
                "f1", "1", "form_submission", NOW - timedelta(days=2), {"form": "demo-request"}
            ),
        ],
    )
    return conn, ids["1"]


def test_scoring_records_the_qualification_its_transition_and_a_write(session: Session) -> None:
    conn, contact = _hot_lead(session)
    counts = score_contacts(session, conn, [contact], default_criteria(), NOW)
    record = session.get(QualificationRecord, contact)
    assert record is not None
    assert record.status == "sales_ready"
    assert counts.status_changes == 1
    (change,) = session.scalars(select(Transition)).all()
    assert (change.from_status, change.to_status) == (None, "sales_ready")
    (entry,) = session.scalars(select(OutboxEntry)).all()
    assert entry.field_values["glengarry_status"] == "sales_ready"
    assert entry.field_values["glengarry_score"] == str(record.score)


def test_an_unchanged_rescore_once_written_queues_nothing(session: Session) -> None:
    conn, contact = _hot_lead(session)
    criteria = default_criteria()
    score_contacts(session, conn, [contact], criteria, NOW)
    entry = session.scalars(select(OutboxEntry)).one()
    record = session.get(QualificationRecord, contact)
    assert record is not None
    record.written_values, record.written_at = entry.field_values, NOW
    session.delete(entry)
    session.flush()
    counts = score_contacts(session, conn, [contact], criteria, NOW + timedelta(minutes=1))
    assert counts.to_write == 0
    assert session.scalars(select(OutboxEntry)).all() == []


def test_decay_alone_moves_a_quiet_lead_to_nurture_by_its_next_change(session: Session) -> None:
    conn, contact = _hot_lead(session)
    criteria = default_criteria()
    score_contacts(session, conn, [contact], criteria, NOW)
    record = session.get(QualificationRecord, contact)
    assert record is not None
    assert record.next_change_at is not None
    at = NOW + timedelta(days=120)
    rescore_due(session, conn, [contact], criteria, at)
    session.refresh(record)
    assert record.status == "nurture"
    statuses = [t.to_status for t in session.scalars(select(Transition).order_by(Transition.at))]
    assert statuses == ["sales_ready", "nurture"]
