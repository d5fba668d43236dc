"""The operations API: off without a token, refuses a wrong one, queues resyncs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from app.api import create_app
from app.clock import ManualClock
from app.db import session_factory
from app.metrics import REGISTRY
from app.models import (
    ApiUsage,
    Connection,
    Contact,
    InboxEvent,
    OutboxEntry,
    SyncCursor,
    SyncRun,
)
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

TOKEN = "ops-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _runtime(engine: Engine, tmp_path: Path, token: str | None) -> Runtime:
    settings = load_settings(data_dir=tmp_path, api_token=token)
    rt = Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        create_hubspot(
            session,
            rt.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat"),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
    return rt


def test_without_a_configured_token_the_api_is_off(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, None)))
    answer = client.get("/connections", headers=AUTH)
    assert answer.status_code == 403
    assert "GLENGARRY_API_TOKEN" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": TOKEN},  # the token without its scheme was taken
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "9" * 400},
    ],
)
def test_anything_but_the_bearer_token_is_401_and_nothing_is_echoed(
    fresh_engine: Engine, tmp_path: Path, headers: dict[str, str]
) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    answer = client.get("/connections", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert [echo for echo in (TOKEN, "nope", "999") if echo in answer.text] == []


def test_the_bearer_scheme_is_case_insensitive(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    assert client.get("/connections", headers={"Authorization": f"bearer {TOKEN}"}).is_success


def test_connections_are_listed_and_a_resync_is_queued(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    client = TestClient(create_app(runtime))
    (listed,) = client.get("/connections", headers=AUTH).json()
    assert listed["name"] == "acme"
    assert listed["last_run"] is None
    answer = client.post("/connections/acme/resync", json={"full": True}, headers=AUTH)
    assert answer.status_code == 202
    assert client.post("/connections/acme/resync", headers=AUTH).json()["queued"] == "incremental"
    assert cast(RecordingWaker, runtime.wake).syncs == [(listed["id"], True), (listed["id"], False)]
    assert client.get("/connections/acme/runs", headers=AUTH).json() == []


def test_bad_requests_name_the_problem(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    assert client.post("/connections/nope/resync", headers=AUTH).status_code == 404
    assert client.get("/connections/acme/runs?limit=0", headers=AUTH).status_code == 422


@pytest.mark.parametrize("full", ["yes", "true", 1, 0, None, [], {}])
def test_full_is_a_json_boolean_only(fresh_engine: Engine, tmp_path: Path, full: object) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    client = TestClient(create_app(runtime))
    answer = client.post("/connections/acme/resync", json={"full": full}, headers=AUTH)
    assert answer.status_code == 422
    (problem,) = answer.json()["error"]["details"]
    assert problem["loc"] == ["body", "full"]
    assert "boolean" in problem["msg"]
    assert cast(RecordingWaker, runtime.wake).syncs == []


def test_a_422_never_repeats_the_input(fresh_engine: Engine, tmp_path: Path) -> None:
    # NaN in the old 422's "input" could not be rendered as JSON: a 500.
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    for body in (b'{"full": NaN}', b'{"full": "MARKER-secret-ish"}'):
        answer = client.post(
            "/connections/acme/resync",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert answer.status_code == 422
        assert "MARKER" not in answer.text
        assert "input" not in answer.json()["error"]["details"][0]


def test_unknown_keys_are_ignored_named_in_a_warning_and_in_the_answer(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    client = TestClient(create_app(runtime))
    with capture_logs() as logs:
        answer = client.post(
            "/connections/acme/resync", json={"full": True, "everything": 1}, headers=AUTH
        )
    assert answer.status_code == 202
    assert answer.json()["ignored_keys"] == ["everything"]
    assert cast(RecordingWaker, runtime.wake).syncs == [(1, True)]
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert (warning["count"], warning["keys"]) == (1, ["everything"])


@pytest.mark.parametrize(
    "ref", ["nope", "a%00b", "99999999999999999999", "2147483648", "%C2%B2", "x" * 300]
)
def test_an_unknown_connection_is_404_without_listing_the_others(
    fresh_engine: Engine, tmp_path: Path, ref: str
) -> None:
    client = TestClient(
        create_app(_runtime(fresh_engine, tmp_path, TOKEN)), raise_server_exceptions=False
    )
    for path in (f"/connections/{ref}", f"/connections/{ref}/runs"):
        answer = client.get(path, headers=AUTH)
        assert answer.status_code == 404
        assert "acme" not in answer.text
    assert client.post(f"/connections/{ref}/resync", headers=AUTH).status_code == 404


def test_a_connection_is_found_by_its_id_too(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    assert client.get("/connections/1", headers=AUTH).json()["name"] == "acme"


class DownQueue(RecordingWaker):
    def sync(self, connection_id: int, full: bool) -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")


def test_a_resync_the_queue_cannot_take_is_503_and_counted(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    runtime.wake = DownQueue()
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    labels = {"job": "incremental_sync"}
    before = REGISTRY.get_sample_value("glengarry_queue_wakeups_failed_total", labels) or 0.0
    answer = client.post("/connections/acme/resync", headers=AUTH)
    assert answer.status_code == 503
    assert "not queued" in answer.json()["error"]["message"]
    assert REGISTRY.get_sample_value("glengarry_queue_wakeups_failed_total", labels) == before + 1


def test_a_connections_health_shows_what_a_sync_health_page_does(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    now = runtime.clock.now()
    runtime.clock = ManualClock(now)  # ages read twice below are the same ages
    hour = timedelta(hours=1)
    with runtime.sessions.begin() as session:
        cid = session.scalars(select(Connection.id)).one()
        session.add_all(
            [
                SyncRun(
                    connection_id=cid,
                    kind="backfill",
                    state="succeeded",
                    started_at=now - 3 * hour,
                    finished_at=now - 2 * hour,
                ),
                SyncRun(
                    connection_id=cid,
                    kind="incremental",
                    state="succeeded",
                    dry_run=True,
                    started_at=now - 2 * hour,
                    finished_at=now - 90 * timedelta(minutes=1),
                ),
                SyncRun(
                    connection_id=cid,
                    kind="incremental",
                    state="failed",
                    started_at=now - hour,
                    finished_at=now - hour,
                ),
                SyncCursor(
                    connection_id=cid, object_type="contacts", cursor="c", updated_at=now - 2 * hour
                ),
            ]
        )
        contact = Contact(connection_id=cid, crm_id="1")
        session.add(contact)
        session.flush()
        for n, processed in enumerate((None, None, now)):
            session.add(
                InboxEvent(
                    source="hubspot",
                    connection_id=cid,
                    dedup_key=str(n),
                    event={},
                    received_at=now - (3 - n) * hour,
                    processed_at=processed,
                )
            )
        for state in ("pending", "pending", "failed", "sent"):
            session.add(
                OutboxEntry(connection_id=cid, contact_id=contact.id, field_values={}, state=state)
            )
        session.add(
            ApiUsage(connection_id=cid, day=now.date(), endpoint="a", calls=20, rate_limited=2)
        )
        session.add(ApiUsage(connection_id=cid, day=now.date(), endpoint="b", calls=10))
        session.add(
            ApiUsage(
                connection_id=cid,
                day=now.date() - timedelta(days=1),
                endpoint="a",
                calls=1000,
                rate_limited=9,
            )
        )
    client = TestClient(create_app(runtime))
    health = client.get("/connections/acme", headers=AUTH).json()["health"]
    assert health["last_sync_state"] == "failed"
    # The last good run is the backfill: a dry run changes nothing in the CRM.
    assert datetime.fromisoformat(health["last_success_at"]) == now - 2 * hour
    assert health["cursor_age_seconds"] == 2 * 3600
    assert health["webhook_age_seconds"] == 3600
    assert (health["inbox_backlog"], health["outbox_pending"], health["rejects"]) == (2, 2, 1)
    assert (health["api_calls_today"], health["api_rate_limited_today"]) == (30, 2)
    assert health["api_budget_per_day"] == 325_000  # half of a Pro portal's 650,000
    assert client.get("/connections", headers=AUTH).json()[0]["health"] == health
