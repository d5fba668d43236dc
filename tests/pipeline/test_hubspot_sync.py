"""HubSpot end to end against the sandbox: connect, install, backfill, write back, resync."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import func, select

from app.connections import ConnectFailed
from app.models import (
    Activity,
    ApiUsage,
    Connection,
    Contact,
    OutboxEntry,
    QualificationRecord,
    SyncCursor,
    SyncRun,
    Transition,
)
from app.runtime import Runtime
from app.sync.run import SyncRunner
from connectors.hubspot.mapping import READ_SCOPES
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from tests.hubspot_connections import HubSpotCredentials, connect_hubspot
from tests.pipeline.conftest import CONTACTS, population

TOKEN = HubSpotCredentials(token="sandbox-token")


async def _connect(runtime: Runtime, sandbox: SandboxServer, name: str = "acme") -> None:
    await connect_hubspot(runtime, name=name, credentials=TOKEN, base_url=sandbox.base_url)


def _calls(sandbox: SandboxServer, route: str) -> int:
    return sum(sandbox.stats()["calls"].get(route, {}).values())


async def test_connect_reads_the_portal_and_installs_every_field(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await _connect(runtime, sandbox)
    with runtime.sessions() as session:
        connection = session.scalars(select(Connection)).one()
        assert connection.account_id == str(sandbox.config.portal_id)
        assert connection.field_state == "installed"
    status = sandbox.store.definition("contacts", "glengarry_status")
    assert status is not None
    assert status.type == "enumeration"
    # The checkbox the default criteria disqualify on is installed with the rest.
    checkbox = sandbox.store.definition("contacts", "glengarry_do_not_contact")
    assert checkbox is not None
    assert (checkbox.type, checkbox.field_type) == ("bool", "booleancheckbox")


async def test_a_refused_token_leaves_no_connection_behind(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    with pytest.raises(ConnectFailed, match="refused"):
        await connect_hubspot(
            runtime,
            name="bad",
            credentials=HubSpotCredentials(token="wrong"),
            base_url=sandbox.base_url,
        )
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Connection)) == 0


async def test_backfill_scores_everyone_writes_back_in_batches_and_a_resync_writes_nothing(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await _connect(runtime, sandbox)
    report = await SyncRunner(runtime, "acme").run()
    assert report.state == "succeeded"
    assert report.pulled == CONTACTS
    assert report.scoring.scored == CONTACTS
    assert report.relay.sent == report.scoring.to_write == CONTACTS

    # What the rep sees in the CRM is what Glengarry stored.
    with runtime.sessions() as session:
        stored = {
            crm_id: (status, score)
            for crm_id, status, score in session.execute(
                select(
                    QualificationRecord.contact_id,
                    QualificationRecord.status,
                    QualificationRecord.score,
                )
            )
        }
        statuses = {status for status, _ in stored.values()}
        assert "nurture" in statuses
    in_crm = {
        obj.id: obj.properties.get("glengarry_status") for obj in sandbox.store.all("contacts")
    }
    assert all(value for value in in_crm.values()), "every contact got its status"
    # Never a request per contact: list pages, association reads, engagement reads, writes.
    assert _calls(sandbox, "POST /crm/v3/objects/contacts/batch/update") == math.ceil(
        CONTACTS / 100
    )
    # The contact list pages, and one probe of each optional object type (deals, tickets,
    # feedback submissions) at `connect` and at the whole sync: what the token may not read.
    probes = 2 * len(READ_SCOPES)
    assert _calls(sandbox, "GET /crm/v3/objects/{objectType}") == math.ceil(CONTACTS / 100) + probes
    assert _calls(sandbox, "GET /crm/v3/objects/{objectType}/{objectId}") == 0
    # One association read per associated type (5 engagement types, survey answers, tickets,
    # deals for the outcomes) for these 300 contacts (1,000 ids a call).
    assert (
        _calls(sandbox, "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read") == 8
    )

    # Our own writes bumped lastmodifieddate: the incremental resync reads them back and
    # finds nothing worth writing.
    again = await SyncRunner(runtime, "acme").run()
    assert again.pulled >= CONTACTS
    assert again.scoring.to_write == 0
    assert again.relay.sent == 0
    with runtime.sessions() as session:
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.kind for r in runs] == ["backfill", "incremental"]
        assert runs[0].counts["written"] == CONTACTS
        assert runs[1].counts["written"] == 0


async def test_a_dry_run_reports_what_it_would_write_and_writes_nothing(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await _connect(runtime, sandbox)
    report = await SyncRunner(runtime, "acme", dry_run=True).run()
    assert report.scoring.to_write == CONTACTS
    assert report.scoring.status_changes == CONTACTS  # every contact gets its first status
    assert len(report.scoring.write_samples) == 20
    assert _calls(sandbox, "POST /crm/v3/objects/contacts/batch/update") == 0
    # No trace but its report (the run row) and the API calls it spent.
    with runtime.sessions() as session:
        for table in (Contact, Activity, QualificationRecord, Transition, OutboxEntry, SyncCursor):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
        assert session.scalars(select(SyncRun.dry_run)).all() == [True]
        assert session.scalar(select(func.sum(ApiUsage.calls))) == report.api_calls > 0
    # The real run afterwards finds the same changes, at its own time, and writes everything.
    real_started = runtime.clock.now()
    real = await SyncRunner(runtime, "acme").run()
    assert real.scoring.status_changes == report.scoring.status_changes
    assert real.relay.sent == CONTACTS
    with runtime.sessions() as session:
        since = session.scalars(select(QualificationRecord.status_since)).all()
    assert len(since) == CONTACTS
    assert min(since) >= real_started


async def test_an_oauth_connection_refreshes_its_token_and_syncs(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    config = sandbox.config
    await connect_hubspot(
        runtime,
        name="oauth",
        credentials=HubSpotCredentials(
            oauth_client_id=config.client_id,
            oauth_client_secret=config.client_secret,
            refresh_token=config.refresh_tokens[0],
        ),
        base_url=sandbox.base_url,
    )
    report = await SyncRunner(runtime, "oauth").run()
    assert report.pulled == CONTACTS
    assert _calls(sandbox, "POST /oauth/v1/token") >= 1


async def test_with_writes_switched_off_contacts_are_scored_and_nothing_is_written(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await _connect(runtime, sandbox)
    with runtime.sessions.begin() as session:
        session.scalars(select(Connection)).one().writes_enabled = False
    report = await SyncRunner(runtime, "acme").run()
    assert report.scoring.scored == CONTACTS
    assert report.relay.sent == 0
    assert _calls(sandbox, "POST /crm/v3/objects/contacts/batch/update") == 0


async def test_a_spent_api_budget_pauses_the_sync_cleanly_even_in_a_fresh_process(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await _connect(runtime, sandbox)
    with runtime.sessions.begin() as session:
        connection = session.scalars(select(Connection)).one()
        # Earlier runs today spent this connection's whole share (50% of 650,000).
        session.add(
            ApiUsage(
                connection_id=connection.id,
                day=runtime.clock.now().date(),
                endpoint="GET /crm/v3/objects/contacts",
                calls=325_000,
            )
        )
    runtime.limiters.clear()  # a new process: nothing in memory about today
    listed = _calls(sandbox, "GET /crm/v3/objects/{objectType}")  # connect's probes
    report = await SyncRunner(runtime, "acme").run()
    assert report.state == "paused"
    assert "limit" in report.message
    assert _calls(sandbox, "GET /crm/v3/objects/{objectType}") == listed
    with runtime.sessions() as session:
        run = session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert run is not None
        assert run.state == "paused"
        assert session.scalar(select(func.count()).select_from(SyncCursor)) == 0


async def test_an_incremental_sync_finds_changes_the_lagging_search_index_hid_at_first(
    runtime: Runtime,
) -> None:
    """HubSpot's search index lags behind writes: the overlap re-reads the window next time."""
    lag = 2.0
    with SandboxServer(
        SandboxConfig(rate_limits="off", search_lag_seconds=lag), members=population()
    ) as lagging:
        await _connect(runtime, lagging)
        await SyncRunner(runtime, "acme").run()
        target = lagging.store.all("contacts")[3].id
        lagging.store.update("contacts", target, {"jobtitle": "Chief Revenue Officer"})
        await SyncRunner(runtime, "acme").run()  # too soon: the index does not show it yet
        with runtime.sessions() as session:
            stored = session.scalars(select(Contact).where(Contact.crm_id == target)).one()
            assert stored.properties.get("jobtitle") != "Chief Revenue Officer"
        deadline = time.monotonic() + 10
        while not any(  # until the index has caught up (a condition, not a guess)
            o.id == target and o.properties.get("jobtitle") == "Chief Revenue Officer"
            for o in lagging.store.search_view("contacts")
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        await SyncRunner(runtime, "acme").run()  # the overlap covers the lag
        with runtime.sessions() as session:
            stored = session.scalars(select(Contact).where(Contact.crm_id == target)).one()
            assert stored.properties["jobtitle"] == "Chief Revenue Officer"
        in_crm = lagging.store.get("contacts", target)
        assert in_crm is not None
        assert "C-level title" in in_crm.properties["glengarry_reasons"]
