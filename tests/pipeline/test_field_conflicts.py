"""A CRM property that exists with another definition is never written, and runs say so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.connections import ConnectionUpdate, conflicts, open_connector
from app.models import Connection, OutboxEntry, SyncRun
from app.runtime import Runtime
from app.sync.run import SyncRunner
from connectors.base import Connector, FieldWrite, WriteFailure, WriteOutcome
from connectors.hubspot.sandbox.server import SandboxServer
from tests.hubspot_connections import connect_hubspot, update_hubspot
from tests.pipeline.conftest import CONTACTS
from tests.pipeline.test_hubspot_sync import TOKEN, _calls, _connect

WRITES = "POST /crm/v3/objects/contacts/batch/update"


def _create_property(sandbox: SandboxServer, body: dict[str, Any]) -> None:
    """What an admin did before Glengarry came: a property of the same name, their own way."""
    response = httpx.post(
        f"{sandbox.base_url}/crm/v3/properties/contacts",
        headers={"Authorization": f"Bearer {sandbox.config.token}"},
        json={"groupName": "contactinformation", **body},
    )
    assert response.status_code == 201, response.text


def _conflicting(sandbox: SandboxServer) -> None:
    _create_property(
        sandbox,
        {"name": "glengarry_score", "label": "Score", "type": "string", "fieldType": "text"},
    )
    _create_property(
        sandbox,
        {
            "name": "glengarry_status",
            "label": "Status",
            "type": "enumeration",
            "fieldType": "select",
            "options": [{"label": "Hot", "value": "hot"}, {"label": "Cold", "value": "cold"}],
        },
    )


async def test_conflicting_fields_are_reported_never_written_and_a_reinstall_lets_writes_go(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    _conflicting(sandbox)
    _, report = await connect_hubspot(
        runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url
    )
    states = {f.name: f.state.value for f in report}
    assert states["glengarry_score"] == states["glengarry_status"] == "conflict"
    assert states["glengarry_fit"] == "created"
    with runtime.sessions() as session:
        stored = session.scalars(select(Connection)).one()
        assert stored.field_state == "conflict"
        found = conflicts(stored)
    assert set(found) == {"glengarry_score", "glengarry_status"}
    assert "string" in found["glengarry_score"]
    assert "sales_ready" in found["glengarry_status"]

    # The sync scores everyone, writes nothing, and ends saying why (not `succeeded`).
    run = await SyncRunner(runtime, "acme").run()
    assert run.scoring.scored == CONTACTS
    assert run.state == "partial"
    assert "glengarry_score" in run.message
    assert "connections update acme --reinstall" in run.message
    assert run.relay.sent == 0
    assert _calls(sandbox, WRITES) == 0
    assert not any(o.properties.get("glengarry_score") for o in sandbox.store.all("contacts"))
    with runtime.sessions() as session:
        row = session.scalars(select(SyncRun)).one()
        assert (row.state, row.error) == ("partial", run.message)
        # Nothing is dropped: the writes wait for the fields.
        assert session.scalar(select(func.count()).select_from(OutboxEntry)) == CONTACTS

    # The admin deletes the two properties in HubSpot; the reinstall finds them gone.
    with sandbox.store.locked() as store:
        del store.definitions["contacts"]["glengarry_score"]
        del store.definitions["contacts"]["glengarry_status"]
    result = await update_hubspot(runtime, "acme", ConnectionUpdate(reinstall=True))
    assert result.report is not None
    assert {f.name: f.state.value for f in result.report}["glengarry_score"] == "created"
    assert result.connection.field_state == "installed"
    assert "field_state" in result.changed

    again = await SyncRunner(runtime, "acme").run()
    assert again.state == "succeeded"
    assert again.message == ""
    assert again.relay.sent == CONTACTS
    scores = [o.properties.get("glengarry_score") for o in sandbox.store.all("contacts")]
    assert all(score is not None and score.isdigit() for score in scores)


async def test_a_conflict_still_there_on_reinstall_keeps_writes_refused(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    _conflicting(sandbox)
    await _connect(runtime, sandbox)
    result = await update_hubspot(runtime, "acme", ConnectionUpdate(reinstall=True))
    assert result.connection.field_state == "conflict"
    assert set(conflicts(result.connection)) == {"glengarry_score", "glengarry_status"}


class RefusingWrites:
    """The real connector, except that the CRM refuses every write (as for a bad value)."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        reason = "glengarry_status: INVALID_OPTION: sales_ready was not one of the allowed options"
        return WriteOutcome([], {w.contact_crm_id: WriteFailure(reason) for w in writes})


@pytest.mark.parametrize("max_attempts", [1, 8])
async def test_a_run_whose_writes_the_crm_refused_ends_partial_with_the_reason(
    runtime: Runtime, sandbox: SandboxServer, max_attempts: int
) -> None:
    await _connect(runtime, sandbox)
    settings = runtime.settings.model_copy(update={"writeback_max_attempts": max_attempts})
    runtime.settings = settings

    def refusing(rt: Runtime, connection: Connection, **options: Any) -> Any:
        return RefusingWrites(open_connector(rt, connection, **options))

    run = await SyncRunner(runtime, "acme", connector_factory=refusing).run()
    assert run.state == "partial"
    refused = run.relay.failed + run.relay.retrying
    assert refused == CONTACTS
    assert (run.relay.failed == CONTACTS) is (max_attempts == 1)
    assert f"{CONTACTS} write(s) refused" in run.message
    assert "INVALID_OPTION" in run.message
    with runtime.sessions() as session:
        assert session.scalars(select(SyncRun.state)).one() == "partial"
