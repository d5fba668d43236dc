"""Salesforce's limits through `SyncRunner`: the connection's share of the org's daily API
allocation, the allocation spent, locked rows on write-back, and the Bulk switch of a backfill
set by `GLENGARRY_SALESFORCE_BULK_THRESHOLD`. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import Activity, Contact, OutboxEntry, OutboxState, SyncCursor, SyncRun, SyncState
from app.runtime import Runtime
from app.sync.run import SyncReport, SyncRunner
from connectors.salesforce.sandbox import SandboxServer
from tests.pipeline.salesforce_org import (
    connect_org,
    control,
    dump,
    glengarry_fields,
    start_org,
    with_settings,
)


class _Movable:
    """Glengarry's clock, moved by the test (the write-back's backoff passing)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _count(runtime: Runtime, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _people(org: SandboxServer) -> set[str]:
    return {r.id for r in org.store.records("Lead")} | {r.id for r in org.store.records("Contact")}


@pytest.fixture
def big_org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "big", 2_300, daily_api_limit=1_000)
    yield server
    server.stop()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", 60)
    yield server
    server.stop()


async def test_the_connection_s_share_pauses_the_backfill_and_a_later_run_resumes_from_it(
    runtime: Runtime, big_org: SandboxServer
) -> None:
    org = big_org
    await connect_org(runtime, org, budget_share=0.5)  # up to 500 of the org's 1,000 a day
    allocation = org.runtime.allocation
    allocation.reset()  # connecting aside

    def others_spend_the_rest(report: SyncReport) -> None:
        # Once the first page is stored, the org's other integrations use what is left of
        # this connection's share: the usage header of the next answer says so.
        while allocation.used() < 500:
            allocation.take()

    paused = await SyncRunner(runtime, "sf", progress=others_spend_the_rest).run()
    assert paused.state is SyncState.PAUSED
    assert "of its 1000 daily API calls" in paused.message
    assert "share (0.5)" in paused.message
    assert allocation.used() <= 502  # at most the calls already in flight went past it
    first = _count(runtime, Contact)
    assert 0 < first < len(_people(org))
    assert _count(runtime, SyncCursor) == 1  # what was stored is behind the cursor kept
    with runtime.sessions() as session:
        run = session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert run is not None
        assert run.state == "paused"
    assert _count(runtime, OutboxEntry, OutboxEntry.state == OutboxState.PENDING) > 0

    allocation.reset()  # a day later
    resumed = await SyncRunner(runtime, "sf").run()
    assert resumed.state is SyncState.SUCCEEDED, resumed.message
    # From the cursor: the first page is not read again (the listing goes on from the last
    # SystemModstamp it read, that instant included: a record may be read twice, never missed).
    assert len(_people(org)) - first <= resumed.pulled <= len(_people(org)) - first + 1
    assert _count(runtime, Contact) == len(_people(org))
    assert _count(runtime, OutboxEntry, OutboxEntry.state == OutboxState.PENDING) == 0
    written = {i for i, values in dump(org).items() if glengarry_fields(values)}
    assert written == _people(org)  # the first page's writes, kept in the outbox, landed too


async def test_a_spent_daily_allocation_pauses_and_the_next_run_goes_on(
    runtime: Runtime, org: SandboxServer
) -> None:
    await connect_org(runtime, org, budget_share=1.0)
    with control(org) as sandbox:
        sandbox.post("/faults", json={"spend_allocation": True})
    paused = await SyncRunner(runtime, "sf").run()
    assert paused.state is SyncState.PAUSED
    assert "REQUEST_LIMIT_EXCEEDED" in paused.message or "TotalRequests" in paused.message
    assert _count(runtime, SyncCursor) == 0
    with control(org) as sandbox:
        sandbox.post("/stats/reset")  # the rolling 24 hours freed calls
    done = await SyncRunner(runtime, "sf").run()
    assert done.state is SyncState.SUCCEEDED, done.message
    assert _count(runtime, Contact) == len(_people(org))


async def test_locked_rows_are_retried_through_the_outbox_and_land_later(
    runtime: Runtime, org: SandboxServer
) -> None:
    clock = _Movable()
    runtime = replace(runtime, clock=clock)
    await connect_org(runtime, org)
    with control(org) as sandbox:
        sandbox.post("/faults", json={"lock_row_rate": 1.0})
    first = await SyncRunner(runtime, "sf").run()
    assert first.state is SyncState.PARTIAL
    assert first.relay.sent == 0
    assert first.relay.failed == 0
    assert first.relay.retrying == first.scoring.to_write > 0
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxEntry)).all()
        assert {(r.state, r.attempts) for r in rows} == {(OutboxState.PENDING, 1)}
        assert all("UNABLE_TO_LOCK_ROW" in (r.last_error or "") for r in rows)
    assert not any(glengarry_fields(v) for v in dump(org).values())

    with control(org) as sandbox:
        sandbox.post("/faults", json={"lock_row_rate": 0.0})
    clock.offset = timedelta(seconds=runtime.settings.writeback_backoff_seconds * 2)
    second = await SyncRunner(runtime, "sf").run()
    assert second.state is SyncState.SUCCEEDED, second.message
    assert second.relay.sent == first.relay.retrying
    written = [v for v in dump(org).values() if glengarry_fields(v)]
    assert len(written) == first.scoring.to_write


def _theirs(properties: dict[str, Any]) -> dict[str, Any]:
    """What the org holds apart from what Glengarry wrote (and the save that wrote it)."""
    return {
        k: v
        for k, v in properties.items()
        if not k.startswith("glengarry_") and k != "lastmodifieddate"
    }


def _rows(runtime: Runtime) -> dict[tuple[str, str], Any]:
    with runtime.sessions() as session:
        contacts = {
            (c.kind, c.crm_id): (c.email, _theirs(c.properties), c.is_customer, c.deleted_at)
            for c in session.scalars(select(Contact))
        }
        activities = {
            ("activity", a.crm_id): (a.type, a.occurred_at, a.properties)
            for a in session.scalars(select(Activity))
        }
    return contacts | activities


async def test_a_backfill_above_the_bulk_threshold_reads_through_bulk_jobs_and_stores_as_rest(
    runtime: Runtime, tmp_path: Path
) -> None:
    org = start_org(tmp_path / "mixed", 150)  # Leads, and Contacts of customers and prospects
    try:
        await _bulk_then_rest(runtime, org)
    finally:
        org.stop()


async def _bulk_then_rest(runtime: Runtime, org: SandboxServer) -> None:
    assert min(org.store.count("Lead"), org.store.count("Contact")) > 2
    bulk = with_settings(runtime, salesforce_bulk_threshold=2)
    await connect_org(bulk, org)
    report = await SyncRunner(bulk, "sf").run()
    assert report.state is SyncState.SUCCEEDED, report.message
    with control(org) as sandbox:
        jobs = sandbox.get("/bulk").json()["log"]
    assert sorted(j["object"] for j in jobs) == ["Contact", "Lead"]
    assert {j["state"] for j in jobs} == {"JobComplete"}
    assert sum(j["numberRecordsProcessed"] for j in jobs) == len(_people(org))
    through_bulk = _rows(bulk)
    assert len([k for k in through_bulk if k[0] != "activity"]) == len(_people(org))

    # The same org read again through REST (the default threshold) stores the same rows and
    # has nothing to write.
    rest = await SyncRunner(runtime, "sf", full=True).run()
    assert rest.state is SyncState.SUCCEEDED, rest.message
    with control(org) as sandbox:
        assert len(sandbox.get("/bulk").json()["log"]) == len(jobs)  # no job for this one
    assert rest.relay.sent == 0
    assert _rows(runtime) == through_bulk
