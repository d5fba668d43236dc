"""Syncs through the API: queued as a run (409 while one is there), shown with progress,
cancelled at a batch boundary with what was done kept, and streamed as server-sent events."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from app.api import create_app
from app.clock import ManualClock
from app.db import session_factory
from app.models import AuditEntry, Connection, Contact, SyncRun
from app.runtime import Runtime
from app.settings import load_settings
from app.sync import lease
from app.sync.run import SyncRunner
from app.syncs import cancel
from app.vault import Vault
from app.worker import jobs
from connectors.base import ContactBatch, CrmActivity, CrmContact, FieldWrite, WriteOutcome
from connectors.errors import BudgetExhausted, DailyLimitReached
from tests.cli import Glengarry
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker

TOKEN = "syncs-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, api_token=TOKEN)
    rt = Runtime(
        settings,
        fresh_engine,
        session_factory(fresh_engine),
        Vault.from_settings(settings),
        ManualClock(NOW),
    )
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        for name in ("acme", "other"):
            add_connection(session, name)
        for connection in session.scalars(select(Connection)):
            connection.writes_enabled = False  # these tests are about the pull
    return rt


def _waker(runtime: Runtime) -> RecordingWaker:
    return cast(RecordingWaker, runtime.wake)


def test_a_sync_is_queued_once_and_a_second_is_409_with_the_first(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    answer = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN)
    assert answer.status_code == 202
    run = answer.json()
    assert (run["state"], run["kind"], run["progress"]) == (
        "queued",
        "backfill",
        {"done": 0, "total": None},
    )
    assert _waker(runtime).sync_runs == [(1, run["id"])]
    again = client.post("/connections/acme/syncs", json={}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sync_running"
    assert again.json()["error"]["details"]["id"] == run["id"]
    assert len(_waker(runtime).sync_runs) == 1
    # Another connection is not held up.
    assert client.post("/connections/other/syncs", headers=ADMIN, json={}).status_code == 202
    assert client.get(f"/syncs/{run['id']}", headers=ADMIN).json()["state"] == "queued"
    listed = client.get("/connections/acme/syncs", headers=ADMIN).json()
    assert [r["id"] for r in listed] == [run["id"]]
    with runtime.sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions == ["sync.start", "sync.start"]


def test_a_run_whose_process_died_does_not_block_a_new_one_but_a_live_one_does(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    with runtime.sessions.begin() as session:
        acme = session.scalars(select(Connection).where(Connection.name == "acme")).one()
        dead = SyncRun(connection_id=acme.id, kind="backfill", state="running", started_at=NOW)
        session.add(dead)
        session.flush()
        dead_id = dead.id
    # Running, with no lease: its process is gone. The request fails it and queues a new run.
    answer = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN)
    assert answer.status_code == 202, answer.text
    shown = client.get(f"/syncs/{dead_id}", headers=ADMIN).json()
    assert shown["state"] == "failed"
    assert "abandoned" in json.dumps(shown), shown
    # A running sync whose lease is live is another process at work: 409 with it.
    with runtime.sessions.begin() as session:
        cancel(session, answer.json()["id"], NOW)
        live = SyncRun(connection_id=acme.id, kind="backfill", state="running", started_at=NOW)
        session.add(live)
        session.flush()
        live_id = live.id
    lease.acquire(runtime.sessions, acme.id, "worker@elsewhere", NOW, timedelta(minutes=2))
    again = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["error"]["details"]["id"] == live_id


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"kind": "full", "everything": True}, ["body", "everything"]),
        ({"dry_run": "yes"}, ["body", "dry_run"]),
        ({"dry_run": 1}, ["body", "dry_run"]),
        ({"kind": "weekly"}, ["body", "kind"]),
        ({"kind": "contacts"}, ["body"]),
        ({"kind": "full", "contact_ids": ["1"]}, ["body"]),
        ({"kind": "contacts", "contact_ids": [""]}, ["body", "contact_ids", 0]),
    ],
)
def test_a_sync_request_is_strict(runtime: Runtime, body: dict[str, Any], where: list[Any]) -> None:
    client = TestClient(create_app(runtime))
    answer = client.post("/connections/acme/syncs", json=body, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["loc"] == where
    assert _waker(runtime).sync_runs == []


def test_a_queued_sync_is_cancelled_at_once_and_an_ended_one_is_409(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={}, headers=ADMIN).json()
    cancelled = client.post(f"/syncs/{run['id']}/cancel", headers=ADMIN)
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")
    assert cancelled.json()["finished_at"] is not None
    assert client.post(f"/syncs/{run['id']}/cancel", headers=ADMIN).status_code == 409
    assert client.post("/connections/acme/syncs", json={}, headers=ADMIN).status_code == 202
    assert client.get("/syncs/999", headers=ADMIN).status_code == 404
    assert client.get("/syncs/99999999999", headers=ADMIN).status_code == 422


async def test_a_cancelled_queued_run_is_not_started_by_the_worker(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        run = SyncRun(connection_id=1, kind="incremental", state="queued", started_at=NOW)
        session.add(run)
        session.flush()
        run_id = run.id
        cancel(session, run_id, NOW)
    crm = Crm(pages=1)
    report = await SyncRunner(runtime, "1", run_id=run_id, connector_factory=crm.factory).run()
    assert report.state == "cancelled"
    assert crm.pages_read == 0


def test_scopes_and_connection_binding_hold_for_syncs(runtime: Runtime, glengarry: Any) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/other/syncs", json={}, headers=ADMIN).json()

    def key(name: str, scope: str, *extra: str) -> dict[str, str]:
        made = glengarry("apikey", "create", "--name", name, "--scope", scope, *extra)
        return {"Authorization": f"Bearer {made.json()['key']}"}

    reader = key("r", "read")
    assert client.get(f"/syncs/{run['id']}", headers=reader).status_code == 200
    assert client.post("/connections/acme/syncs", json={}, headers=reader).status_code == 403
    assert client.post(f"/syncs/{run['id']}/cancel", headers=reader).status_code == 403
    bound = key("acme-op", "operate", "--connection", "acme")
    for method, path in (
        ("GET", f"/syncs/{run['id']}"),
        ("POST", f"/syncs/{run['id']}/cancel"),
        ("GET", f"/syncs/{run['id']}/events"),
        ("GET", "/connections/other/syncs"),
    ):
        assert client.request(method, path, headers=bound).status_code == 404, path
    assert client.get(f"/syncs/{run['id']}", headers={}).status_code == 401


class Crm:
    """Pages of 1,000 contacts; after the first, each waits for the test to let it come."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.pages_read = 0
        self.gates = [asyncio.Event() for _ in range(pages)]
        self.asked: list[str] = []

    def factory(self, *_args: Any, **_kwargs: Any) -> Crm:
        return self

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        for page in range(self.pages):
            if page:
                await self.gates[page].wait()
            self.pages_read += 1
            contacts = [
                CrmContact(str(page * 1000 + i), {"email": f"p{page}-{i}@acme.test"}, NOW)
                for i in range(1000)
            ]
            yield ContactBatch(contacts, f"cursor-{page}")

    async def read_contacts(self, crm_ids: Sequence[str]) -> Sequence[CrmContact]:
        self.asked = list(crm_ids)
        return [CrmContact(i, {"email": f"{i}@acme.test"}, NOW) for i in crm_ids]

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        return []

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        return WriteOutcome([], {})

    async def aclose(self) -> None:
        return None


async def _until(condition: Any, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_progress_is_seen_before_the_end_and_a_cancel_stops_at_a_batch_boundary(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN).json()
    crm = Crm(pages=3)
    work = asyncio.ensure_future(
        SyncRunner(runtime, "acme", run_id=run["id"], connector_factory=crm.factory).run()
    )

    def shown() -> dict[str, Any]:
        return cast(dict[str, Any], client.get(f"/syncs/{run['id']}", headers=ADMIN).json())

    await _until(lambda: shown()["progress"]["done"] == 1000, "the first batch counted")
    cast(ManualClock, runtime.clock).advance(timedelta(seconds=10))
    midway = shown()
    assert midway["state"] == "running"
    assert midway["rate"] == 100.0  # 1,000 contacts in 10 seconds
    assert client.post(f"/syncs/{run['id']}/cancel", headers=ADMIN).json()["state"] == (
        "cancelling"
    )
    crm.gates[1].set()  # the second page comes: its batch is stored, then the sync stops
    report = await asyncio.wait_for(work, 30)
    assert report.state == "cancelled"
    assert crm.pages_read == 2
    ended = shown()
    assert (ended["state"], ended["progress"]["done"]) == ("cancelled", 2000)
    assert "2000 contacts done are kept" in ended["error"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2000


async def test_the_command_lines_cancel_stops_a_running_sync_at_a_batch_boundary(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN).json()
    crm = Crm(pages=3)
    work = asyncio.ensure_future(
        SyncRunner(runtime, "acme", run_id=run["id"], connector_factory=crm.factory).run()
    )

    def shown() -> dict[str, Any]:
        return cast(dict[str, Any], client.get(f"/syncs/{run['id']}", headers=ADMIN).json())

    await _until(lambda: shown()["progress"]["done"] == 1000, "the first batch counted")
    asked = glengarry("cancel", str(run["id"]))
    assert asked.code == 0, asked.stderr
    assert (asked.json()["state"], asked.json()["progress"]["done"]) == ("cancelling", 1000)
    crm.gates[1].set()  # the second page's batch is stored, then the sync stops
    report = await asyncio.wait_for(work, 30)
    assert (report.state, crm.pages_read) == ("cancelled", 2)
    assert (shown()["state"], shown()["progress"]["done"]) == ("cancelled", 2000)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2000


async def test_a_contacts_sync_reads_the_contacts_asked_for(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = {"kind": "contacts", "contact_ids": ["11", "12"], "dry_run": True}
    run = client.post("/connections/acme/syncs", json=body, headers=ADMIN).json()
    crm = Crm(pages=0)
    # The worker takes the queued run up even when woken without its id (a periodic sync).
    runner = SyncRunner(runtime, "acme", connector_factory=crm.factory, take_queued=True)
    report = await runner.run()
    assert report.run_id == run["id"]
    assert crm.asked == ["11", "12"]
    ended = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert (ended["state"], ended["kind"], ended["dry_run"]) == ("succeeded", "contacts", True)
    assert ended["progress"] == {"done": 2, "total": 2}


def test_the_sweeper_wakes_a_queued_sync_again(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={}, headers=ADMIN).json()
    _waker(runtime).sync_runs.clear()  # the wake-up was lost
    jobs.sweep(runtime)
    assert _waker(runtime).sync_runs == [(1, run["id"])]


def test_events_stream_the_run_until_it_ends(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={}, headers=ADMIN).json()
    states: list[str] = []
    with client.stream("GET", f"/syncs/{run['id']}/events", headers=ADMIN) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[6:])["state"])
                if len(states) == 1:  # cancelled from elsewhere while the stream is open
                    threading.Thread(target=_cancel, args=(runtime, run["id"])).start()
    assert states == ["queued", "cancelled"]


def _cancel(runtime: Runtime, run_id: int) -> None:
    with runtime.sessions.begin() as session:
        cancel(session, run_id, NOW)


async def test_a_command_line_sync_leaves_a_queued_one_to_the_workers(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = {"kind": "contacts", "contact_ids": ["11"], "dry_run": True}
    queued = client.post("/connections/acme/syncs", json=body, headers=ADMIN).json()
    report = await SyncRunner(runtime, "acme", connector_factory=Crm(pages=1).factory).run()
    assert report.run_id != queued["id"]
    assert client.get(f"/syncs/{queued['id']}", headers=ADMIN).json()["state"] == "queued"


async def test_a_resyncs_total_is_what_is_stored_and_is_exact_at_the_end(
    runtime: Runtime,
) -> None:
    first = Crm(pages=2)
    for gate in first.gates:
        gate.set()
    await SyncRunner(runtime, "acme", connector_factory=first.factory).run()  # 2,000 stored
    client = TestClient(create_app(runtime))
    run = client.post("/connections/acme/syncs", json={"kind": "full"}, headers=ADMIN).json()
    crm = Crm(pages=3)  # the CRM holds 1,000 more by now
    work = asyncio.ensure_future(
        SyncRunner(runtime, "acme", run_id=run["id"], connector_factory=crm.factory).run()
    )

    def progress() -> dict[str, Any]:
        shown = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
        return cast(dict[str, Any], shown["progress"])

    await _until(lambda: progress()["done"] == 1000, "the first batch counted")
    assert progress() == {"done": 1000, "total": 2000}  # an intermediate value: half way
    crm.gates[1].set()
    await _until(lambda: progress()["done"] == 2000, "the second batch counted")
    crm.gates[2].set()
    report = await asyncio.wait_for(work, 30)
    assert report.state == "succeeded"
    assert progress() == {"done": 3000, "total": 3000}


class SpentCrm(Crm):
    """Its first page comes, then the API budget is spent (`error`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(pages=2)
        self.gates[1].set()
        self.error = error

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        async for batch in super().contacts(since):
            if self.pages_read == 2:
                raise self.error
            yield batch


async def test_a_run_paused_on_the_budget_says_when_it_resumes_and_the_schedule_waits(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    acme = 1
    frees = NOW + timedelta(hours=7)
    run = client.post("/connections/acme/syncs", json={}, headers=ADMIN).json()
    assert run["resumes_at"] is None
    crm = SpentCrm(BudgetExhausted("day limit 10/day reached", resumes_at=frees))
    runner = SyncRunner(runtime, "acme", run_id=run["id"], connector_factory=crm.factory)
    report = await runner.run()
    assert (report.state, report.resumes_at) == ("paused", frees)
    shown = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert (shown["state"], shown["progress"]["done"]) == ("paused", 1000)
    assert datetime.fromisoformat(shown["resumes_at"]) == frees
    assert (
        client.get("/connections/acme/syncs", headers=ADMIN).json()[0]["resumes_at"]
        == (shown["resumes_at"])
    )
    # The schedule does not spend calls on refusals before then; the other connection is due.
    clock = cast(ManualClock, runtime.clock)
    clock.advance(timedelta(hours=1))
    assert jobs.due_syncs(runtime) == [2]
    clock.advance(timedelta(hours=6, seconds=1))
    assert jobs.due_syncs(runtime) == [acme, 2]


async def test_a_budget_the_crm_keeps_resumes_at_the_next_scheduled_try(runtime: Runtime) -> None:
    # A CRM's own day (HubSpot's DAILY 429, Salesforce's rolling 24 hours) does not say when it
    # frees calls: the run resumes with the connection's own interval, or the default.
    with runtime.sessions.begin() as session:
        acme = session.get(Connection, 1)
        assert acme is not None
        acme.sync_interval_seconds = 1800
    for name, interval in (("acme", timedelta(minutes=30)), ("other", timedelta(minutes=5))):
        crm = SpentCrm(DailyLimitReached("HubSpot daily limit reached"))
        report = await SyncRunner(runtime, name, connector_factory=crm.factory).run()
        assert report.state == "paused"
        shown = TestClient(create_app(runtime)).get(f"/syncs/{report.run_id}", headers=ADMIN)
        assert datetime.fromisoformat(shown.json()["resumes_at"]) == NOW + interval


async def test_a_sync_logs_one_info_line_per_batch_not_per_contact(runtime: Runtime) -> None:
    crm = Crm(pages=3)
    for gate in crm.gates:
        gate.set()
    with capture_logs() as logs:
        report = await SyncRunner(runtime, "acme", connector_factory=crm.factory).run()
    assert report.state == "succeeded"
    batches = [e for e in logs if e["event"] == "sync batch stored"]
    assert [(e["log_level"], e["contacts"], e["done"]) for e in batches] == [
        ("info", 1000, 1000),
        ("info", 1000, 2000),
        ("info", 1000, 3000),
    ]
    assert len(logs) < 10  # started, three batches, finished: nothing per contact
