"""The webhook receiver: signature first, validation, one inbox row per event, a fast 2xx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.event import listen as event_listen
from sqlalchemy.event import remove as event_remove
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from app.api import create_app
from app.connection_settings import delete_connection
from app.db import session_factory
from app.inbox import document_event
from app.metrics import REGISTRY
from app.models import Connection, InboxEvent
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from app.worker import jobs
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

SECRET = "app-secret-for-tests"
APP_SECRET = "public-app-secret-for-tests"
PORTAL = "62515"
OCCURRED = int(time.time() * 1000)  # fixed: a retried event is the same event


def _runtime(engine: Engine, tmp_path: Path, **settings_given: Any) -> Runtime:
    settings = load_settings(data_dir=tmp_path, **settings_given)
    rt = Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))
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


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return _runtime(fresh_engine, tmp_path, webhook_max_body_bytes=4096)


@pytest.fixture
def app_runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    """A public app's set-up: its client secret in the settings, not in the connection."""
    return _runtime(
        fresh_engine,
        tmp_path,
        webhook_max_body_bytes=4 * 1024 * 1024,
        hubspot_app_client_secret=APP_SECRET,
    )


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


def refused(url: str, connection: str, reason: str) -> float:
    labels = {"url": url, "connection": connection, "reason": reason}
    return REGISTRY.get_sample_value("glengarry_webhook_signatures_refused_total", labels) or 0.0


@pytest.mark.parametrize(
    ("secret", "age", "reason", "why"),
    [
        ("not-the-secret", 0, "mismatch", "does not match"),
        (SECRET, 400, "stale", "stale request"),
    ],
)
def test_wrongly_signed_or_stale_deliveries_are_401_logged_counted_and_store_nothing(
    runtime: Runtime, secret: str, age: float, reason: str, why: str
) -> None:
    client = TestClient(create_app(runtime))
    before = refused("connection", "acme", reason)
    with capture_logs() as logs:
        answer = post(
            client,
            "/webhooks/hubspot/acme",
            json.dumps([event()]).encode(),
            secret=secret,
            age=age,
        )
    assert answer.status_code == 401
    assert answer.json() == {"detail": "signature refused"}
    assert inbox_rows(runtime.sessions) == 0
    assert refused("connection", "acme", reason) == before + 1
    (line,) = [entry for entry in logs if entry["event"] == "webhook signature refused"]
    assert line["log_level"] == "warning"
    assert (line["connection"], line["reason"]) == ("acme", reason)
    assert why in line["detail"]
    assert SECRET not in json.dumps(logs, default=str)


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


def test_the_public_app_url_routes_events_by_portal(app_runtime: Runtime) -> None:
    client = TestClient(create_app(app_runtime))
    body = json.dumps([event(1), event(2, portalId=777)]).encode()
    answer = post(client, "/webhooks/hubspot", body, secret=APP_SECRET)
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 1}
    before = refused("app", "", "mismatch")
    assert post(client, "/webhooks/hubspot", body, secret=SECRET).status_code == 401
    assert refused("app", "", "mismatch") == before + 1


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append(f"{statement} {params!r}")

    event_listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event_remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps([event(1, portalId=424242)]).encode(),
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError in the old portal parser: a 500
        rb'[{"portalId": "\u0000"}]',
    ],
)
def test_an_unverified_delivery_to_the_public_app_url_never_reaches_the_database(
    app_runtime: Runtime, body: bytes
) -> None:
    client = TestClient(create_app(app_runtime), raise_server_exceptions=False)
    for headers in ({}, {"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": "1"}):
        with _statements(app_runtime.engine) as seen:
            answer = client.post("/webhooks/hubspot", content=body, headers=headers)
        assert answer.status_code == 401
        assert seen == []
    # The watch sees what a verified delivery does ask the database.
    with _statements(app_runtime.engine) as seen:
        post(client, "/webhooks/hubspot", json.dumps([event(1)]).encode(), secret=APP_SECRET)
    assert any("connections" in statement for statement in seen)


def test_without_an_app_secret_the_public_app_url_refuses_every_delivery(
    runtime: Runtime,
) -> None:
    # The old receiver looked the body's portals up and tried their connections' secrets.
    client = TestClient(create_app(runtime))
    before = refused("app", "", "no_secret")
    answer = post(client, "/webhooks/hubspot", json.dumps([event(1)]).encode())
    assert answer.status_code == 401
    assert refused("app", "", "no_secret") == before + 1
    assert inbox_rows(runtime.sessions) == 0


def test_an_unknown_connection_answers_as_a_bad_signature_does(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = json.dumps([event()]).encode()
    unknown = post(client, "/webhooks/hubspot/nope", body)
    forged = post(client, "/webhooks/hubspot/acme", body, secret="forged")
    unsigned = client.post("/webhooks/hubspot/nope", content=body)
    unsigned_known = client.post("/webhooks/hubspot/acme", content=body)
    answers = {(a.status_code, a.text) for a in (unknown, forged, unsigned, unsigned_known)}
    assert answers == {(401, '{"detail":"signature refused"}')}


def test_a_connection_without_an_app_secret_answers_as_a_bad_signature_does(
    runtime: Runtime,
) -> None:
    with runtime.sessions.begin() as session:
        create_hubspot(
            session,
            runtime.vault,
            name="nosecret",
            credentials=HubSpotCredentials(token="pat"),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
    client = TestClient(create_app(runtime))
    before = refused("connection", "nosecret", "no_secret")
    answer = post(client, "/webhooks/hubspot/nosecret", json.dumps([event()]).encode())
    assert (answer.status_code, answer.json()) == (401, {"detail": "signature refused"})
    assert refused("connection", "nosecret", "no_secret") == before + 1


@pytest.mark.parametrize(
    "ref",
    [
        "a%00b",  # NUL: PostgreSQL refuses it as a parameter
        "99999999999999999999",  # past the INTEGER id column (and SQLite's 64 bits)
        "2147483648",
        "%C2%B2",  # '²' isdigit() but int() refuses it
        "x" * 300,
    ],
)
def test_a_path_no_connection_can_have_answers_as_an_unknown_connection(
    runtime: Runtime, ref: str
) -> None:
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    before = refused("connection", "", "unknown_connection")
    answer = post(client, f"/webhooks/hubspot/{ref}", json.dumps([event()]).encode())
    assert (answer.status_code, answer.json()) == (401, {"detail": "signature refused"})
    assert refused("connection", "", "unknown_connection") == before + 1


def test_a_connection_is_found_by_its_id_too(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    answer = post(client, "/webhooks/hubspot/1", json.dumps([event()]).encode())
    assert answer.json()["stored"] == 1


def test_a_400_digit_timestamp_is_neither_a_500_nor_echoed(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    headers = {"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": "9" * 400}
    before = refused("connection", "acme", "malformed")
    answer = client.post("/webhooks/hubspot/acme", content=b"[]", headers=headers)
    assert answer.status_code == 401
    assert "999" not in answer.text
    assert refused("connection", "acme", "malformed") == before + 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (json.dumps([event(occurredAt=10**18)]).encode(), "0.occurredAt"),
        (json.dumps([event(objectId=10**70)]).encode(), "0.objectId"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
        (json.dumps([event(x=json.loads("[" * 900 + "]" * 900))]).encode(), "nested deeper"),
        (json.dumps([event()]).replace('"VP Sales"', "NaN").encode(), "NaN"),
    ],
)
def test_signed_deliveries_no_database_can_store_are_400_naming_the_problem(
    app_runtime: Runtime, body: bytes, detail: str
) -> None:
    client = TestClient(create_app(app_runtime), raise_server_exceptions=False)
    for path, secret in (("/webhooks/hubspot/acme", SECRET), ("/webhooks/hubspot", APP_SECRET)):
        answer = post(client, path, body, secret=secret)
        assert answer.status_code == 400
        assert detail in answer.json()["detail"]
    assert inbox_rows(app_runtime.sessions) == 0


def test_nul_bytes_and_lone_surrogates_are_stored_replaced_and_read_back(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    body = json.dumps(
        [
            event(1, propertyValue="VP\u0000Sales"),
            event(2, propertyValue="VP \ud800 Sales", **{"note\u0000": ["\udfff"]}),
        ]
    ).encode()
    answer = post(client, "/webhooks/hubspot/acme", body)
    assert answer.status_code == 200
    assert answer.json()["stored"] == 2
    with runtime.sessions() as session:
        rows = {r.object_id: r for r in session.scalars(select(InboxEvent))}
    first = document_event(rows["101"].event, rows["101"].dedup_key)
    second = document_event(rows["102"].event, rows["102"].dedup_key)
    assert first.property_value == "VP\ufffdSales"
    assert second.property_value == "VP \ufffd Sales"
    assert second.raw["note\ufffd"] == ["\ufffd"]
    # A retry of the same events is still recognised: the key is the event as received.
    assert post(client, "/webhooks/hubspot/acme", body).json()["duplicates"] == 2


class FailingWaker(RecordingWaker):
    """The queue is down (Redis stopped): every wake-up raises."""

    def inbox(self, connection_id: int) -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")


def test_stored_events_are_2xx_when_the_queue_is_down_and_the_sweeper_wakes_them(
    runtime: Runtime,
) -> None:
    runtime.wake = FailingWaker()
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    labels = {"job": "process_inbox"}
    before = REGISTRY.get_sample_value("glengarry_queue_wakeups_failed_total", labels) or 0.0
    with capture_logs() as logs:
        answer = post(client, "/webhooks/hubspot/acme", json.dumps([event(1)]).encode())
    assert answer.status_code == 200
    assert answer.json()["stored"] == 1
    assert inbox_rows(runtime.sessions) == 1
    after = REGISTRY.get_sample_value("glengarry_queue_wakeups_failed_total", labels)
    assert after == before + 1
    assert any(entry["log_level"] == "warning" and "sweeper" in entry["event"] for entry in logs)
    # A retry of the delivery is a duplicate, not a second row.
    again = post(client, "/webhooks/hubspot/acme", json.dumps([event(1)]).encode())
    assert again.json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    # Once the queue answers again, the sweeper wakes the connection's stored events.
    runtime.wake = RecordingWaker()
    assert jobs.sweep(runtime)["inbox"] == [1]
    assert cast(RecordingWaker, runtime.wake).inboxes == [1]


def test_a_database_outage_answers_503_with_retry_after_never_a_500(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart cuts the connection mid-insert: the CRM is told to come back (it
    redelivers), an operator gets the one error body, and no traceback is logged."""

    def cut(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr("app.api.webhooks.store_events", cut)
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    with capture_logs() as logs:
        answer = post(client, "/webhooks/hubspot/acme", json.dumps([event(1)]).encode())
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json() == {"detail": "the database cannot be reached: try again"}
    assert inbox_rows(runtime.sessions) == 0
    outage = [entry for entry in logs if entry["event"] == "database unreachable: answered 503"]
    assert [(e["log_level"], e["error"]) for e in outage] == [("warning", "Exception")]
    assert not any("exc_info" in entry or "exception" in entry for entry in logs)


async def test_an_event_holding_nul_and_lone_surrogates_is_processed(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    deletion = event(
        1,
        subscriptionType="contact.deletion",
        propertyName=None,
        propertyValue=None,
        changeSource="CRM_UI\u0000\ud800",
        note={"\udfff": "\u0000"},
    )
    assert post(client, "/webhooks/hubspot/acme", json.dumps([deletion]).encode()).is_success
    # A deletion needs no CRM read (the CRM of this runtime is unreachable on purpose).
    result = await jobs.process_inbox(runtime, 1)
    assert (result.events, result.error) == (1, None)
    with runtime.sessions() as session:
        (row,) = session.scalars(select(InboxEvent))
        assert (row.processed_at is not None, row.error) == (True, None)
        assert row.event["raw"]["changeSource"] == "CRM_UI\ufffd\ufffd"


async def test_a_content_length_of_unicode_digits_is_no_500(runtime: Runtime) -> None:
    # No HTTP client sends it, but a latin-1 header value can hold '²', and isdigit() takes it.
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"[]", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/hubspot/acme",
        "raw_path": b"/webhooks/hubspot/acme",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", "\u00b2".encode("latin-1"))],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    await create_app(runtime)(scope, receive, send)
    assert sent[0]["status"] == 401


def _delete(runtime: Runtime, name: str) -> None:
    with runtime.sessions.begin() as session:
        found = session.scalars(select(Connection).where(Connection.name == name)).one()
        delete_connection(session, found, purge=False, actor="test", at=runtime.clock.now())


def test_a_deleted_connection_answers_as_an_unknown_one_and_stores_nothing(
    app_runtime: Runtime,
) -> None:
    client = TestClient(create_app(app_runtime))
    body = json.dumps([event(1)]).encode()
    unknown = post(client, "/webhooks/hubspot/nope", body)
    unserved = post(
        client,
        "/webhooks/hubspot",
        json.dumps([event(1, portalId=424)]).encode(),
        secret=APP_SECRET,
    )
    _delete(app_runtime, "acme")
    before = refused("connection", "", "unknown_connection")
    gone = post(client, "/webhooks/hubspot/acme", body)  # signed with acme's own secret
    assert (gone.status_code, gone.headers["content-type"], gone.content) == (
        unknown.status_code,
        unknown.headers["content-type"],
        unknown.content,
    )
    assert (gone.status_code, gone.json()) == (401, {"detail": "signature refused"})
    assert refused("connection", "", "unknown_connection") == before + 1
    # The app-wide URL routes its portal nowhere, as a portal never connected.
    routed = post(client, "/webhooks/hubspot", body, secret=APP_SECRET)
    assert (routed.status_code, routed.json()) == (200, unserved.json())
    assert inbox_rows(app_runtime.sessions) == 0
    assert cast(RecordingWaker, app_runtime.wake).inboxes == []


async def test_events_are_logged_at_info_one_line_per_batch_not_per_event(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    deletions = [
        event(i, subscriptionType="contact.deletion", propertyName=None, propertyValue=None)
        for i in range(1, 6)
    ]
    with capture_logs() as logs:
        assert post(client, "/webhooks/hubspot/acme", json.dumps(deletions).encode()).is_success
        result = await jobs.process_inbox(runtime, 1)  # deletions: no CRM read needed
    assert (result.events, result.error) == (5, None)
    received = [e for e in logs if e["event"] == "webhook events received"]
    processed = [e for e in logs if e["event"] == "webhook events processed"]
    assert [(e["log_level"], e["stored"], e["duplicates"]) for e in received] == [("info", 5, 0)]
    assert [e["log_level"] for e in processed] == ["info"]
    assert {"scored", "status_changes", "to_write"} <= set(processed[0])
