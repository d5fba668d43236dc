"""A Salesforce org from `glengarry connect salesforce` to qualified fields on its Leads and
Contacts, through the same pipeline as HubSpot: the commands an admin types, on both databases."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.population import generate_population
from tests.cli import Glengarry

PEOPLE = 120


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    end = datetime.now(UTC)
    members = generate_population(PEOPLE, 5, end - timedelta(days=90), end)
    server = SandboxServer(SandboxConfig(cert_dir=tmp_path / "org"), members=members).start()
    yield server
    server.stop()


def _dump(org: SandboxServer) -> dict[str, dict[str, Any]]:
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    with httpx.Client(base_url=f"{org.instance_url}/_sandbox", verify=trust) as control:
        records = control.get("/dump").json()["records"]
    return {r["id"]: {"type": r["type"], **r["fields"]} for r in records}


def _jwt_connect(org: SandboxServer, name: str = "sf", *extra: str) -> tuple[str, ...]:
    config = org.config
    return (
        "connect", "salesforce", "--name", name, "--instance-url", org.instance_url,
        "--client-id", config.client_id, "--username", config.username,
        "--jwt-key", str(org.jwt_key_file), "--login-url", org.instance_url,
        "--ca-bundle", str(org.ca_file), *extra,
    )  # fmt: skip


def test_connect_installs_then_sync_writes_leads_and_contacts_and_a_resync_writes_nothing(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    connected = glengarry(*_jwt_connect(org))
    assert connected.code == 0, connected.stderr
    body = connected.json()
    assert body["connection"] == "sf"
    assert body["organization_id"] == org.config.org_id
    assert set(body["fields"]) >= {"Lead.Glengarry_Status__c", "Contact.Glengarry_Override__c"}
    assert set(body["fields"].values()) == {"created"}
    assert set(body["permission_sets"]) == {"Glengarry_Integration", "Glengarry_Reps"}
    assert any("Map Lead Fields" in step for step in body["todo"])

    listed = glengarry("connections", "list")
    assert listed.json()["kind"] == "salesforce"
    assert listed.json()["account_id"] == org.config.org_id

    synced = glengarry("sync", "sf")
    assert synced.code == 0, synced.stderr
    assert synced.json()["state"] == "succeeded"
    dumped = _dump(org)
    written = {i: r for i, r in dumped.items() if r.get("Glengarry_Status__c")}
    kinds = {r["type"] for r in written.values()}
    assert kinds == {"Lead", "Contact"}, kinds
    assert len(written) == synced.json()["written"] > PEOPLE // 2
    assert all(r["Glengarry_Reasons__c"] for r in written.values())

    again = glengarry("sync", "sf")
    assert again.code == 0, again.stderr
    assert again.json()["written"] == 0
    assert _dump(org) == dumped


def test_client_credentials_connect_and_reinstall_finds_the_fields_kept(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    config = org.config
    first = glengarry(
        "connect", "salesforce", "--name", "cc", "--instance-url", org.instance_url,
        "--client-id", config.client_id, "--client-secret", "-", "--ca-bundle", str(org.ca_file),
        input=config.client_secret + "\n",
    )  # fmt: skip
    assert first.code == 0, first.stderr
    again = glengarry("connections", "update", "cc", "--reinstall")
    assert again.code == 0, again.stderr
    assert set(again.json()["fields"].values()) == {"kept"}


def test_wrong_credentials_store_nothing_and_say_salesforce_refused(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    config = org.config
    refused = glengarry(
        "connect", "salesforce", "--name", "bad", "--instance-url", org.instance_url,
        "--client-id", config.client_id, "--client-secret", "wrong",
        "--ca-bundle", str(org.ca_file),
    )  # fmt: skip
    assert refused.code != 0
    assert "Salesforce refused the connection" in refused.stderr
    assert glengarry("connections", "list").stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--instance-url", "http://plain.example"), "--instance-url must be an https:// URL"),
        (("--login-url", "ftp://login.example"), "--login-url must be an https:// URL"),
        (("--jwt-key", "/nonexistent/key.pem"), "--jwt-key /nonexistent/key.pem: cannot be read"),
        (("--ca-bundle", "/nonexistent/ca.pem"), "--ca-bundle /nonexistent/ca.pem: no such file"),
    ],
)
def test_bad_options_are_named(
    glengarry: Glengarry, org: SandboxServer, args: tuple[str, str], message: str
) -> None:
    base = list(_jwt_connect(org, "named"))
    flag = base.index(args[0])
    base[flag + 1] = args[1]
    refused = glengarry(*base)
    assert refused.code == 2, refused.stderr
    assert message in refused.stderr


def test_an_option_of_the_other_crm_is_refused_by_update(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    assert glengarry(*_jwt_connect(org)).code == 0
    refused = glengarry("connections", "update", "sf", "--app-type", "oauth")
    assert refused.code == 2
    assert "--app-type: not an option of Salesforce connections" in refused.stderr
