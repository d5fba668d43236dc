"""A Salesforce connection where a HubSpot one shows: the operations API lists it and queues its
resync, the worker's sync job runs it, its calls and backlog are in the metrics, and the
sweeper's schedule wakes its due writes. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.api import create_app
from app.models import SyncState
from app.runtime import Runtime
from app.worker import jobs
from connectors.salesforce.sandbox import SandboxServer
from tests.pipeline.salesforce_org import connect_org, control, start_org, with_settings
from tests.wakers import RecordingWaker

TOKEN = "ops-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", 60)
    yield server
    server.stop()


async def test_a_salesforce_connection_is_listed_resynced_run_and_measured(
    runtime: Runtime, org: SandboxServer
) -> None:
    waker = RecordingWaker()
    runtime = replace(with_settings(runtime, api_token=SecretStr(TOKEN)), wake=waker)
    connection_id = await connect_org(runtime, org)
    client = TestClient(create_app(runtime))

    (listed,) = client.get("/connections", headers=AUTH).json()
    assert (listed["name"], listed["kind"]) == ("sf", "salesforce")
    assert listed["account_id"] == org.config.org_id
    assert listed["field_state"] == "installed"
    assert listed["last_run"] is None
    answer = client.post("/connections/sf/resync", json={"full": True}, headers=AUTH)
    assert answer.status_code == 202
    assert answer.json() == {"connection": "sf", "queued": "full"}
    assert waker.syncs == [(connection_id, True)]

    # The worker's job for what was queued.
    assert await jobs.incremental_sync(runtime, connection_id, full=True) is SyncState.SUCCEEDED
    shown = client.get("/connections/sf", headers=AUTH).json()
    assert shown["last_run"]["state"] == "succeeded"
    assert shown["last_run"]["kind"] == "backfill"
    assert sum(shown["statuses"].values()) == 60
    assert shown["outbox"] == {"sent": shown["last_run"]["counts"]["written"]}
    assert shown["cursor"]
    runs = client.get("/connections/sf/runs", headers=AUTH).json()
    assert [r["state"] for r in runs] == ["succeeded"]

    metrics = client.get("/metrics").text
    assert 'glengarry_crm_api_calls_total{connection="sf",status="200"}' in metrics
    assert 'glengarry_outbox_rows{connection="sf",state="pending"} 0.0' in metrics

    # The sweeper wakes the relay for due writes of a Salesforce connection as for HubSpot's.
    with control(org) as sandbox:
        sandbox.post("/faults", json={"lock_row_rate": 1.0})
        org.store.update(org.store.records("Lead")[0], {"Title": "Chief Executive Officer"})
        assert await jobs.incremental_sync(runtime, connection_id) is SyncState.PARTIAL
        sandbox.post("/faults", json={"lock_row_rate": 0.0})
    later = replace(runtime, clock=_Later(runtime))
    assert jobs.sweep(later)["outbox"] == [connection_id]
    assert connection_id in waker.relays
    relayed = await jobs.relay(later, connection_id)
    assert relayed.sent >= 1
    assert relayed.failed == 0


class _Later:
    """The clock once the write-back's backoff has passed."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def now(self) -> datetime:
        backoff = timedelta(seconds=self._runtime.settings.writeback_backoff_seconds * 2)
        return self._runtime.clock.now() + backoff
