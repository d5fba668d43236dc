"""Rejected records: listed with the CRM's reason and the values tried; retried (all or some)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.api import create_app
from app.clock import ManualClock
from app.db import session_factory
from app.models import AuditEntry, Contact, OutboxEntry
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker

TOKEN = "rejects-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
REASON = "VALIDATION_ERROR: lifecycle stage cannot go backwards"


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
        acme, other = add_connection(session, "acme"), add_connection(session, "other")
        for connection, crm_id in ((acme, "101"), (acme, "102"), (acme, "103"), (other, "9")):
            contact = Contact(connection_id=connection, crm_id=crm_id)
            session.add(contact)
            session.flush()
            session.add(
                OutboxEntry(
                    connection_id=connection,
                    contact_id=contact.id,
                    field_values={"glengarry_status": "sales_ready"},
                    state="failed",
                    attempts=8,
                    last_error=REASON,
                    last_attempt_at=NOW - timedelta(minutes=5),
                )
            )
        # 103 was written since: its old refusal is no reject any more.
        replaced = session.scalars(select(Contact).where(Contact.crm_id == "103")).one()
        session.add(
            OutboxEntry(connection_id=acme, contact_id=replaced.id, field_values={}, state="sent")
        )
    return rt


def test_rejects_are_listed_with_the_reason_and_the_values_tried(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    listed = client.get("/connections/acme/rejects", headers=ADMIN).json()
    assert [r["crm_id"] for r in listed] == ["101", "102"]
    assert listed[0]["reason"] == REASON
    assert listed[0]["values"] == {"glengarry_status": "sales_ready"}
    assert listed[0]["attempts"] == 8
    assert listed[0]["last_attempt_at"].startswith("2026-11-01T11:55")
    page = client.get(f"/connections/acme/rejects?after={listed[0]['id']}", headers=ADMIN).json()
    assert [r["crm_id"] for r in page] == ["102"]


def test_some_or_all_rejects_are_queued_again(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    first, second = client.get("/connections/acme/rejects", headers=ADMIN).json()
    other = client.get("/connections/other/rejects", headers=ADMIN).json()[0]
    # Another connection's reject is not this one's to retry.
    some = client.post(
        "/connections/acme/rejects/retry", json={"ids": [first["id"], other["id"]]}, headers=ADMIN
    )
    assert (some.status_code, some.json()) == (202, {"queued": [first["id"]]})
    assert cast(RecordingWaker, runtime.wake).relays == [1]
    with runtime.sessions() as session:
        entry = session.get(OutboxEntry, first["id"])
        assert entry is not None
        assert (entry.state, entry.attempts, entry.next_attempt_at) == ("pending", 0, NOW)
    assert [r["id"] for r in client.get("/connections/acme/rejects", headers=ADMIN).json()] == [
        second["id"]
    ]
    rest = client.post("/connections/acme/rejects/retry", headers=ADMIN)
    assert rest.json() == {"queued": [second["id"]]}
    assert client.post("/connections/acme/rejects/retry", headers=ADMIN).json() == {"queued": []}
    with runtime.sessions() as session:
        audited = session.scalars(select(AuditEntry.details)).all()
    assert audited[0] == {"asked": 2, "queued": 1}
    assert audited[1] == {"asked": "all", "queued": 1}
    assert cast(ManualClock, runtime.clock).now() == NOW


@pytest.mark.parametrize("body", [{"ids": "all"}, {"ids": [0]}, {"id": [1]}, {"ids": [True]}])
def test_a_retry_request_is_strict(runtime: Runtime, body: object) -> None:
    client = TestClient(create_app(runtime))
    answer = client.post("/connections/acme/rejects/retry", json=body, headers=ADMIN)
    assert answer.status_code == 422


def test_reading_needs_read_and_retrying_needs_operate(runtime: Runtime, glengarry: object) -> None:
    client = TestClient(create_app(runtime))
    made = client.post("/apikeys", json={"name": "viewer", "scope": "read"}, headers=ADMIN)
    reader = {"Authorization": f"Bearer {made.json()['key']}"}
    assert client.get("/connections/acme/rejects", headers=reader).status_code == 200
    assert client.post("/connections/acme/rejects/retry", headers=reader).status_code == 403
    assert client.get("/connections/acme/rejects").status_code == 401
