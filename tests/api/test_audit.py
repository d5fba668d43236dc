"""Every operator action #16 lists lands in the audit log with who did it (the key's name, or
`cli:USER`), whether it came through the API or the command line, and `GET /audit` lists it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api import create_app
from app.audit import cli_actor
from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from tests.api.test_access import _key, bearer
from tests.api.test_criteria_dry_run import CANDIDATE
from tests.cli import Glengarry
from tests.wakers import RecordingWaker


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(rate_limits="off", contacts=20)) as server:
        yield server


def test_every_operator_action_is_audited_with_who_did_it(
    fresh_engine: Engine, tmp_path: Path, glengarry: Glengarry, sandbox: SandboxServer
) -> None:
    def cli(*args: str) -> Any:
        done = glengarry(*args)
        assert done.code == 0, (args, done.stderr)
        return done.json()

    # The API's runtime reads the secret key the command line made (the same data directory).
    settings = load_settings(data_dir=tmp_path / "data")
    runtime = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    runtime.wake = RecordingWaker()
    client = TestClient(create_app(runtime))
    boss = bearer(_key(glengarry, "boss", "admin"))
    connect = ("connect", "hubspot", "--name", "acme", "--base-url", sandbox.base_url)
    cli(*connect, "--token", "sandbox-token")

    def api(method: str, path: str, status: int = 200, **body: Any) -> Any:
        answer = client.request(method, path, headers=boss, **body)
        assert answer.status_code == status, (path, answer.text)
        return answer.json() if answer.content else None

    api("POST", "/apikeys", 201, json={"name": "tmp", "scope": "read"})
    api("POST", "/apikeys/tmp/revoke")
    settings_path = "/connections/acme/settings"
    api("PATCH", settings_path, json={"writes_enabled": False})
    api("PATCH", settings_path, json={"api_budget_share": 0.25, "sync_interval_seconds": 1800})
    cli("connections", "writes", "acme", "--on")
    cli("connections", "update", "acme", "--budget-share", "0.3", "--app-type", "private-starter")
    api("POST", "/connections/acme/resync", 202, json={"full": True})
    run = api("POST", "/connections/acme/syncs", 202, json={"kind": "full"})
    api("POST", f"/syncs/{run['id']}/cancel")
    own = cli("sync", "acme", "--dry-run")["run"]
    version = api("POST", "/criteria/activate", json={"criteria": CANDIDATE})["version"]
    api("POST", "/connections/acme/rejects/retry", 202)
    api("POST", "/connections/acme/pause")
    api("POST", "/connections/acme/resume")
    api("DELETE", "/connections/acme")

    me = cli_actor()
    log = api("GET", "/audit")
    seen = [(e["actor"], e["action"], e["connection"], e["target"]) for e in reversed(log)]
    assert seen == [
        (me, "apikey.create", None, "boss"),
        (me, "connection.connect", "acme", None),
        ("boss", "apikey.create", None, "tmp"),
        ("boss", "apikey.revoke", None, "tmp"),
        ("boss", "writes.off", "acme", None),
        ("boss", "connection.settings", "acme", None),  # the budget share
        ("boss", "connection.settings", "acme", None),  # the sync interval
        (me, "writes.on", "acme", None),
        (me, "connection.settings", "acme", None),
        (me, "connection.update", "acme", None),
        ("boss", "resync", "acme", None),
        ("boss", "sync.start", "acme", str(run["id"])),
        ("boss", "sync.cancel", "acme", str(run["id"])),
        (me, "sync.start", "acme", str(own)),
        ("boss", "criteria.activate", None, version),
        ("boss", "rejects.retry", "acme", None),
        ("boss", "connection.pause", "acme", None),
        ("boss", "connection.resume", "acme", None),
        ("boss", "connection.delete", "acme", None),
    ]
    details = [e["details"] for e in reversed(log)]
    assert details[1]["account_id"] == str(sandbox.config.portal_id)
    assert [details[i] for i in (5, 6, 8)] == [
        {"setting": "api_budget_share", "from": 0.5, "to": 0.25},
        {"setting": "sync_interval_seconds", "from": None, "to": 1800},
        {"setting": "api_budget_share", "from": 0.25, "to": 0.3},
    ]
    assert details[9] == {"changed": ["app_type"], "reinstall": False}
    assert details[13] == {"kind": "backfill", "dry_run": True}
