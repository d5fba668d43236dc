"""The webhook receiver: signature first, validation, one inbox row per event, a fast 2xx."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.api import create_app
from app.connections import HubSpotCredentials, create_hubspot
from app.db import session_factory
from app.models import InboxEvent
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from tests.wakers import RecordingWaker

SECRET = "app-secret-for-tests"
PORTAL = "62515"
OCCURRED = int(time.time() * 1000)  # fixed: a retried event is the same event


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, webhook_max_body_bytes=4096)
    rt = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        connection = create_hubspot(
            session,
            rt.vault,
            name="acme",
            # The CRM is unreachable on purpose: the receiver must never call it.
            credentials=HubSpotCredentials(token="pat", app_client_secret=SECRET),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        connection.account_id = PORTAL
    return rt


def event(event_id: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 3,
        "portalId": int(PORTAL),
        "appId": 9,
        "occurredAt": OCCURRED,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 100 + event_id,
        "propertyName": "jobtitle",
        "propertyValue": "VP Sales",
        **extra,
    }


def post(
    client: TestClient, path: str, body: bytes, *, secret: str = SECRET, age: float = 0
) -> Any:
    ts = int((datetime.now(UTC) - timedelta(seconds=age)).timestamp() * 1000)
    url = f"http://testserver{path}"
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, ts),
        "X-HubSpot-Request-Timestamp": str(ts),
    }
    return client.post(path, content=body, headers=headers)


def inbox_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(InboxEvent)) or 0


def test_a_signed_delivery_is_stored_once_per_event_and_wakes_the_worker(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = json.dumps([event(1), event(2)]).encode()
    answer = post(client, "/webhooks/hubspot/acme", body)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 2, "duplicates": 0, "ignored": 0}
    # HubSpot retries: same events, new attempt numbers. Nothing new is stored or woken.
    retry = json.dumps([event(1, attemptNumber=1), event(2, attemptNumber=2)]).encode()
    assert post(client, "/webhooks/hubspot/acme", retry).json()["duplicates"] == 2
    assert inbox_rows(runtime.sessions) == 2
    assert cast(RecordingWaker, runtime.wake).inboxes == [1]
    with runtime.sessions() as session:
        assert all(e.processed_at is None for e in session.scalars(select(InboxEvent)))


@pytest.mark.parametrize(
    ("secret", "age", "why"),
    [("not-the-secret", 0, "does not match"), (SECRET, 400, "stale")],
)
def test_wrongly_signed_or_stale_deliveries_are_401_and_store_nothing(
    runtime: Runtime, secret: str, age: float, why: str
) -> None:
    client = TestClient(create_app(runtime))
    answer = post(
        client, "/webhooks/hubspot/acme", json.dumps([event()]).encode(), secret=secret, age=age
    )
    assert answer.status_code == 401
    assert why in answer.json()["detail"]
    assert inbox_rows(runtime.sessions) == 0


def test_an_unsigned_delivery_is_401(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    answer = client.post("/webhooks/hubspot/acme", content=json.dumps([event()]))
    assert answer.status_code == 401
    assert inbox_rows(runtime.sessions) == 0


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'{"eventId": 1}', 400, "JSON array"),
        (json.dumps([{"eventId": 1}]).encode(), 400, "subscriptionId"),
        (json.dumps([event(i) for i in range(40)]).encode(), 413, "larger than 4096"),
    ],
)
def test_bodies_that_are_not_events_or_too_large_are_refused_and_nothing_stored(
    runtime: Runtime, body: bytes, status: int, detail: str
) -> None:
    client = TestClient(create_app(runtime))
    answer = post(client, "/webhooks/hubspot/acme", body)
    assert answer.status_code == status
    assert detail in answer.json()["detail"]
    assert inbox_rows(runtime.sessions) == 0


def test_events_for_a_portal_not_served_are_ignored_and_counted(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = json.dumps([event(1), event(2, portalId=777)]).encode()
    assert post(client, "/webhooks/hubspot/acme", body).json() == {
        "stored": 1,
        "duplicates": 0,
        "ignored": 1,
    }
    metrics = client.get("/metrics").text
    assert 'glengarry_webhook_events_total{connection="acme",outcome="ignored"}' in metrics
    assert 'glengarry_inbox_unprocessed{connection="acme"} 1.0' in metrics


def test_the_public_app_url_routes_events_by_portal(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = json.dumps([event(1), event(2, portalId=777)]).encode()
    answer = post(client, "/webhooks/hubspot", body)
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 1}
    assert post(client, "/webhooks/hubspot", body, secret="forged").status_code == 401


def test_an_unknown_connection_is_404(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    assert post(client, "/webhooks/hubspot/nope", b"[]").status_code == 404
