"""`connect` and `connections update` as an admin types them: secrets kept off the command line,
conflicts named with the way out, credentials and settings changed later. Both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.cli import context, operations, secrets
from app.cli.main import cli
from app.connections import vault_credentials
from app.models import Connection
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from tests.cli import Glengarry

TOKEN = "sandbox-token"
APP_SECRET = "app-client-secret-for-webhooks"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(rate_limits="off")) as server:
        yield server


def _stored(name: str = "acme") -> tuple[Connection, dict[str, Any]]:
    runtime = context.runtime()
    with runtime.sessions() as session:
        connection = session.scalars(select(Connection).where(Connection.name == name)).one()
        session.expunge(connection)
    return connection, vault_credentials(runtime.vault, connection)


def _connect(sandbox: SandboxServer, *extra: str) -> tuple[str, ...]:
    return ("connect", "hubspot", "--name", "acme", "--base-url", sandbox.base_url, *extra)


def test_connect_reads_its_secrets_from_the_environment(
    glengarry: Glengarry, sandbox: SandboxServer
) -> None:
    done = glengarry(
        *_connect(sandbox),
        env={"GLENGARRY_TOKEN": TOKEN, "GLENGARRY_CLIENT_SECRET": APP_SECRET},
    )
    assert done.code == 0, done.stderr
    assert done.json()["portal_id"] == str(sandbox.config.portal_id)
    assert "will be refused" not in done.stderr
    _, stored = _stored()
    assert stored == {"token": TOKEN, "app_client_secret": APP_SECRET}
    assert TOKEN not in done.stdout + done.stderr
    assert APP_SECRET not in done.stdout + done.stderr


def test_connect_at_a_terminal_asks_for_the_missing_secrets_without_echo(
    glengarry: Glengarry,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secrets, "at_terminal", lambda: True)
    done = glengarry(*_connect(sandbox), input=f"{TOKEN}\n{APP_SECRET}\n")
    assert done.code == 0, done.stderr
    assert "Private app access token [--token, GLENGARRY_TOKEN]" in done.stderr
    assert TOKEN not in done.stdout + done.stderr  # typed, never shown
    assert APP_SECRET not in done.stdout + done.stderr
    _, stored = _stored()
    assert stored == {"token": TOKEN, "app_client_secret": APP_SECRET}


def test_a_dash_reads_the_secret_from_stdin(glengarry: Glengarry, sandbox: SandboxServer) -> None:
    done = glengarry(*_connect(sandbox, "--token", "-"), input=f"{TOKEN}\n")
    assert done.code == 0, done.stderr
    _, stored = _stored()
    assert stored == {"token": TOKEN}
    empty = glengarry(*_connect(sandbox, "--token", "-"), input="")
    assert empty.code == 2
    assert empty.stderr.strip() == "glengarry: --token -: nothing to read on stdin"


def test_without_a_client_secret_connect_warns_and_update_adds_it_later(
    glengarry: Glengarry, sandbox: SandboxServer
) -> None:
    done = glengarry(*_connect(sandbox, "--token", TOKEN))
    assert done.code == 0, done.stderr
    assert "webhooks to /webhooks/hubspot/acme will be refused with 401" in done.stderr
    assert "glengarry connections update acme --client-secret -" in done.stderr
    assert json.loads(glengarry("connections", "list").stdout)["webhooks_verified"] is False

    # Before: "a connection named 'acme' already exists"; now the secret is added in place.
    added = glengarry("connections", "update", "acme", "--client-secret", "-", input=APP_SECRET)
    assert added.code == 0, added.stderr
    assert added.json() == {"connection": "acme", "changed": ["credentials.app_client_secret"]}
    assert json.loads(glengarry("connections", "list").stdout)["webhooks_verified"] is True
    _, stored = _stored()
    assert stored == {"token": TOKEN, "app_client_secret": APP_SECRET}

    # An exported variable changes it too, and the output says where the value came from.
    env = glengarry("connections", "update", "acme", env={"GLENGARRY_CLIENT_SECRET": "rotated"})
    assert env.json()["changed"] == ["credentials.app_client_secret (from GLENGARRY_CLIENT_SECRET)"]
    same = glengarry("connections", "update", "acme", env={"GLENGARRY_CLIENT_SECRET": "rotated"})
    assert same.json()["changed"] == []


def test_update_changes_settings_and_refuses_credentials_of_another_portal(
    glengarry: Glengarry, sandbox: SandboxServer
) -> None:
    assert glengarry(*_connect(sandbox, "--token", TOKEN, "--client-secret", APP_SECRET)).code == 0
    changed = glengarry(
        "connections", "update", "acme", "--budget-share", "0.2", "--app-type", "private-starter"
    )
    assert changed.code == 0, changed.stderr
    assert changed.json()["changed"] == ["app_type", "api_budget_share"]
    connection, _ = _stored()
    assert (connection.options["app_type"], connection.api_budget_share) == ("private-starter", 0.2)

    with SandboxServer(SandboxConfig(rate_limits="off", portal_id=90_000_777)) as other:
        moved = glengarry(
            "connections", "update", "acme", "--base-url", other.base_url, "--token", TOKEN
        )
    assert moved.code == 1
    assert "reach portal 90000777, but 'acme' is connected to portal 90000001" in moved.stderr
    connection, stored = _stored()
    assert connection.options["base_url"] == sandbox.base_url
    assert stored == {"token": TOKEN, "app_client_secret": APP_SECRET}


def test_conflicting_properties_fail_connect_and_sync_until_a_reinstall_finds_them_fixed(
    glengarry: Glengarry, sandbox: SandboxServer
) -> None:
    response = httpx.post(
        f"{sandbox.base_url}/crm/v3/properties/contacts",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "name": "glengarry_score",
            "label": "Score",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
    )
    assert response.status_code == 201
    sandbox.store.create("contacts", {"email": "ada@example.com", "jobtitle": "VP Sales"})

    connect = glengarry(*_connect(sandbox, "--token", TOKEN, "--client-secret", APP_SECRET))
    assert connect.code == 3
    assert connect.json()["fields"]["glengarry_score"] == "conflict"
    assert "glengarry_score: exists as a string property (Glengarry needs number)" in connect.stderr
    assert "`glengarry connections update acme --reinstall`" in connect.stderr
    listed = json.loads(glengarry("connections", "list").stdout)
    assert listed["fields"] == "conflict"
    assert set(listed["conflicts"]) == {"glengarry_score"}

    sync = glengarry("sync", "acme")
    assert sync.code == 3
    assert sync.json()["state"] == "partial"
    assert sync.json()["written"] == 0
    assert "write-back refused" in sync.stderr
    assert not any(o.properties.get("glengarry_score") for o in sandbox.store.all("contacts"))

    with sandbox.store.locked() as store:  # the admin deletes their property
        del store.definitions["contacts"]["glengarry_score"]
    # Nothing but the name: the stored URL and credentials are used, and left as they are.
    again = glengarry("connect", "hubspot", "--name", "acme", "--reinstall")
    assert again.code == 0, again.stderr
    assert again.json()["fields"]["glengarry_score"] == "created"
    assert again.json()["changed"] == ["field_state"]
    synced = glengarry("sync", "acme")
    assert synced.code == 0, synced.stderr
    assert (synced.json()["state"], synced.json()["written"]) == ("succeeded", 1)


def test_every_secret_option_reads_its_environment_variable_listed_in_the_readme() -> None:
    import typer as typer_module

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    def find(*path: str) -> Any:
        found: Any = typer_module.main.get_group(cli)
        for name in path:
            found = found.commands[name]
        return found

    for command in (find("connect", "hubspot"), find("connections", "update")):
        options = {opt: param for param in command.params for opt in getattr(param, "opts", [])}
        for flag, variable in secrets.environment().items():
            assert options[flag].envvar == variable, (command.name, flag)
            assert f"| `{flag}` | `{variable}` |" in readme


def test_show_has_the_health_the_cursor_as_a_date_and_the_last_runs(
    glengarry: Glengarry, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert glengarry(*_connect(sandbox, "--token", TOKEN)).code == 0
    before = datetime.now(UTC)
    synced = glengarry("sync", "acme")
    assert synced.code == 0, synced.stderr
    shown = glengarry("connections", "show", "acme")
    assert shown.code == 0, shown.stderr
    body = shown.json()
    # The cursor as the instant the next sync reads changes from: when this backfill began.
    cursor_at = datetime.fromisoformat(body["cursor_at"])
    assert before - timedelta(seconds=5) <= cursor_at <= datetime.now(UTC)
    assert body["cursor"] != body["cursor_at"]
    assert body["health"]["last_sync_state"] == "succeeded"
    assert body["health"]["outbox_pending"] == 0
    assert [(r["id"], r["kind"], r["state"]) for r in body["last_runs"]] == [
        (synced.json()["run"], "backfill", "succeeded")
    ]
    assert (body["writes_enabled"], body["paused"]) == (True, False)  # the settings
    assert "realtime" in body  # the set-up
    listed = json.loads(glengarry("connections", "list").stdout)
    assert listed["cursor_at"] == body["cursor_at"]
    # On a terminal: one row per field, what is nested shown whole.
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    table = glengarry("connections", "show", "acme").stdout
    assert not table.lstrip().startswith("{")
    assert "last_sync_state" in table
    assert "cursor_at" in table
