"""A Lead's Outbound Message, set up with Glengarry's fields, carries what a read would give:
the change is stored, rescored and written back with no read of the Lead; a message of an
older set-up (without them) still reads it. Both databases."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from app.api import create_app
from app.connections import stored as stored_connection
from app.models import Connection
from app.runtime import Runtime
from app.serving import ServerThread
from app.sync.run import SyncRunner
from app.worker import jobs
from connectors.crm import StoredConnection
from connectors.salesforce.crm import CRM
from connectors.salesforce.realtime import FIELDS
from connectors.salesforce.sandbox import SandboxServer
from connectors.salesforce.sandbox.outbound import DEFAULT_FIELDS
from connectors.salesforce.sandbox.simulate import sales_rep
from tests.pipeline.salesforce_org import connect_org, control, dump, start_org, stored

WRITE_BACK = "PATCH /services/data/v62.0/composite/sobjects"
LOGIN = "POST /services/oauth2/token"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", 30, outbound_backoff_seconds=0.05)
    yield server
    server.stop()


def _reads(org: SandboxServer) -> dict[str, int]:
    """The org's calls per route, but Glengarry's write-backs and logins: its reads."""
    calls = org.stats()["calls"]
    return {
        route: sum(by.values()) for route, by in calls.items() if route not in (WRITE_BACK, LOGIN)
    }


def _since(org: SandboxServer, before: dict[str, int]) -> dict[str, int]:
    now = _reads(org)
    return {route: n - before.get(route, 0) for route, n in now.items() if n > before.get(route, 0)}


@contextmanager
def _receiving(runtime: Runtime, org: SandboxServer, lead_fields: Sequence[str]) -> Iterator[None]:
    """The served receiver, and the org's Lead message set up with `lead_fields`."""
    with ServerThread(create_app(runtime)) as receiver, control(org) as sandbox:
        (connection,) = _connections(runtime)
        url = CRM.setup(connection, receiver.base_url)["endpoint_url"]
        body = {"url": url, "sobject": "Lead", "fields": list(lead_fields)}
        sandbox.post("/outbound-message", json=body).raise_for_status()
        yield


def _connections(runtime: Runtime) -> list[StoredConnection]:
    with runtime.sessions() as session:
        return [stored_connection(runtime, c) for c in session.scalars(select(Connection))]


async def _notified(
    runtime: Runtime, org: SandboxServer, cid: int, changes: dict[str, object], lead_id: str
) -> jobs.InboxResult:
    """A rep's change of the Lead, delivered as an Outbound Message, then processed."""
    store = org.runtime.store
    record = store.get("Lead", lead_id)
    assert record is not None
    with store.acting_as(sales_rep(store).id):  # not the integration user: the Flow sends it
        store.update(record, changes)
    assert org.flush_outbound(30)
    result = await jobs.process_inbox(runtime, cid)
    assert result.error is None
    return result


def _lead(runtime: Runtime) -> str:
    """A live Lead Glengarry holds and scores."""
    leads = [c for c in stored(runtime).values() if c.kind == "lead" and c.deleted_at is None]
    assert leads
    return sorted(c.crm_id for c in leads)[0]


def _score(org: SandboxServer, lead_id: str) -> float:
    return float(dump(org)[lead_id]["Glengarry_Score__c"])


async def test_a_lead_change_its_message_carries_is_rescored_and_written_without_a_read(
    runtime: Runtime, org: SandboxServer
) -> None:
    cid = await connect_org(runtime, org)
    await SyncRunner(runtime, "sf").run()
    lead = _lead(runtime)
    with _receiving(runtime, org, FIELDS["Lead"]):
        # A title the criteria score nothing for, then a C-level one: the score moves.
        await _notified(runtime, org, cid, {"Title": "Intern"}, lead)
        low = _score(org, lead)
        before = _reads(org)
        result = await _notified(runtime, org, cid, {"Title": "Chief Executive Officer"}, lead)
        assert _since(org, before) == {}  # no read of any kind
    assert (result.carried, result.read) == (1, 0)
    held = stored(runtime, [lead])[lead]
    assert held.properties["jobtitle"] == "Chief Executive Officer"
    assert _score(org, lead) > low  # rescored, and written back to the org


async def test_a_message_without_glengarrys_fields_still_reads_the_lead(
    runtime: Runtime, org: SandboxServer
) -> None:
    cid = await connect_org(runtime, org)
    await SyncRunner(runtime, "sf").run()
    lead = _lead(runtime)
    # An older set-up: the sandbox's own choice of Lead fields (Title among them), not
    # Glengarry's, so a field left out may be empty or simply not set up.
    with _receiving(runtime, org, DEFAULT_FIELDS["Lead"]):
        before = _reads(org)
        result = await _notified(runtime, org, cid, {"Title": "Chief Executive Officer"}, lead)
        assert _since(org, before)  # the Lead was read
    assert (result.carried, result.read) == (0, 1)
    assert stored(runtime, [lead])[lead].properties["jobtitle"] == "Chief Executive Officer"
