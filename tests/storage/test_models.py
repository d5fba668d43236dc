"""The models store what the product needs, the same way on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Activity, Connection, Contact, InboxEvent, QualificationRecord


def _connection(session: Session, name: str = "acme") -> Connection:
    connection = Connection(kind="hubspot", name=name, account_id=name, credentials=b"x")
    session.add(connection)
    session.flush()
    return connection


def test_datetimes_come_back_timezone_aware_in_utc(session: Session) -> None:
    connection = _connection(session)
    paris = timezone(timedelta(hours=1))
    contact = Contact(
        connection_id=connection.id,
        crm_id="51",
        crm_modified_at=datetime(2026, 5, 30, 13, 0, tzinfo=paris),
        properties={"jobtitle": "VP Sales", "nested": {"a": [1, 2]}},
    )
    session.add(contact)
    session.commit()
    session.expunge_all()

    stored = session.scalars(select(Contact)).one()
    assert stored.crm_modified_at == datetime(2026, 5, 30, 12, 0, tzinfo=UTC)
    assert stored.crm_modified_at is not None
    assert stored.crm_modified_at.utcoffset() == timedelta(0)
    assert stored.properties == {"jobtitle": "VP Sales", "nested": {"a": [1, 2]}}


def test_naive_datetimes_are_refused(session: Session) -> None:
    connection = _connection(session)
    session.add(Contact(connection_id=connection.id, crm_id="1", deleted_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetimes"):
        session.flush()


def test_a_crm_id_is_unique_per_connection_and_kind(session: Session) -> None:
    first, second = _connection(session, "a"), _connection(session, "b")
    session.add_all(
        [
            Contact(connection_id=first.id, crm_id="7"),
            Contact(connection_id=second.id, crm_id="7"),
            Contact(connection_id=first.id, crm_id="7", kind="lead"),
        ]
    )
    session.flush()
    session.add(Contact(connection_id=first.id, crm_id="7"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_contact_purges_its_activities_and_qualification(session: Session) -> None:
    connection = _connection(session)
    contact = Contact(connection_id=connection.id, crm_id="9")
    session.add(contact)
    session.flush()
    now = datetime(2026, 6, 1, tzinfo=UTC)
    session.add_all(
        [
            Activity(
                connection_id=connection.id,
                contact_id=contact.id,
                crm_id="e1",
                type="meeting",
                occurred_at=now,
            ),
            QualificationRecord(
                contact_id=contact.id,
                status="nurture",
                status_since=now,
                score=10,
                fit=5,
                engagement=3,
                engagement_state={},
                profile={},
                reasons=[],
                reasons_text="",
                criteria_version="abc",
                computed_at=now,
            ),
        ]
    )
    session.flush()
    session.delete(contact)
    session.flush()
    session.expire_all()
    assert session.scalars(select(Activity)).all() == []
    assert session.scalars(select(QualificationRecord)).all() == []


def test_the_inbox_keeps_one_row_per_source_and_dedup_key(session: Session) -> None:
    session.add(InboxEvent(source="hubspot", dedup_key="k1", event={"eventId": 1}))
    session.add(InboxEvent(source="salesforce", dedup_key="k1", event={"eventId": 1}))
    session.flush()
    session.add(InboxEvent(source="hubspot", dedup_key="k1", event={"eventId": 1}))
    with pytest.raises(IntegrityError):
        session.flush()
