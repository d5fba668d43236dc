"""Alerts: set per connection (the URL kept secret), sent once when a condition fires, again
only after `repeat_minutes`, resolved once when it clears; a failed post is tried again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.alerts import check_alerts
from app.api import create_app
from app.clock import ManualClock
from app.db import session_factory
from app.key_rotation import reencrypt_all
from app.models import AlertTarget, Connection, Contact, InboxEvent, OutboxEntry, SyncRun
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault, load_key_source
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker

TOKEN = "alerts-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
HOOK = "https://hooks.slack.test/services/T000/B000/SECRETPART"


class Posts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def __call__(self, url: str, body: dict[str, Any]) -> None:
        if self.down:
            raise ConnectionError("unreachable")
        self.sent.append((url, body["text"]))


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
        add_connection(session, "acme")
        add_connection(session, "other")
        for connection in session.scalars(select(Connection)):
            connection.created_at = NOW - timedelta(days=30)
    return rt


def _run(runtime: Runtime, state: str, kind: str = "incremental", **extra: Any) -> None:
    with runtime.sessions.begin() as session:
        session.add(
            SyncRun(
                connection_id=1,
                kind=kind,
                state=state,
                started_at=runtime.clock.now(),
                finished_at=runtime.clock.now(),
                **extra,
            )
        )


def _advance(runtime: Runtime, minutes: float) -> None:
    cast(ManualClock, runtime.clock).advance(timedelta(minutes=minutes))


def test_alerts_are_set_by_an_admin_and_their_url_is_never_shown(
    runtime: Runtime, glengarry: Any
) -> None:
    client = TestClient(create_app(runtime))
    answer = client.put("/connections/acme/alerts", json={"url": HOOK}, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json()["url"] == "https://hooks.slack.test/***"
    shown = client.get("/connections/acme/alerts", headers=ADMIN)
    assert "SECRETPART" not in shown.text
    assert "SECRETPART" not in client.get("/audit", headers=ADMIN).text
    with runtime.sessions() as session:
        stored = session.get(AlertTarget, 1)
        assert stored is not None
        assert b"SECRETPART" not in stored.url
    made = glengarry("apikey", "create", "--name", "r", "--scope", "read")
    reader = {"Authorization": f"Bearer {made.json()['key']}"}
    refused = client.put("/connections/acme/alerts", json={"url": HOOK}, headers=reader)
    assert refused.status_code == 403
    for bad in ({"url": "not a url"}, {"url": HOOK, "reject_share": 2}, {"url": HOOK, "x": 1}):
        assert client.put("/connections/acme/alerts", json=bad, headers=ADMIN).status_code == 422
    assert client.get("/connections/other/alerts", headers=ADMIN).status_code == 404
    assert client.delete("/connections/acme/alerts", headers=ADMIN).status_code == 204
    assert client.get("/connections/acme/alerts", headers=ADMIN).status_code == 404


def test_a_failed_sync_is_said_once_repeated_later_and_resolved(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    client.put("/connections/acme/alerts", json={"url": HOOK, "repeat_minutes": 60}, headers=ADMIN)
    posts = Posts()
    assert check_alerts(runtime, posts) == []
    _run(runtime, "failed", error="ConnectorError: 401 from HubSpot")
    assert check_alerts(runtime, posts) == [("acme", "sync_failed", "firing")]
    assert posts.sent[0][0] == HOOK
    assert "401 from HubSpot" in posts.sent[0][1]
    _advance(runtime, 10)
    assert check_alerts(runtime, posts) == []  # deduplicated
    firing = client.get("/connections/acme/alerts", headers=ADMIN).json()["firing"]
    assert list(firing) == ["sync_failed"]
    _advance(runtime, 60)
    assert check_alerts(runtime, posts) == [("acme", "sync_failed", "still firing")]
    _run(runtime, "succeeded", counts={"pulled": 0})
    assert check_alerts(runtime, posts) == [("acme", "sync_failed", "resolved")]
    assert posts.sent[-1][1].startswith("[glengarry] acme: sync_failed resolved")
    assert check_alerts(runtime, posts) == []


def test_an_alert_that_could_not_be_sent_is_sent_at_the_next_check(runtime: Runtime) -> None:
    TestClient(create_app(runtime)).put(
        "/connections/acme/alerts", json={"url": HOOK}, headers=ADMIN
    )
    _run(runtime, "paused", error="BudgetExhausted: the day's share is spent")
    posts = Posts()
    posts.down = True
    assert check_alerts(runtime, posts) == []
    posts.down = False
    assert check_alerts(runtime, posts) == [("acme", "budget_spent", "firing")]


def test_rejects_and_a_silent_subscription_fire(runtime: Runtime) -> None:
    TestClient(create_app(runtime)).put(
        "/connections/acme/alerts", json={"url": HOOK, "reject_share": 0.5}, headers=ADMIN
    )
    with runtime.sessions.begin() as session:
        for crm_id, state in (("1", "failed"), ("2", "sent")):
            contact = Contact(connection_id=1, crm_id=crm_id)
            session.add(contact)
            session.flush()
            session.add(
                OutboxEntry(
                    connection_id=1,
                    contact_id=contact.id,
                    field_values={},
                    state=state,
                    created_at=NOW - timedelta(hours=1),
                )
            )
    # The CRM shows changes, and no webhook has come for hours.
    _run(runtime, "succeeded", counts={"pulled": 3})
    sent = check_alerts(runtime, Posts())
    assert sorted(sent) == [
        ("acme", "rejects", "firing"),
        ("acme", "silent_subscription", "firing"),
    ]


def test_alert_urls_are_rotated_with_the_credentials(runtime: Runtime) -> None:
    TestClient(create_app(runtime)).put(
        "/connections/acme/alerts", json={"url": HOOK}, headers=ADMIN
    )
    old = load_key_source(runtime.settings).keys
    fresh = Fernet.generate_key()
    new = Vault((fresh, *old))
    with runtime.sessions.begin() as session:  # the test connections' credentials are fake
        for connection in session.scalars(select(Connection)):
            connection.credentials = runtime.vault.encrypt({"token": "x"})
    reencrypt_all(runtime.sessions, new)
    with runtime.sessions() as session:
        target = session.get(AlertTarget, 1)
        assert target is not None
        assert Vault((fresh,)).decrypt(target.url)["url"] == HOOK


def test_a_webhook_backlog_and_an_outbox_lag_fire_and_resolve_when_they_clear(
    runtime: Runtime,
) -> None:
    TestClient(create_app(runtime)).put(
        "/connections/acme/alerts",
        json={"url": HOOK, "inbox_backlog": 2, "outbox_lag_minutes": 30},
        headers=ADMIN,
    )
    with runtime.sessions.begin() as session:
        for i in range(3):  # one over the threshold
            session.add(
                InboxEvent(
                    source="hubspot", connection_id=1, dedup_key=f"e{i}", event={}, received_at=NOW
                )
            )
        contact = Contact(connection_id=1, crm_id="9")
        session.add(contact)
        session.flush()
        session.add(
            OutboxEntry(
                connection_id=1,
                contact_id=contact.id,
                field_values={},
                state="pending",
                created_at=NOW - timedelta(minutes=20),
            )
        )
    posts = Posts()
    assert check_alerts(runtime, posts) == [("acme", "webhook_backlog", "firing")]
    assert "3 webhook events waiting (threshold 2)" in posts.sent[-1][1]
    _advance(runtime, 15)  # the write has waited 35 minutes now
    assert check_alerts(runtime, posts) == [("acme", "outbox_lag", "firing")]
    assert "waits for 35 minutes" in posts.sent[-1][1]
    with runtime.sessions.begin() as session:
        for event in session.scalars(select(InboxEvent)):
            event.processed_at = runtime.clock.now()
        for entry in session.scalars(select(OutboxEntry)):
            entry.state = "sent"
    assert sorted(check_alerts(runtime, posts)) == [
        ("acme", "outbox_lag", "resolved"),
        ("acme", "webhook_backlog", "resolved"),
    ]
