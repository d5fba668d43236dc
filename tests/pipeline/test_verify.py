"""`glengarry verify`: after a sync the CRM holds what Glengarry wrote (no drift); a field a
person changed in the CRM, or cleared, is found and named; an unreachable CRM is exit 2, not
a clean bill. HubSpot and Salesforce, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.connections import connect
from app.runtime import Runtime
from app.sync.run import SyncRunner
from app.verify import verify
from connectors.hubspot.crm import CRM as HUBSPOT
from connectors.hubspot.sandbox.server import SandboxServer as HubSpotSandbox
from connectors.salesforce.crm import CRM as SALESFORCE
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.population import generate_population
from tests.cli import Glengarry


async def test_no_drift_after_a_sync_then_a_changed_and_a_cleared_field_are_named(
    runtime: Runtime, sandbox: HubSpotSandbox
) -> None:
    options = HUBSPOT.settings({"base_url": sandbox.base_url, "app_type": "unlimited"}, new=True)
    await connect(
        runtime, HUBSPOT, name="acme", secrets={"token": "sandbox-token"}, options=options.options
    )
    await SyncRunner(runtime, "acme").run()
    clean = await verify(runtime, "acme")
    assert clean.drift == 0, clean.to_json()
    assert clean.checked > 0
    assert clean.pending == 0

    first, second = sorted(o.id for o in sandbox.store.all("contacts"))[:2]
    sandbox.store.update("contacts", first, {"glengarry_score": "1"}, emit=False)
    sandbox.store.update("contacts", second, {"glengarry_status": ""}, emit=False)
    drifted = await verify(runtime, "acme")
    assert drifted.stale == {"glengarry_score": 1}
    assert drifted.missing == {"glengarry_status": 1}
    assert {(e["crm_id"], e["field"]) for e in drifted.examples} == {
        (first, "glengarry_score"),
        (second, "glengarry_status"),
    }
    sampled = await verify(runtime, "acme", sample=5, seed=1)
    assert sampled.checked == 5


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    end = datetime.now(UTC)
    members = generate_population(60, 3, end - timedelta(days=90), end)
    server = SandboxServer(SandboxConfig(cert_dir=tmp_path / "org"), members=members).start()
    yield server
    server.stop()


async def test_salesforce_drift_is_found_the_same_way(runtime: Runtime, org: SandboxServer) -> None:
    secrets = {"client_id": org.config.client_id, "client_secret": org.config.client_secret}
    options = {"instance_url": org.instance_url, "ca_bundle": str(org.ca_file)}
    await connect(runtime, SALESFORCE, name="sf", secrets=secrets, options=options)
    await SyncRunner(runtime, "sf").run()
    clean = await verify(runtime, "sf")
    assert clean.drift == 0, clean.to_json()
    assert clean.checked > 0
    lead = sorted(org.store.records("Lead"), key=lambda r: r.id)[0]
    org.store.update(lead, {"Glengarry_Fit__c": 3.0})
    drifted = await verify(runtime, "sf")
    assert drifted.stale == {"glengarry_fit": 1}
    assert drifted.examples[0]["crm_id"] == lead.id


def test_the_command_exits_1_with_drift_and_2_when_the_crm_cannot_be_read(
    glengarry: Glengarry, sandbox: HubSpotSandbox
) -> None:
    connected = glengarry(
        "connect", "hubspot", "--name", "acme", "--token", "sandbox-token",
        "--base-url", sandbox.base_url, "--app-type", "unlimited",
    )  # fmt: skip
    assert connected.code == 0, connected.stderr
    assert glengarry("sync", "acme").code == 0
    clean = glengarry("verify", "acme")
    assert (clean.code, clean.json()["checked"] > 0) == (0, True)
    contact = sorted(o.id for o in sandbox.store.all("contacts"))[0]
    sandbox.store.update("contacts", contact, {"glengarry_fit": "0"}, emit=False)
    drifted = glengarry("verify", "acme")
    assert drifted.code == 1
    assert drifted.json()["drift"]["stale"] == {"glengarry_fit": 1}
    sandbox.stop()
    unreachable = glengarry("verify", "acme", env={"GLENGARRY_HTTP_MAX_ATTEMPTS": "1"})
    assert unreachable.code == 2
    assert unreachable.json()["checked"] == 0
