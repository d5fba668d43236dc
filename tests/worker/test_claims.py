"""Claims on inbox events and outbox rows: short, renewed while the work runs, released on every
failure, taken without waiting for another claimer. On the database of the pass."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from app import connections
from app.clock import ManualClock, SystemClock
from app.db import session_factory
from app.errors import SecretKeyError
from app.inbox import event_document
from app.models import InboxEvent, OutboxEntry, OutboxState
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.store import store_contacts
from app.sync.writeback import RelayPolicy, claim_rows, relay_outbox
from app.vault import Vault
from app.worker import jobs, queue
from connectors.base import (
    ChangeEvent,
    ChangeKind,
    CrmActivity,
    CrmContact,
    FieldWrite,
    WriteOutcome,
)
from connectors.errors import (
    AllocationSpent,
    BudgetExhausted,
    CrmUnavailable,
    DailyLimitReached,
    TokenEndpointUnavailable,
)
from tests.conftest import BACKEND
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker

TTL = timedelta(seconds=30)
ATTEMPTS = 10


def _runtime(engine: Engine, tmp_path: Path, clock: Any = None, **settings: Any) -> Runtime:
    loaded = load_settings(data_dir=tmp_path, **settings)
    rt = Runtime(
        loaded,
        engine,
        session_factory(engine),
        Vault.from_settings(loaded),
        clock or ManualClock(NOW),
    )
    rt.wake = RecordingWaker()
    return rt


def _events(sessions: sessionmaker[Session], n: int, at: datetime = NOW) -> int:
    with sessions.begin() as session:
        cid = add_connection(session)
        for i in range(n):
            event = ChangeEvent(f"key-{i}", "portal", ChangeKind.PROPERTY_CHANGED, str(i), at)
            session.add(
                InboxEvent(
                    source="hubspot",
                    connection_id=cid,
                    dedup_key=event.dedup_key,
                    event=event_document(event),
                    received_at=at + timedelta(milliseconds=i),
                    object_id=event.crm_id,
                )
            )
    return cid


def _claim(sessions: sessionmaker[Session], cid: int, at: datetime, limit: int = 1000) -> set[int]:
    with sessions.begin() as session:
        _, rows = jobs.claim_inbox(session, cid, at, ATTEMPTS, TTL, limit)
    return {row.id for row in rows}


class FakeCrm:
    """A connector whose reads fail, block or answer, as a test needs."""

    def __init__(
        self,
        fail: BaseException | None = None,
        gate: asyncio.Event | None = None,
        refuse_writes: BaseException | None = None,
    ) -> None:
        self.fail = fail
        self.gate = gate
        self.refuse_writes = refuse_writes
        self.reading = asyncio.Event()
        self.write_calls = 0

    async def read_contacts(self, crm_ids: Sequence[str]) -> Sequence[CrmContact]:
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [CrmContact(i, {}, NOW) for i in crm_ids]

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        return []

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        self.write_calls += 1
        if self.refuse_writes is not None:
            raise self.refuse_writes
        return WriteOutcome([w.contact_crm_id for w in writes], {})

    async def aclose(self) -> None:
        return None


def _use(monkeypatch: pytest.MonkeyPatch, crm: FakeCrm) -> None:
    monkeypatch.setattr(connections, "open_connector", lambda *_a, **_k: crm)


def _inbox(sessions: sessionmaker[Session]) -> list[InboxEvent]:
    with sessions() as session:
        return list(session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


# -- a worker that dies -------------------------------------------------------------------------


def test_the_events_of_a_worker_that_died_are_taken_over_when_its_claim_lapses(
    sessions: sessionmaker[Session],
) -> None:
    cid = _events(sessions, 5)
    dead = _claim(sessions, cid, NOW)  # ... and the process is killed: no release, no renewal
    assert len(dead) == 5
    assert _claim(sessions, cid, NOW + TTL - timedelta(seconds=1)) == set()
    # Within the claim's 30 s (it was five minutes), another worker takes every event.
    assert _claim(sessions, cid, NOW + TTL + timedelta(seconds=1)) == dead


def test_the_sweeper_wakes_a_worker_when_a_dead_workers_claim_lapses(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _events(rt.sessions, 3)
    _claim(rt.sessions, cid, NOW)  # the claimer dies at once
    cast(ManualClock, rt.clock).advance(timedelta(seconds=10))
    jobs.sweep(rt)
    waker = cast(RecordingWaker, rt.wake)
    assert waker.inboxes == []  # nothing is due yet
    [(job, connection, delay)] = waker.later
    assert (job, connection) == ("inbox", cid)
    assert 20 <= delay <= 21  # when the claim lapses, not at the next sweep a minute later


def test_the_claim_is_renewed_while_the_work_runs(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow CRM outlasts the claim's TTL: the heartbeat keeps other workers off the events."""
    rt = _runtime(fresh_engine, tmp_path, clock=SystemClock(), claim_ttl_seconds=3)
    cid = _events(rt.sessions, 4, at=rt.clock.now())
    ttl = timedelta(seconds=3)

    async def scenario() -> jobs.InboxResult:
        crm = FakeCrm(gate=asyncio.Event())
        _use(monkeypatch, crm)
        work = asyncio.ensure_future(jobs.process_inbox(rt, cid))
        await asyncio.wait_for(crm.reading.wait(), 10)
        first = _inbox(rt.sessions)[0].claimed_until
        assert first is not None
        deadline = time.monotonic() + 10
        while (_inbox(rt.sessions)[0].claimed_until or first) <= first:  # until it is renewed
            assert time.monotonic() < deadline, "the claim was never renewed"
            await asyncio.sleep(0.05)
        # Past the first claim's expiry, the events are still held by the running work.
        while rt.clock.now() <= first + timedelta(milliseconds=100):
            await asyncio.sleep(0.05)
        with rt.sessions.begin() as session:
            _, rows = jobs.claim_inbox(session, cid, rt.clock.now(), ATTEMPTS, ttl)
        assert rows == []
        assert crm.gate is not None
        crm.gate.set()
        return await asyncio.wait_for(work, 10)

    result = asyncio.run(scenario())
    assert result.events == 4
    assert all(e.processed_at is not None and e.claim_token is None for e in _inbox(rt.sessions))


# -- a task that fails --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        CrmUnavailable("POST /crm/v3/objects/contacts/batch/read still failing"),
    ],
    ids=["redis", "crm"],
)
async def test_a_failing_task_releases_its_claim_at_once(
    fresh_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _events(rt.sessions, 3)
    _use(monkeypatch, FakeCrm(fail=failure))
    if isinstance(failure, CrmUnavailable):
        assert (await jobs.process_inbox(rt, cid)).error is not None
    else:
        with pytest.raises(RedisConnectionError):
            await jobs.process_inbox(rt, cid)
    events = _inbox(rt.sessions)
    assert all(e.claim_token is None for e in events)
    assert all(e.attempts == 1 and type(failure).__name__ in (e.error or "") for e in events)
    # Due again after the first retry delay (10 s), not when a 5-minute claim would end.
    assert all(e.claimed_until is not None for e in events)
    assert max(e.claimed_until for e in events if e.claimed_until) <= NOW + timedelta(seconds=10)
    assert len(_claim(rt.sessions, cid, NOW + timedelta(seconds=10))) == 3


@pytest.mark.parametrize(
    ("failure", "due"),
    [  # Salesforce's rolling 24 hours cannot say when: tried again at the next sweep
        (DailyLimitReached("TotalRequests Limit exceeded."), jobs.SWEEP_EVERY),
        (BudgetExhausted("share spent", resumes_at=NOW + timedelta(seconds=20)), timedelta(0)),
    ],
    ids=["crm-daily-limit", "budget-share"],
)
async def test_a_spent_allocation_gives_the_events_back_charged_no_attempt(
    fresh_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: AllocationSpent,
    due: timedelta,
) -> None:
    """The day's calls being spent is no fault of the events: however long it lasts, they
    wait, never kept as failed, and are tried again when calls may be made (or at the next
    sweep, where the CRM cannot tell), not at every short backoff."""
    clock = ManualClock(NOW)
    rt = _runtime(fresh_engine, tmp_path, clock=clock)
    cid = _events(rt.sessions, 3)
    _use(monkeypatch, FakeCrm(fail=failure))
    for _ in range(ATTEMPTS + 1):  # more refusals than an event has attempts
        assert (await jobs.process_inbox(rt, cid)).error is not None
        events = _inbox(rt.sessions)
        assert all(e.claim_token is None and e.attempts == 0 for e in events)
        assert all(type(failure).__name__ in (e.error or "") for e in events)
        retry = (failure.resumes_at or clock.now()) + due
        assert {e.claimed_until for e in events} == {retry}
        clock.advance(retry - clock.now())
    _use(monkeypatch, FakeCrm())  # the allocation freed
    assert (await jobs.process_inbox(rt, cid)).events == 3
    assert all(e.processed_at is not None for e in _inbox(rt.sessions))


async def test_a_token_endpoint_giving_no_login_gives_the_events_back_charged_no_attempt(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No login, so none of the events' requests was sent: however long the token endpoint
    stays down, they wait uncharged (never kept as failed), tried again at each sweep rather
    than at a backoff that would outgrow the outage."""
    clock = ManualClock(NOW)
    rt = _runtime(fresh_engine, tmp_path, clock=clock)
    cid = _events(rt.sessions, 3)
    down = TokenEndpointUnavailable("Salesforce's token endpoint answered HTTP 503 on all 6")
    _use(monkeypatch, FakeCrm(fail=down))
    for _ in range(ATTEMPTS + 1):  # more failed logins than an event has attempts
        assert (await jobs.process_inbox(rt, cid)).error is not None
        events = _inbox(rt.sessions)
        assert {(e.claim_token, e.attempts, e.error) for e in events} == {
            (None, 0, f"TokenEndpointUnavailable: {down}")
        }
        assert {e.claimed_until for e in events} == {clock.now() + jobs.SWEEP_EVERY}
        clock.advance(jobs.SWEEP_EVERY)
    _use(monkeypatch, FakeCrm())  # the endpoint is back
    assert (await jobs.process_inbox(rt, cid)).events == 3
    assert all(e.processed_at is not None for e in _inbox(rt.sessions))


async def test_credentials_that_cannot_be_decrypted_release_the_claim(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _events(rt.sessions, 2)  # the helper stores credentials no key decrypts
    result = await jobs.process_inbox(rt, cid)
    assert result.error is not None
    assert SecretKeyError.__name__ in result.error
    assert all(e.claim_token is None and e.attempts == 1 for e in _inbox(rt.sessions))


async def test_a_stopped_task_gives_its_events_back_without_counting_an_attempt(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _events(rt.sessions, 2)
    crm = FakeCrm(gate=asyncio.Event())
    _use(monkeypatch, crm)
    work = asyncio.ensure_future(jobs.process_inbox(rt, cid))
    await asyncio.wait_for(crm.reading.wait(), 10)
    work.cancel()  # the process is shutting down
    with pytest.raises(asyncio.CancelledError):
        await work
    events = _inbox(rt.sessions)
    assert all(e.claim_token is None and e.claimed_until is None for e in events)
    assert all(e.attempts == 0 for e in events)


# -- the outbox ---------------------------------------------------------------------------------


def _outbox(sessions: sessionmaker[Session], n: int) -> int:
    with sessions.begin() as session:
        cid = add_connection(session)
        ids = store_contacts(session, cid, [CrmContact(str(i), {}, NOW) for i in range(n)], NOW)
        for local in ids.values():
            session.add(
                OutboxEntry(
                    connection_id=cid, contact_id=local, field_values={}, next_attempt_at=NOW
                )
            )
    return cid


def _claim_outbox(
    sessions: sessionmaker[Session], cid: int, at: datetime, batch: int = 100
) -> set[int]:
    with sessions.begin() as session:
        _, rows = claim_rows(session, cid, at, RelayPolicy(batch_size=batch, claim_for=TTL))
    return {row[0] for row in rows}


def test_the_rows_of_a_relay_that_died_are_taken_over_when_its_claim_lapses(
    sessions: sessionmaker[Session],
) -> None:
    cid = _outbox(sessions, 4)
    dead = _claim_outbox(sessions, cid, NOW)
    assert len(dead) == 4
    assert _claim_outbox(sessions, cid, NOW + TTL - timedelta(seconds=1)) == set()
    assert _claim_outbox(sessions, cid, NOW + TTL + timedelta(seconds=1)) == dead


async def test_a_relay_that_fails_releases_its_rows_at_once(
    sessions: sessionmaker[Session],
) -> None:
    cid = _outbox(sessions, 3)

    class Broken:
        async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
            raise RedisConnectionError("Connection refused")

    with pytest.raises(RedisConnectionError):
        await relay_outbox(sessions, Broken(), cid, lambda: NOW, RelayPolicy(claim_for=TTL))
    with sessions() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert all(r.claim_token is None and r.next_attempt_at == NOW for r in rows)


@pytest.mark.parametrize(
    ("failure", "waits"),
    [  # HubSpot's day ends at midnight in the portal's time zone: tried at the next sweep
        (DailyLimitReached("HubSpot daily limit reached"), jobs.SWEEP_EVERY),
        (
            BudgetExhausted("share spent", resumes_at=NOW + timedelta(seconds=20)),
            timedelta(seconds=20),
        ),
    ],
    ids=["crm-daily-limit", "budget-share"],
)
def test_a_spent_allocation_makes_the_writes_wait_charged_no_attempt(
    fresh_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: AllocationSpent,
    waits: timedelta,
) -> None:
    """The relay job refused for a spent day: the rows wait for calls to free up (at most
    until the next sweep), charged no attempt, and the job says so in a warning, not as a
    failed job; the sweeper wakes the relay then, not at once to spend a call on a refusal."""
    rt = _runtime(fresh_engine, tmp_path)
    cid = _outbox(rt.sessions, 3)
    crm = FakeCrm(refuse_writes=failure)
    _use(monkeypatch, crm)
    with capture_logs() as logs:
        queue._run("relay", jobs.relay(rt, cid))
    assert crm.write_calls == 1
    assert [e["event"] for e in logs if e["log_level"] == "error"] == []
    [said] = [e for e in logs if e["event"].startswith("writes wait")]
    assert said["log_level"] == "warning"
    assert said["retry_at"] == (NOW + waits).isoformat()
    with rt.sessions() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert {(r.claim_token, r.attempts, r.state) for r in rows} == {(None, 0, OutboxState.PENDING)}
    assert {r.next_attempt_at for r in rows} == {NOW + waits}

    jobs.sweep(rt)
    waker = cast(RecordingWaker, rt.wake)
    assert waker.relays == []
    [(job, woken, delay)] = waker.later
    assert (job, woken) == ("relay", cid)
    assert waits.total_seconds() <= delay <= waits.total_seconds() + 1  # just after it
    assert _claim_outbox(rt.sessions, cid, NOW + waits - timedelta(seconds=1)) == set()
    assert len(_claim_outbox(rt.sessions, cid, NOW + waits)) == 3  # due once calls free up


# -- two claimers at once -----------------------------------------------------------------------


def _concurrently(
    sessions: sessionmaker[Session], claim: Callable[[Session], set[int]]
) -> tuple[set[int], set[int]]:
    """The first claimer's transaction stays open while the second claims.

    PostgreSQL: the second must neither wait for the first's row locks (it would fail on the
    2 s lock time-out) nor take its rows. SQLite serialises writers (BEGIN IMMEDIATE): the
    second claims once the first has committed, in a thread of its own."""
    if BACKEND == "postgresql":
        with sessions.begin() as first:
            mine = claim(first)
            with sessions.begin() as second:
                second.execute(text("SET LOCAL lock_timeout = '2s'"))
                started = time.monotonic()
                theirs = claim(second)
                assert time.monotonic() - started < 1.0, "the second claimer waited"
        return mine, theirs
    out: dict[str, set[int]] = {}
    with sessions.begin() as first:
        mine = claim(first)
        thread = threading.Thread(target=lambda: out.update(theirs=_in(sessions, claim)))
        thread.start()
    thread.join(timeout=30)
    return mine, out["theirs"]


def _in(sessions: sessionmaker[Session], claim: Callable[[Session], set[int]]) -> set[int]:
    with sessions.begin() as session:
        return claim(session)


def test_two_inbox_claimers_get_disjoint_events_and_neither_waits(
    sessions: sessionmaker[Session],
) -> None:
    cid = _events(sessions, 10)

    def claim(session: Session) -> set[int]:
        _, rows = jobs.claim_inbox(session, cid, NOW, ATTEMPTS, TTL, limit=4)
        return {row.id for row in rows}

    mine, theirs = _concurrently(sessions, claim)
    assert len(mine) == len(theirs) == 4
    assert not mine & theirs
    assert min(theirs) > max(mine)  # oldest first: the second took the next four


def test_two_outbox_claimers_get_disjoint_rows_and_neither_waits(
    sessions: sessionmaker[Session],
) -> None:
    cid = _outbox(sessions, 10)

    def claim(session: Session) -> set[int]:
        _, rows = claim_rows(session, cid, NOW, RelayPolicy(batch_size=4, claim_for=TTL))
        return {row[0] for row in rows}

    mine, theirs = _concurrently(sessions, claim)
    assert len(mine) == len(theirs) == 4
    assert not mine & theirs
