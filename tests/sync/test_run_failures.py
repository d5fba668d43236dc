"""A sync whose process fails is marked failed and releases its lease; one whose process died
is marked failed once its lease has expired (by the next run or the sweeper)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from app.clock import ManualClock
from app.db import session_factory
from app.models import ConnectionLease, OutboxEntry, SyncRun
from app.runtime import Runtime
from app.settings import load_settings
from app.sync import lease
from app.sync.run import ABANDONED, SyncFailed, SyncRunner
from app.vault import Vault
from app.worker import jobs
from connectors.base import ContactBatch, CrmActivity, CrmContact, FieldWrite, WriteOutcome
from connectors.errors import DailyLimitReached
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker


def _runtime(engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path)
    rt = Runtime(
        settings, engine, session_factory(engine), Vault.from_settings(settings), ManualClock(NOW)
    )
    rt.wake = RecordingWaker()
    return rt


def _connection(rt: Runtime) -> int:
    with rt.sessions.begin() as session:
        # Credentials no key decrypts: the connector cannot be built for this connection.
        return add_connection(session)


def _runs(rt: Runtime) -> list[SyncRun]:
    with rt.sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def _lease_is_free(rt: Runtime, cid: int) -> bool:
    try:
        lease.acquire(rt.sessions, cid, "probe", rt.clock.now(), timedelta(seconds=1))
    except lease.LeaseHeld:
        return False
    lease.release(rt.sessions, cid, "probe")
    return True


class Crm:
    """A connector whose contact pages fail (or wait) as the test says."""

    def __init__(self, fail: BaseException | None = None, gate: asyncio.Event | None = None):
        self.fail = fail
        self.gate = gate
        self.started = asyncio.Event()
        self.closed = False

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        yield ContactBatch([], None)

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        return []

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        return WriteOutcome([], {})

    async def aclose(self) -> None:
        self.closed = True


def _factory(crm: Crm) -> Any:
    return lambda *_args, **_kwargs: crm


async def test_credentials_that_cannot_be_decrypted_fail_the_run_and_free_the_lease(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    with pytest.raises(SyncFailed, match="SecretKeyError: the secret key does not decrypt"):
        await SyncRunner(rt, "acme").run()
    [run] = _runs(rt)
    assert run.state == "failed"
    assert run.finished_at is not None
    assert "does not decrypt" in (run.error or "")
    assert _lease_is_free(rt, cid)


async def test_an_unexpected_failure_fails_the_run_frees_the_lease_and_is_raised(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    crm = Crm(fail=OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    with pytest.raises(OperationalError):
        await SyncRunner(rt, "acme", connector_factory=_factory(crm)).run()
    [run] = _runs(rt)
    assert (run.state, run.error is not None) == ("failed", True)
    assert "OperationalError" in (run.error or "")
    assert crm.closed
    assert _lease_is_free(rt, cid)


async def test_a_stopped_run_is_marked_failed_and_frees_the_lease(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    crm = Crm(gate=asyncio.Event())
    work = asyncio.ensure_future(SyncRunner(rt, "acme", connector_factory=_factory(crm)).run())
    await asyncio.wait_for(crm.started.wait(), 10)
    work.cancel()  # the process is shutting down
    with pytest.raises(asyncio.CancelledError):
        await work
    [run] = _runs(rt)
    assert run.state == "failed"
    assert (run.error or "").startswith("interrupted")
    assert _lease_is_free(rt, cid)


def _died_while_syncing(rt: Runtime, cid: int) -> int:
    """What a killed `serve` leaves: a run row `running` and a lease nobody renews."""
    lease.acquire(rt.sessions, cid, "dead-holder", NOW, timedelta(minutes=2))
    with rt.sessions.begin() as session:
        run = SyncRun(connection_id=cid, kind="incremental", started_at=NOW)
        session.add(run)
        session.flush()
        return run.id


async def test_the_next_run_marks_a_dead_processes_run_failed(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    dead = _died_while_syncing(rt, cid)
    cast(ManualClock, rt.clock).advance(timedelta(minutes=3))  # the lease has expired
    report = await SyncRunner(rt, "acme", connector_factory=_factory(Crm())).run()
    assert report.state == "succeeded"
    runs = {run.id: run for run in _runs(rt)}
    assert (runs[dead].state, runs[dead].error) == ("failed", ABANDONED)
    assert runs[dead].finished_at == rt.clock.now()


def test_the_sweeper_marks_a_dead_processes_run_failed_once_its_lease_expired(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    dead = _died_while_syncing(rt, cid)
    clock = cast(ManualClock, rt.clock)
    clock.advance(timedelta(minutes=1))  # the lease is still live: the run may be working
    assert jobs.sweep(rt)["abandoned_runs"] == []
    assert _runs(rt)[0].state == "running"
    clock.advance(timedelta(minutes=2))
    assert jobs.sweep(rt)["abandoned_runs"] == [dead]
    assert (_runs(rt)[0].state, _runs(rt)[0].error) == ("failed", ABANDONED)
    with rt.sessions() as session:
        assert session.scalar(select(ConnectionLease)) is not None  # left to expire, harmless


async def test_a_failed_scheduled_sync_is_one_error_line_and_no_exception_for_huey(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    cid = _connection(rt)
    with capture_logs() as logs:
        assert await jobs.incremental_sync(rt, cid) == "failed"
    [failed] = [entry for entry in logs if entry["event"] == "sync failed"]
    assert failed["log_level"] == "error"
    assert "does not decrypt" in failed["reason"]
    assert not [entry for entry in logs if entry["event"] == "sync finished"]


class SpentWrites(Crm):
    """Its people come; their write-back finds the CRM's day spent."""

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        yield ContactBatch([CrmContact(str(n), {"jobtitle": "CEO"}, NOW) for n in (1, 2)], "c")

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        raise DailyLimitReached("HubSpot daily limit reached")


async def test_a_write_back_refused_for_a_spent_day_pauses_the_run_and_the_writes_wait(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    _connection(rt)
    report = await SyncRunner(rt, "acme", connector_factory=_factory(SpentWrites())).run()
    assert report.state == "paused"
    assert report.resumes_at is not None
    assert report.resumes_at > NOW  # the next scheduled try: the CRM cannot say when
    with rt.sessions() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert len(rows) == 2
    assert {(r.state, r.attempts, r.claim_token) for r in rows} == {("pending", 0, None)}
    assert {r.next_attempt_at for r in rows} == {NOW + jobs.SWEEP_EVERY}  # the day's end unknown
