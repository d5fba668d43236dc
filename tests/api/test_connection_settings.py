"""Pause, resume, a sync interval of its own, and delete (kept or purged) through the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.api import create_app
from app.models import (
    AuditEntry,
    Connection,
    Contact,
    FieldInstallState,
    InboxEvent,
    OutboxEntry,
    QualificationRecord,
    SyncCursor,
    SyncRun,
)
from app.models.base import Base
from app.models.sync import SyncKind, SyncState
from app.runtime import Runtime
from app.worker import jobs
from connectors.base import FieldWrite, WriteOutcome
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.api.test_access import _key, bearer
from tests.api.test_webhooks import _runtime as webhook_runtime
from tests.api.test_webhooks import event, inbox_rows, post
from tests.cli import Glengarry
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    rt = webhook_runtime(fresh_engine, tmp_path)
    with rt.sessions.begin() as session:
        other = create_hubspot(
            session,
            rt.vault,
            name="other",
            credentials=HubSpotCredentials(token="pat2", app_client_secret="x"),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        other.account_id = "777"
    return rt


@pytest.fixture
def admin(glengarry: Glengarry) -> dict[str, str]:
    return bearer(_key(glengarry, "ops", "admin"))


def _id(runtime: Runtime, name: str) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(Connection.id).where(Connection.name == name))
        assert found is not None
        return found


def test_pause_and_resume_need_admin_are_audited_and_404_for_unknown(
    runtime: Runtime, glengarry: Glengarry, admin: dict[str, str]
) -> None:
    client = TestClient(create_app(runtime))
    operator = bearer(_key(glengarry, "op", "operate"))
    assert client.post("/connections/acme/pause", headers=operator).status_code == 403
    assert client.post("/connections/nope/pause", headers=admin).status_code == 404
    answer = client.post("/connections/acme/pause", headers=admin)
    assert answer.status_code == 200
    assert answer.json()["paused"] is True
    assert client.get("/connections/acme", headers=admin).json()["paused"] is True
    answer = client.post("/connections/acme/resume", headers=admin)
    assert answer.json()["paused"] is False
    with runtime.sessions() as session:
        actions = session.execute(
            select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id)
        ).all()
    assert [tuple(a) for a in actions][-2:] == [
        ("ops", "connection.pause"),
        ("ops", "connection.resume"),
    ]


def test_a_paused_connection_refuses_syncs_skips_schedules_and_keeps_its_webhooks(
    runtime: Runtime, admin: dict[str, str]
) -> None:
    client = TestClient(create_app(runtime))
    acme = _id(runtime, "acme")
    assert acme in jobs.due_syncs(runtime)
    client.post("/connections/acme/pause", headers=admin)
    refused = client.post("/connections/acme/syncs", json={}, headers=admin)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "connection_paused",
            "message": "connection 'acme' is paused: no sync runs until "
            "POST /connections/acme/resume",
            "details": None,
        }
    }
    resync = client.post("/connections/acme/resync", headers=admin)
    assert (resync.status_code, resync.json()) == (409, refused.json())
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
    assert acme not in jobs.due_syncs(runtime)
    assert _id(runtime, "other") in jobs.due_syncs(runtime)
    # Webhooks are still taken in, and wait: nothing is processed while paused.
    body = json.dumps([event(1)]).encode()
    assert post(client, "/webhooks/hubspot/acme", body).status_code == 200
    assert inbox_rows(runtime.sessions) == 1
    asyncio.run(jobs.process_inbox(runtime, acme))
    with runtime.sessions() as session:
        waiting = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.processed_at.is_(None))
        )
    assert waiting == 1
    client.post("/connections/acme/resume", headers=admin)
    assert client.post("/connections/acme/syncs", json={}, headers=admin).status_code == 202


def test_a_connection_syncs_on_its_own_interval(runtime: Runtime, admin: dict[str, str]) -> None:
    client = TestClient(create_app(runtime))
    acme = _id(runtime, "acme")
    answer = client.patch(
        "/connections/acme/settings", json={"sync_interval_seconds": 1800}, headers=admin
    )
    assert answer.status_code == 200
    assert answer.json()["sync_interval_seconds"] == 1800
    bad = {"sync_interval_seconds": 5}
    assert client.patch("/connections/acme/settings", json=bad, headers=admin).status_code == 422
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        for cid in (acme, _id(runtime, "other")):
            session.add(
                SyncRun(
                    connection_id=cid,
                    kind=SyncKind.INCREMENTAL,
                    state=SyncState.SUCCEEDED,
                    started_at=now - timedelta(minutes=10),
                )
            )
    due = jobs.due_syncs(runtime)
    # 10 minutes ago: the default 5 minutes have passed, acme's own 30 have not.
    assert acme not in due
    assert _id(runtime, "other") in due
    with runtime.sessions.begin() as session:
        run = session.scalars(select(SyncRun).where(SyncRun.connection_id == acme)).one()
        run.started_at = now - timedelta(minutes=31)
    assert acme in jobs.due_syncs(runtime)


def _rows_of(session: Session, connection_id: int) -> dict[str, int]:
    """Rows per table that belong to the connection (every table with a connection_id)."""
    counts = {}
    for table in Base.metadata.sorted_tables:
        own = select(Contact.id).where(Contact.connection_id == connection_id)
        if "connection_id" in table.c:
            where = table.c.connection_id == connection_id
        elif "contact_id" in table.c:  # a contact's rows (its qualification, its history)
            where = table.c.contact_id.in_(own)
        elif table.name == "connections":
            where = table.c.id == connection_id
        else:
            continue
        counts[table.name] = session.scalar(select(func.count()).select_from(table).where(where))
    return counts


def _fill(runtime: Runtime, connection_id: int) -> None:
    with runtime.sessions.begin() as session:
        session.add(Contact(connection_id=connection_id, crm_id="1", properties={}))
        session.add(SyncCursor(connection_id=connection_id, object_type="contacts", cursor="{}"))
        session.add(
            SyncRun(connection_id=connection_id, kind=SyncKind.INCREMENTAL, state="succeeded")
        )


def test_delete_keeps_the_data_and_the_connection_is_unknown_afterwards(
    runtime: Runtime, admin: dict[str, str]
) -> None:
    client = TestClient(create_app(runtime))
    acme = _id(runtime, "acme")
    _fill(runtime, acme)
    body = json.dumps([event(1)]).encode()
    unknown = post(client, "/webhooks/hubspot/nope", body)
    answer = client.delete("/connections/acme", headers=admin)
    assert answer.status_code == 200
    assert answer.json() == {"connection": "acme", "purged": False}
    assert client.get("/connections/acme", headers=admin).status_code == 404
    assert [c["name"] for c in client.get("/connections", headers=admin).json()] == ["other"]
    # A deleted connection's webhook URL answers as an unknown connection's does.
    gone = post(client, "/webhooks/hubspot/acme", body)
    assert gone.status_code == unknown.status_code != 200
    assert acme not in jobs.due_syncs(runtime)
    with runtime.sessions() as session:
        kept = _rows_of(session, acme)
    assert kept["contacts"] == kept["sync_cursors"] == kept["sync_runs"] == 1


def test_purge_removes_everything_of_the_connection_and_nothing_else(
    runtime: Runtime, glengarry: Glengarry, admin: dict[str, str]
) -> None:
    client = TestClient(create_app(runtime))
    acme, other = _id(runtime, "acme"), _id(runtime, "other")
    for cid in (acme, other):
        _fill(runtime, cid)
    post(client, "/webhooks/hubspot/acme", json.dumps([event(1)]).encode())
    _key(glengarry, "acme-only", "read", "--connection", "acme")
    with runtime.sessions() as session:
        before_other = _rows_of(session, other)
        before = _rows_of(session, acme)
    assert before["webhook_inbox"] == 1
    assert before["api_keys"] == 1
    answer = client.delete("/connections/acme?purge=true", headers=admin)
    assert answer.json() == {"connection": "acme", "purged": True}
    with runtime.sessions() as session:
        assert set(_rows_of(session, acme).values()) == {0}
        assert _rows_of(session, other) == before_other
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "connection.delete")
        ).one()
    assert (audit.actor, audit.connection, audit.details) == ("ops", "acme", {"purge": True})


class Writer:
    """A CRM that takes every write, and remembers them."""

    def __init__(self) -> None:
        self.written: list[str] = []

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        self.written += [w.contact_crm_id for w in writes]
        return WriteOutcome([w.contact_crm_id for w in writes], {})

    async def aclose(self) -> None:
        return None


def test_the_outbox_holds_while_paused_and_sends_after_the_resume(
    runtime: Runtime, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(runtime))
    acme = _id(runtime, "acme")
    crm = Writer()
    monkeypatch.setattr(jobs.connections, "open_connector", lambda *_a, **_k: crm)
    with runtime.sessions.begin() as session:
        row = session.get(Connection, acme)
        assert row is not None
        row.field_state = FieldInstallState.INSTALLED
        contact = Contact(connection_id=acme, crm_id="501", properties={})
        session.add(contact)
        session.flush()
        now = runtime.clock.now()
        session.add(
            QualificationRecord(
                contact_id=contact.id,
                status="sales_ready",
                status_since=now,
                score=80,
                fit=40,
                engagement=40,
                engagement_state={},
                profile={},
                reasons=[],
                reasons_text="",
                criteria_version="v",
                computed_at=now,
            )
        )
        session.add(
            OutboxEntry(
                connection_id=acme,
                contact_id=contact.id,
                field_values={"glengarry_status": "sales_ready"},
                next_attempt_at=now - timedelta(minutes=1),
            )
        )
    waker = cast(RecordingWaker, runtime.wake)
    client.post("/connections/acme/pause", headers=admin)
    assert acme not in jobs.sweep(runtime)["outbox"]  # not woken every minute for nothing
    assert waker.relays == []
    held = asyncio.run(jobs.relay(runtime, acme))  # a wake-up from before the pause
    assert (held.sent, crm.written) == (0, [])

    def states() -> list[str]:
        with runtime.sessions() as session:
            return list(session.scalars(select(OutboxEntry.state)))

    assert states() == ["pending"]
    client.post("/connections/acme/resume", headers=admin)
    assert waker.relays == [acme]
    sent = asyncio.run(jobs.relay(runtime, acme))
    assert (sent.sent, crm.written) == (1, ["501"])
    assert states() == ["sent"]
