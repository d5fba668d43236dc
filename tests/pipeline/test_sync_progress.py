"""Progress against a sandbox that answers slowly: a resync's intermediate values are seen
before 100%, through the API (done, total, rate, ETA) and on the command line's bar (a
count to a total, not a pulse)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from rich.progress import Progress, TaskID
from sqlalchemy import Engine

from app.api import create_app
from app.cli import sync as sync_cli
from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import ACTIVITY_GROUP, SyncRunner
from app.vault import Vault
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.population import generate_population
from tests.cli import Glengarry
from tests.wakers import RecordingWaker

TOKEN = "progress-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
# More than one group of contacts stored and scored together (ACTIVITY_GROUP), so a resync
# has values between 0 and its total; every CRM call then takes a while, as over a network.
CONTACTS = ACTIVITY_GROUP + 200
LATENCY_MS = 20


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxServer]:
    end = datetime.now(UTC)
    members = generate_population(CONTACTS, 5, end - timedelta(days=90), end)
    with SandboxServer(SandboxConfig(rate_limits="off"), members=members) as server:
        yield server


@pytest.fixture
def backfilled(glengarry: Glengarry, slow_sandbox: SandboxServer) -> Glengarry:
    """acme connected and backfilled at full speed, then the sandbox slowed down: a full
    resync counts to the contacts stored."""
    connect = ("connect", "hubspot", "--name", "acme", "--base-url", slow_sandbox.base_url)
    connected = glengarry(*connect, "--token", "sandbox-token")
    assert connected.code == 0, connected.stderr
    assert glengarry("connections", "writes", "acme", "--off").code == 0  # about the pull
    first = glengarry("sync", "acme")
    assert first.code == 0, first.stderr
    assert first.json()["pulled"] == CONTACTS
    slowed = httpx.post(
        f"{slow_sandbox.base_url}/_sandbox/faults", json={"latency_ms": LATENCY_MS}, timeout=10
    )
    assert slowed.is_success, slowed.text
    return glengarry


async def test_the_api_shows_progress_before_the_end(
    backfilled: Glengarry, fresh_engine: Engine, tmp_path: Path
) -> None:
    # The command line's data directory: the API reads the credentials it stored.
    settings = load_settings(data_dir=tmp_path / "data", api_token=TOKEN)
    runtime = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    runtime.wake = RecordingWaker()
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN).json()
    work = asyncio.ensure_future(SyncRunner(runtime, "acme", run_id=run["id"]).run())
    seen: list[dict[str, Any]] = []
    while not work.done():
        shown = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
        seen.append(shown)
        await asyncio.sleep(0.01)  # the sync goes on meanwhile
    report = await work
    assert report.state == "succeeded"
    midway = [s for s in seen if 0 < s["progress"]["done"] < CONTACTS]
    assert midway, sorted({s["progress"]["done"] for s in seen})
    first = midway[0]
    assert (first["state"], first["progress"]["total"]) == ("running", CONTACTS)
    assert (first["rate"] or 0) > 0
    assert (first["eta_seconds"] or 0) > 0
    ended = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert ended["progress"] == {"done": CONTACTS, "total": CONTACTS}
    assert (ended["state"], ended["eta_seconds"]) == ("succeeded", None)


class RecordingProgress(Progress):
    """The command's own bar, each update kept: what it counted, and to what."""

    updates: list[tuple[float | None, float | None]] = []

    def update(self, task_id: TaskID, **fields: Any) -> None:
        super().update(task_id, **fields)
        task = self._tasks[task_id]
        RecordingProgress.updates.append((task.completed, task.total))


def test_the_command_lines_bar_counts_to_a_total(
    backfilled: Glengarry, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = sync_cli._bar

    def recording() -> Progress:
        bar = made()
        return RecordingProgress(*bar.columns, console=bar.console, transient=True)

    RecordingProgress.updates = []
    monkeypatch.setattr(sync_cli, "_bar", recording)
    done = backfilled("sync", "acme", "--full")
    assert done.code == 0, done.stderr
    updates = RecordingProgress.updates
    assert updates, "the bar was never updated"
    assert all(total == CONTACTS for _, total in updates), updates  # a total from the start
    assert any(0 < completed < CONTACTS for completed, _ in updates), updates
    assert updates[-1] == (CONTACTS, CONTACTS)
