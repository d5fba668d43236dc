"""The outbox relay's bookkeeping, with a scripted connector standing in for the CRM's answers.
(The relay against the HubSpot sandbox is covered by the pipeline tests.)"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Result, delete, event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from structlog.testing import capture_logs

from app.models import Connection, FieldInstallState, OutboxEntry, OutboxState, QualificationRecord
from app.sync.store import store_contacts
from app.sync.writeback import RelayPolicy, claim_rows, relay_outbox
from connectors.base import CrmContact, FieldWrite, WriteFailure, WriteOutcome
from connectors.errors import (
    BudgetExhausted,
    CrmUnavailable,
    TokenEndpointUnavailable,
)
from tests.conftest import BACKEND
from tests.sync.helpers import NOW, add_connection


class ScriptedCrm:
    """Answers write_fields from a script: refuse some ids, or be down."""

    def __init__(
        self,
        refuse: dict[str, WriteFailure] | None = None,
        down: bool = False,
        failure: Exception | None = None,
    ) -> None:
        self.refuse = refuse or {}
        self.failure = failure or (CrmUnavailable("HubSpot 503 after 6 attempts") if down else None)
        self.batches: list[list[str]] = []

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        self.batches.append([w.contact_crm_id for w in writes])
        if self.failure is not None:
            raise self.failure
        written = [w.contact_crm_id for w in writes if w.contact_crm_id not in self.refuse]
        return WriteOutcome(written, dict(self.refuse))


def _setup(sessions: sessionmaker[Session], n: int) -> int:
    with sessions.begin() as session:
        conn = add_connection(session)
        ids = store_contacts(
            session, conn, [CrmContact(str(i), {}, NOW) for i in range(1, n + 1)], NOW
        )
        for crm_id, local in ids.items():
            session.add(
                QualificationRecord(
                    contact_id=local,
                    status="nurture",
                    status_since=NOW,
                    score=10,
                    fit=10,
                    engagement=10,
                    engagement_state={},
                    profile={},
                    reasons=[],
                    reasons_text="",
                    criteria_version="v",
                    computed_at=NOW,
                )
            )
            session.add(
                OutboxEntry(
                    connection_id=conn,
                    contact_id=local,
                    field_values={"glengarry_score": crm_id},
                    next_attempt_at=NOW,
                )
            )
    return conn


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


async def test_rows_go_in_batches_and_sent_values_are_recorded(
    sessions: sessionmaker[Session],
) -> None:
    conn = _setup(sessions, 250)
    crm = ScriptedCrm(refuse={"7": WriteFailure("INVALID_EMAIL", permanent=True)})
    with capture_logs() as logs:
        result = await relay_outbox(sessions, crm, conn, Clock())
    assert [len(b) for b in crm.batches] == [100, 100, 50]
    assert (result.sent, result.failed) == (249, 1)
    # One info line per batch of writes, never one per write.
    assert [
        (e["log_level"], e["sent"], e["failed"]) for e in logs if e["event"] == "writes sent"
    ] == [("info", 99, 1), ("info", 100, 0), ("info", 50, 0)]
    with sessions() as session:
        states = {e.state for e in session.scalars(select(OutboxEntry))}
        assert states == {OutboxState.SENT, OutboxState.FAILED}
        written = session.scalars(select(QualificationRecord.written_values)).all()
        assert sum(w is not None and "glengarry_score" in w for w in written) == 249


async def test_refused_rows_are_retried_with_backoff_then_kept_as_failed_with_the_reason(
    sessions: sessionmaker[Session],
) -> None:
    conn = _setup(sessions, 3)
    crm = ScriptedCrm(refuse={"2": WriteFailure("Property values were not valid")})
    clock = Clock()
    policy = RelayPolicy(max_attempts=3, backoff=timedelta(seconds=10))
    first = await relay_outbox(sessions, crm, conn, clock, policy)
    assert (first.sent, first.retrying) == (2, 1)
    # Not due yet: nothing is sent again before the backoff has passed.
    clock.at = NOW + timedelta(seconds=5)
    assert (await relay_outbox(sessions, crm, conn, clock, policy)).batches == 0
    for step in (11, 40):
        clock.at = NOW + timedelta(seconds=step)
        await relay_outbox(sessions, crm, conn, clock, policy)
    with sessions() as session:
        entry = session.scalars(
            select(OutboxEntry).where(OutboxEntry.state == OutboxState.FAILED)
        ).one()
        assert entry.attempts == 3
        assert entry.last_error == "Property values were not valid"


async def test_a_permanent_refusal_is_kept_as_failed_at_once_with_the_crm_code(
    sessions: sessionmaker[Session],
) -> None:
    conn = _setup(sessions, 3)
    refusal = WriteFailure("converted lead", "CANNOT_UPDATE_CONVERTED_LEAD", permanent=True)
    crm = ScriptedCrm(refuse={"2": refusal})
    result = await relay_outbox(sessions, crm, conn, Clock(), RelayPolicy(max_attempts=8))
    assert (result.sent, result.failed, result.retrying) == (2, 1, 0)
    with sessions() as session:
        entry = session.scalars(
            select(OutboxEntry).where(OutboxEntry.state == OutboxState.FAILED)
        ).one()
        assert entry.attempts == 1
        assert entry.last_error == "CANNOT_UPDATE_CONVERTED_LEAD: converted lead"


async def test_an_outage_is_recorded_on_every_row_and_nothing_is_dropped(
    sessions: sessionmaker[Session],
) -> None:
    conn = _setup(sessions, 5)
    result = await relay_outbox(sessions, ScriptedCrm(down=True), conn, Clock())
    assert result.retrying == 5
    with sessions() as session:
        entries = session.scalars(select(OutboxEntry)).all()
        assert len(entries) == 5
        assert all(e.state == OutboxState.PENDING for e in entries)
        assert all("503" in (e.last_error or "") for e in entries)


async def test_a_spent_allocation_makes_every_waiting_row_of_the_connection_wait_uncharged(
    sessions: sessionmaker[Session],
) -> None:
    """The allocation is the connection's: one refused batch, and its other waiting rows wait
    with it (for the connector's `resumes_at`, at most `spent_wait`), so that no other batch
    spends a call on a refusal; rows under another relay's claim or waiting longer are left."""
    conn = _setup(sessions, 6)
    elsewhere, later = NOW + timedelta(seconds=30), NOW + timedelta(hours=2)
    with sessions.begin() as session:
        entries = session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)).all()
        entries[4].claim_token, entries[4].next_attempt_at = "another-relay", elsewhere
        entries[5].next_attempt_at = later  # backing off after a refusal
    spent = BudgetExhausted("day limit reached", resumes_at=NOW + timedelta(hours=9))
    crm = ScriptedCrm(failure=spent)
    policy = RelayPolicy(batch_size=2, spent_wait=timedelta(minutes=1))
    result = await relay_outbox(sessions, crm, conn, Clock(), policy)
    assert len(crm.batches) == 1
    assert (result.spent, result.waits_until) == (spent, NOW + timedelta(minutes=1))
    with sessions() as session:
        rows = session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)).all()
    assert [(r.claim_token, r.next_attempt_at) for r in rows] == [
        *[(None, NOW + timedelta(minutes=1))] * 4,
        ("another-relay", elsewhere),
        (None, later),
    ]
    assert {(r.attempts, r.state, r.last_error) for r in rows} == {(0, OutboxState.PENDING, None)}
    clock = Clock()
    clock.at = NOW + timedelta(seconds=20)
    assert (await relay_outbox(sessions, crm, conn, clock, policy)).batches == 0
    assert len(crm.batches) == 1


async def test_a_token_endpoint_giving_no_login_charges_no_row_however_long_it_lasts(
    sessions: sessionmaker[Session],
) -> None:
    """No login, so nothing was sent: the rows are given back due, charged no attempt (an
    outage outlasting their backoffs would otherwise fail every write for good), and the
    caller hears why."""
    conn = _setup(sessions, 3)
    down = TokenEndpointUnavailable("Salesforce's token endpoint answered HTTP 503 on all 6")
    clock = Clock()
    policy = RelayPolicy(max_attempts=2, backoff=timedelta(seconds=1))
    for minute in range(policy.max_attempts + 2):
        clock.at = NOW + timedelta(minutes=minute)
        with pytest.raises(TokenEndpointUnavailable):
            await relay_outbox(sessions, ScriptedCrm(failure=down), conn, clock, policy)
        with sessions() as session:
            entries = session.scalars(select(OutboxEntry)).all()
        assert {(e.state, e.attempts, e.last_error) for e in entries} == {
            (OutboxState.PENDING, 0, None)
        }
        assert all(e.claim_token is None and e.next_attempt_at == clock.at for e in entries)
    result = await relay_outbox(sessions, ScriptedCrm(), conn, clock, policy)  # back
    assert (result.sent, result.failed) == (3, 0)


async def test_nothing_is_sent_while_the_fields_are_in_conflict_and_rows_wait(
    sessions: sessionmaker[Session],
) -> None:
    conn = _setup(sessions, 5)
    with sessions.begin() as session:
        connection = session.get(Connection, conn)
        assert connection is not None
        connection.field_state = FieldInstallState.CONFLICT
        connection.field_report = {
            "glengarry_score": {"state": "conflict", "detail": "exists as a string property"}
        }
    crm = ScriptedCrm()
    result = await relay_outbox(sessions, crm, conn, Clock())
    assert crm.batches == []
    assert result.sent == 0
    assert "glengarry_score exists as a string property" in result.blocked
    assert result.refused == result.blocked
    with sessions() as session:
        entries = session.scalars(select(OutboxEntry)).all()
        assert [(e.state, e.attempts) for e in entries] == [(OutboxState.PENDING, 0)] * 5
    # Once a reinstall finds the fields fixed, the same rows go.
    with sessions.begin() as session:
        connection = session.get(Connection, conn)
        assert connection is not None
        connection.field_state = FieldInstallState.INSTALLED
    assert (await relay_outbox(sessions, crm, conn, Clock())).sent == 5


async def test_rows_superseded_while_their_refusal_is_settled_are_left_to_the_newer_values(
    sessions: sessionmaker[Session],
) -> None:
    """A rescore elsewhere replaces a contact's pending row while the relay settles its
    refusal: the row is gone, and settling neither fails (it did on PostgreSQL, where the
    rescore commits between the relay's read of the refused rows and its update of them: the
    ORM's update expected every row it had read) nor brings it back. SQLite serialises writers
    (BEGIN IMMEDIATE): there the rescore waits for the relay's transaction, in a thread of its
    own, and finds the row settled."""
    conn = _setup(sessions, 3)
    armed: list[bool] = []
    seen: list[int] = []  # the superseded row's attempts, as the rescore found them

    class Refusing(ScriptedCrm):
        async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
            armed.append(True)  # the next read of the outbox is the relay's, settling
            return await super().write_fields(writes)

    def supersede() -> None:
        with sessions.begin() as other:  # another worker's transaction, committed
            attempts = select(OutboxEntry.attempts).where(OutboxEntry.id == 2)
            seen.append(other.scalars(attempts).one())
            other.execute(delete(OutboxEntry).where(OutboxEntry.id == 2))

    rescore = threading.Thread(target=supersede, name="rescore")

    def supersede_after_the_read(state: ORMExecuteState) -> Result[Any] | None:
        if not (armed and state.is_select):
            return None
        armed.clear()
        result = state.invoke_statement()
        if BACKEND == "postgresql":
            supersede()  # commits at once: the relay's update comes after it
        else:
            rescore.start()  # waits for the relay's write lock
        return result

    event.listen(sessions, "do_orm_execute", supersede_after_the_read)
    try:
        refusal = WriteFailure("UNABLE_TO_LOCK_ROW", "UNABLE_TO_LOCK_ROW")
        result = await relay_outbox(
            sessions, Refusing(refuse={"2": refusal, "3": refusal}), conn, Clock()
        )
        if rescore.ident is not None:  # started (SQLite): it lands once the relay commits
            rescore.join(timeout=30)
    finally:
        event.remove(sessions, "do_orm_execute", supersede_after_the_read)
    assert seen == [0 if BACKEND == "postgresql" else 1]  # mid-settle, or once settled
    assert result.sent == 1
    with sessions() as session:
        left = {e.id: (e.state, e.attempts) for e in session.scalars(select(OutboxEntry))}
    assert left == {1: (OutboxState.SENT, 0), 3: (OutboxState.PENDING, 1)}


def test_a_contacts_newer_values_wait_while_its_earlier_row_is_in_flight(
    sessions: sessionmaker[Session],
) -> None:
    """Two writes of one contact never go at once (they could land in either order, the older
    last): newer values are claimed once the row in flight has settled, and of a contact's
    due rows only the newest is written."""
    conn = _setup(sessions, 2)
    policy = RelayPolicy()
    with sessions.begin() as session:
        _, first = claim_rows(session, conn, NOW, policy)  # contacts 1 and 2, in flight
        assert [row.crm_id for row in first] == ["1", "2"]
        # A rescore's newer values for contact 1 while its write is in flight: the claimed
        # row is not superseded, the new one waits.
        contact = first[0].contact_id
        session.add(
            OutboxEntry(
                connection_id=conn,
                contact_id=contact,
                field_values={"glengarry_score": "newer"},
                next_attempt_at=NOW,
            )
        )
    later = NOW + timedelta(seconds=1)
    with sessions.begin() as session:
        assert claim_rows(session, conn, later, policy)[1] == []
    # The claim lapses (its worker died): the lapsed row and the newer one are both due; only
    # the newer values are written, the older row is dropped.
    lapsed = NOW + policy.claim_for + timedelta(seconds=1)
    with sessions.begin() as session:
        _, again = claim_rows(session, conn, lapsed, policy)
    assert sorted((row.crm_id, row.values["glengarry_score"]) for row in again) == [
        ("1", "newer"),
        ("2", "2"),
    ]
    with sessions() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.contact_id == contact))
        assert [r.field_values for r in rows] == [{"glengarry_score": "newer"}]
