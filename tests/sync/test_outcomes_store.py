from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Connection, OutcomeRecord
from app.sync.outcomes import record_unavailable, store_outcomes
from app.sync.store import store_contacts
from connectors.base import CrmContact, CrmOutcome, OutcomeKind
from tests.sync.helpers import NOW, add_connection

WON, LOST, CUSTOMER = OutcomeKind.DEAL_WON, OutcomeKind.DEAL_LOST, OutcomeKind.BECAME_CUSTOMER


def _rows(session: Session) -> list[tuple[int, str, str, float | None, str | None]]:
    return sorted(
        tuple(row)
        for row in session.execute(
            select(
                OutcomeRecord.contact_id,
                OutcomeRecord.kind,
                OutcomeRecord.deal_key,
                OutcomeRecord.amount,
                OutcomeRecord.currency,
            )
        )
    )


def test_outcomes_are_one_row_each_and_a_deal_that_changed_sides_keeps_one(
    session: Session,
) -> None:
    conn = add_connection(session)
    ids = store_contacts(session, conn, [CrmContact("1", {}, NOW), CrmContact("2", {}, NOW)], NOW)
    read = [
        CrmOutcome("1", CUSTOMER, NOW - timedelta(days=3)),
        CrmOutcome("1", LOST, NOW - timedelta(days=9), 500.0, "eur", "d7"),
        CrmOutcome("9", CUSTOMER, NOW),  # a contact not stored here: left out
    ]
    assert store_outcomes(session, conn, ids, read, NOW) == 2
    assert store_outcomes(session, conn, ids, read, NOW) == 2
    assert _rows(session) == [
        (ids["1"], "became_customer", "", None, None),
        (ids["1"], "deal_lost", "d7", 500.0, "EUR"),
    ]
    # Reopened and won since: the lost row goes, the won one comes with its new amount.
    won = CrmOutcome("1", WON, NOW - timedelta(days=1), 800.0, "EUR", "d7")
    store_outcomes(session, conn, ids, [won], NOW)
    assert _rows(session) == [
        (ids["1"], "became_customer", "", None, None),
        (ids["1"], "deal_won", "d7", 800.0, "EUR"),
    ]


def test_a_batch_of_many_deals_that_changed_sides_is_stored(session: Session) -> None:
    # More than SQLite takes in one expression (a depth of 1,000): deleted in parts.
    conn = add_connection(session)
    people = [CrmContact(str(n), {}, NOW) for n in range(1_200)]
    ids = store_contacts(session, conn, people, NOW)
    lost = [CrmOutcome(p.crm_id, LOST, NOW - timedelta(days=9), None, None, f"d{p.crm_id}")
            for p in people]  # fmt: skip
    assert store_outcomes(session, conn, ids, lost, NOW) == 1_200
    won = [CrmOutcome(p.crm_id, WON, NOW, None, None, f"d{p.crm_id}") for p in people]
    assert store_outcomes(session, conn, ids, won, NOW) == 1_200
    rows = _rows(session)
    assert len(rows) == 1_200
    assert {kind for _, kind, _, _, _ in rows} == {"deal_won"}


def test_a_sync_replaces_what_is_unavailable_and_a_webhook_only_adds(session: Session) -> None:
    conn = add_connection(session)
    record_unavailable(session, conn, {"deals": "scope missing"}, complete=False)
    record_unavailable(session, conn, {"tickets": "not licensed"}, complete=False)
    connection = session.get(Connection, conn)
    assert connection is not None
    assert connection.unavailable == {"deals": "scope missing", "tickets": "not licensed"}
    record_unavailable(session, conn, {}, complete=True)  # the scopes were granted since
    assert connection.unavailable == {}
    record_unavailable(session, conn, None, complete=True)  # a CRM that does not say
    assert connection.unavailable == {}
