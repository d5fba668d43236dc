from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Activity, Contact, OutboxEntry, Transition
from app.sync.store import reconcile, store_activities, store_contacts
from connectors.base import CrmActivity, CrmContact
from tests.sync.helpers import NOW, add_connection


def crm(i: int, **props: str) -> CrmContact:
    return CrmContact(str(i), {"email": f"p{i}@acme.test", **props}, NOW)


def test_contacts_are_upserted_by_crm_id_and_rereading_changes_nothing(session: Session) -> None:
    conn = add_connection(session)
    first = store_contacts(session, conn, [crm(1), crm(2, lifecyclestage="customer")], NOW)
    again = store_contacts(session, conn, [crm(1, jobtitle="CEO"), crm(2)], NOW)
    assert first == again
    rows = {c.crm_id: c for c in session.scalars(select(Contact))}
    assert len(rows) == 2
    assert rows["1"].properties["jobtitle"] == "CEO"
    assert rows["2"].is_customer is False  # the second read no longer says customer


def test_activities_are_stored_once_and_report_which_contacts_gained_any(session: Session) -> None:
    conn = add_connection(session)
    ids = store_contacts(session, conn, [crm(1), crm(2)], NOW)
    act = CrmActivity("meetings:9", "1", "meeting", NOW - timedelta(days=1))
    assert store_activities(session, conn, ids, [act]) == {ids["1"]}
    assert store_activities(session, conn, ids, [act]) == set()
    assert session.scalar(select(func.count()).select_from(Activity)) == 1


def test_a_merge_moves_activities_to_the_survivor_and_retires_the_merged(session: Session) -> None:
    conn = add_connection(session)
    ids = store_contacts(session, conn, [crm(1), crm(2)], NOW)
    store_activities(
        session,
        conn,
        ids,
        [
            CrmActivity("calls:1", "2", "call", NOW),
            CrmActivity("calls:2", "1", "call", NOW),
        ],
    )
    survivor = CrmContact("1", {"email": "p1@acme.test"}, NOW, merged_crm_ids=("2",))
    store_contacts(session, conn, [survivor], NOW)
    merged = session.scalars(select(Contact).where(Contact.crm_id == "2")).one()
    assert merged.merged_into_id == ids["1"]
    assert merged.deleted_at == NOW
    owners = set(session.scalars(select(Activity.contact_id)))
    assert owners == {ids["1"]}


def test_an_archived_contact_is_marked_deleted(session: Session) -> None:
    conn = add_connection(session)
    store_contacts(session, conn, [CrmContact("5", {}, NOW, archived=True)], NOW)
    assert session.scalars(select(Contact.deleted_at)).one() == NOW


def test_a_merge_hands_the_status_history_over_and_drops_the_merged_one_s_pending_writes(
    session: Session,
) -> None:
    conn = add_connection(session)
    ids = store_contacts(session, conn, [crm(1), crm(2)], NOW)
    session.add(
        Transition(
            contact_id=ids["2"], from_status=None, to_status="nurture", at=NOW, reason="r",
            criteria_version="v",
        )
    )  # fmt: skip
    session.add(
        OutboxEntry(
            connection_id=conn, contact_id=ids["2"], field_values={"glengarry_score": "5"},
            next_attempt_at=NOW,
        )
    )  # fmt: skip
    session.flush()
    store_contacts(session, conn, [CrmContact("1", {}, NOW, merged_crm_ids=("2",))], NOW)
    assert list(session.scalars(select(Transition.contact_id))) == [ids["1"]]
    assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0


def test_a_reconcile_marks_deleted_what_the_crm_no_longer_lists(session: Session) -> None:
    conn = add_connection(session)
    store_contacts(session, conn, [crm(1), crm(2), crm(3)], NOW)
    assert reconcile(session, conn, frozenset({"1", "3", "9"}), NOW) == 1
    deleted = {c.crm_id: c.deleted_at for c in session.scalars(select(Contact))}
    assert deleted == {"1": None, "2": NOW, "3": None}
    assert reconcile(session, conn, frozenset({"1", "3"}), NOW) == 0  # already deleted
