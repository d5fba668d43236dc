"""What operators see of the HTTP service: an access log with secrets masked, request metrics,
the process's own metrics, and backlog gauges that read 0 rather than nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from app.api import create_app
from app.db import session_factory
from app.metrics import REGISTRY
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot

TOKEN = "ops-token-MARKER-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAT = "pat-na1-11111111-2222-3333-4444-555555555555"


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, api_token=TOKEN)
    rt = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
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


def requests(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("glengarry_http_requests_total", labels) or 0.0


def latencies(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("glengarry_http_request_duration_seconds_count", labels) or 0.0


def access_lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "request"]


def test_every_request_is_one_access_log_line(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    with capture_logs(processors=[merge_contextvars]) as logs:
        answer = client.get("/connections/acme/runs?limit=5", headers=AUTH)
    assert answer.status_code == 200
    (line,) = access_lines(logs)
    assert line["log_level"] == "info"
    assert (line["method"], line["route"], line["status"]) == (
        "GET",
        "/connections/{connection}/runs",
        200,
    )
    assert line["path"] == "/connections/acme/runs?limit=5"
    assert line["duration_ms"] >= 0
    assert line["request_id"] == answer.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        (f"/webhooks/hubspot/{PAT}", PAT),  # a token pasted as a path segment
        (f"/connections/{TOKEN}", TOKEN),  # the service's own token (registered as a secret)
        ("/connections/acme?code=MARKER-oauth-code&hapikey=MARKER-key", "MARKER"),
    ],
)
def test_secrets_in_paths_are_masked_in_the_access_log(
    runtime: Runtime, path: str, secret: str
) -> None:
    client = TestClient(create_app(runtime))
    with capture_logs() as logs:
        client.request("POST" if path.startswith("/webhooks") else "GET", path, headers=AUTH)
    (line,) = access_lines(logs)
    assert secret not in json.dumps(logs)
    assert "***" in line["path"]


def test_a_control_character_in_a_path_never_reaches_the_log_line(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    with capture_logs() as logs:
        client.get("/nope%0A%7B%22forged%22%3A1%7D")
    (line,) = access_lines(logs)
    assert "\n" not in line["path"]
    assert line["route"] == "unmatched"


def test_requests_are_counted_and_timed_by_route_template_method_and_status(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    route = "/connections/{connection}"
    before = (requests(route, "GET", "200"), requests(route, "GET", "404"))
    timed = latencies(route, "GET", "200")
    assert client.get("/connections/acme", headers=AUTH).status_code == 200
    assert client.get("/connections/nope", headers=AUTH).status_code == 404
    assert (requests(route, "GET", "200"), requests(route, "GET", "404")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert latencies(route, "GET", "200") == timed + 1
    # What a caller makes up is never a label of its own: unknown paths and methods are pooled.
    unmatched = requests("unmatched", "OTHER", "404")
    client.request("BREW", "/coffee/pot-42")
    assert requests("unmatched", "OTHER", "404") == unmatched + 1
    assert "pot-42" not in client.get("/metrics").text


def test_a_request_that_fails_inside_is_counted_and_logged_as_500(runtime: Runtime) -> None:
    def broken() -> Any:
        raise RuntimeError("the database driver fell over")

    runtime.sessions = cast(Any, broken)
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    before = requests("/connections", "GET", "500")
    with capture_logs() as logs:
        assert client.get("/connections", headers=AUTH).status_code == 500
    assert requests("/connections", "GET", "500") == before + 1
    (line,) = access_lines(logs)
    assert (line["status"], line["log_level"]) == (500, "error")


def test_the_metrics_carry_the_process_and_python_runtime(runtime: Runtime) -> None:
    text = TestClient(create_app(runtime)).get("/metrics").text
    for family in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert f"\n{family}" in text


def test_empty_backlogs_export_zero(runtime: Runtime) -> None:
    text = TestClient(create_app(runtime)).get("/metrics").text
    assert 'glengarry_outbox_rows{connection="acme",state="pending"} 0.0' in text
    assert 'glengarry_outbox_rows{connection="acme",state="failed"} 0.0' in text
    assert 'glengarry_inbox_unprocessed{connection="acme"} 0.0' in text
