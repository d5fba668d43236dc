"""API keys and their scopes, the routes open without a key, the shared error body, the
failed-authentication limit, the audit log, the OpenAPI document and the offline /docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from structlog.testing import capture_logs

from app.api import create_app
from app.db import session_factory
from app.models import ApiKey
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.cli import Glengarry
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

TOKEN = "env-admin-token-for-tests"


def _runtime(engine: Engine, tmp_path: Path, **settings: Any) -> Runtime:
    loaded = load_settings(data_dir=tmp_path, **settings)
    rt = Runtime(loaded, engine, session_factory(engine), Vault.from_settings(loaded))
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        for name in ("acme", "other"):
            create_hubspot(
                session,
                rt.vault,
                name=name,
                credentials=HubSpotCredentials(token="pat"),
                base_url="http://127.0.0.1:9",
                app_type=AppType.PRIVATE_PRO,
                signature=SignatureVersion.V3,
                budget_share=0.5,
            )
    return rt


def _key(glengarry: Glengarry, name: str, scope: str, *extra: str) -> str:
    made = glengarry("apikey", "create", "--name", name, "--scope", scope, *extra)
    assert made.code == 0, made.stderr
    key: str = made.json()["key"]
    return key


def secret_of(key: str) -> str:
    """The part of `glg_<prefix>_<secret>` that makes it a key (it may hold "_" itself)."""
    return key[len("glg_") + 12 + 1 :]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return _runtime(fresh_engine, tmp_path)


def test_a_key_is_printed_once_and_stored_only_as_a_salted_hash(
    runtime: Runtime, fresh_engine: Engine, glengarry: Glengarry
) -> None:
    first, second = _key(glengarry, "ci", "read"), _key(glengarry, "ops", "admin")
    assert re.fullmatch(r"glg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", first)
    listed = glengarry("apikey", "list")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["ci", "ops"]
    assert first not in listed.stdout
    assert secret_of(first) not in listed.stdout
    with fresh_engine.connect() as connection:
        dumped = json.dumps(
            [list(map(str, row)) for row in connection.execute(text("SELECT * FROM api_keys"))]
        )
    for key in (first, second):
        assert secret_of(key) not in dumped
    with runtime.sessions() as session:
        salts = session.scalars(select(ApiKey.salt)).all()
    assert len(set(salts)) == 2
    assert glengarry("apikey", "create", "--name", "ci", "--scope", "read").code != 0
    assert glengarry("apikey", "create", "--name", "x", "--scope", "root").code != 0


def test_each_scope_allows_what_it_names(runtime: Runtime, glengarry: Glengarry) -> None:
    client = TestClient(create_app(runtime))
    read, operate = _key(glengarry, "r", "read"), _key(glengarry, "o", "operate")
    admin = _key(glengarry, "a", "admin")
    for key in (read, operate, admin):
        assert client.get("/connections", headers=bearer(key)).status_code == 200
    refused = client.post("/connections/acme/resync", headers=bearer(read))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    for key in (operate, admin):
        assert client.post("/connections/acme/resync", headers=bearer(key)).status_code == 202
    for key in (read, operate):
        assert client.get("/apikeys", headers=bearer(key)).status_code == 403
        assert client.get("/audit", headers=bearer(key)).status_code == 403
    assert client.get("/apikeys", headers=bearer(admin)).status_code == 200


def test_a_key_bound_to_a_connection_sees_no_other(runtime: Runtime, glengarry: Glengarry) -> None:
    client = TestClient(create_app(runtime))
    key = bearer(_key(glengarry, "acme-only", "admin", "--connection", "acme"))
    assert [c["name"] for c in client.get("/connections", headers=key).json()] == ["acme"]
    assert client.get("/connections/acme", headers=key).status_code == 200
    for method, path in (
        ("GET", "/connections/other"),
        ("GET", "/connections/2"),
        ("GET", "/connections/other/runs"),
        ("POST", "/connections/other/resync"),
    ):
        answer = client.request(method, path, headers=key)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    # Nor can it make itself a wider key.
    made = client.post("/apikeys", json={"name": "wide", "scope": "admin"}, headers=key)
    assert made.status_code == 403


def test_a_revoked_key_is_refused_at_once(runtime: Runtime, glengarry: Glengarry) -> None:
    client = TestClient(create_app(runtime))
    key = bearer(_key(glengarry, "temp", "read"))
    _key(glengarry, "kept", "read")
    assert client.get("/connections", headers=key).status_code == 200
    assert glengarry("apikey", "revoke", "temp").code == 0
    assert client.get("/connections", headers=key).status_code == 401
    # With no key left (and no GLENGARRY_API_TOKEN) the API is off, and says how to turn it on.
    assert glengarry("apikey", "revoke", "kept").code == 0
    off = client.get("/connections", headers=key)
    assert (off.status_code, off.json()["error"]["code"]) == (403, "api_off")
    assert glengarry("apikey", "revoke", "nope").code != 0


def test_the_environment_token_is_an_admin_key(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, api_token=TOKEN)))
    made = client.post("/apikeys", json={"name": "viewer", "scope": "read"}, headers=bearer(TOKEN))
    assert made.status_code == 201
    key = made.json()["key"]
    assert client.get("/connections", headers=bearer(key)).status_code == 200
    # The value is in that one answer only.
    assert key not in client.get("/apikeys", headers=bearer(TOKEN)).text
    again = client.post("/apikeys", json={"name": "viewer", "scope": "read"}, headers=bearer(TOKEN))
    assert again.status_code == 409
    revoked = client.post("/apikeys/viewer/revoke", headers=bearer(TOKEN))
    assert revoked.json()["revoked_at"] is not None
    assert client.get("/connections", headers=bearer(key)).status_code == 401
    unknown = client.post(
        "/apikeys", json={"name": "x", "scope": "read", "connection": "zz"}, headers=bearer(TOKEN)
    )
    assert unknown.status_code == 404
    assert "acme" not in unknown.text


OPEN = ["/healthz", "/readyz", "/docs", "/openapi.json", "/metrics"]
CLOSED = [
    ("GET", "/connections"),
    ("GET", "/connections/acme"),
    ("GET", "/connections/acme/runs"),
    ("POST", "/connections/acme/resync"),
    ("GET", "/apikeys"),
    ("POST", "/apikeys"),
    ("POST", "/apikeys/x/revoke"),
    ("GET", "/audit"),
]


def test_without_a_key_only_the_open_routes_answer(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, api_token=TOKEN)))
    for path in OPEN:
        assert client.get(path).status_code == 200, path
    for method, path in CLOSED:
        answer = client.request(method, path)
        assert answer.status_code == 401, path
        assert answer.json()["error"]["code"] == "unauthenticated"
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    # A malformed body is parsed before any dependency runs: still 401, naming no field.
    answer = client.post(
        "/connections/acme/resync", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    assert "full" not in answer.text


# Open by design (each checks its own signature or token, or shows nothing of a connection);
# the console's pages send a visitor without a session to its login (tests/console).
OPEN_PREFIXES = ("/healthz", "/readyz", "/webhooks/", "/docs", "/openapi.json", "/metrics")


def test_every_other_route_is_401_without_a_key(fresh_engine: Engine, tmp_path: Path) -> None:
    # Every refusal counts as a failed authentication: a limit above their number.
    runtime = _runtime(fresh_engine, tmp_path, api_token=TOKEN, api_auth_failures_per_minute=500)
    client = TestClient(create_app(runtime))
    checked = 0
    for route, operations in client.get("/openapi.json").json()["paths"].items():
        if route.startswith(OPEN_PREFIXES):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route)  # a name or an id: 1 is either
        for method in operations:
            answer = client.request(method, path)
            assert answer.status_code == 401, (method, route, answer.text)
            assert answer.json()["error"]["code"] == "unauthenticated", (method, route)
            checked += 1
    assert checked >= 30  # every operations route, not a few


def test_metrics_can_be_put_behind_a_key(
    fresh_engine: Engine, tmp_path: Path, glengarry: Glengarry
) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, metrics_public=False)))
    key = bearer(_key(glengarry, "prom", "read"))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=key).is_success


def test_failed_authentications_are_limited_per_address_and_logged_without_the_key(
    fresh_engine: Engine, tmp_path: Path, glengarry: Glengarry
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, api_auth_failures_per_minute=3)
    client = TestClient(create_app(runtime))
    good = _key(glengarry, "good", "read")
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    with capture_logs() as logs:
        answers = [client.get("/connections", headers=bearer(wrong)).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    failures = [e for e in logs if e["event"] == "authentication failed"]
    assert len(failures) == 3
    assert failures[0]["key"] == "good"  # the key it claimed to be, by name
    assert secret_of(good)[:20] not in json.dumps(logs, default=str)
    assert secret_of(wrong)[:20] not in json.dumps(logs, default=str)
    # Once over the limit, even the right key waits for the window.
    blocked = client.get("/connections", headers=bearer(good))
    assert (blocked.status_code, blocked.headers["Retry-After"]) == (429, "60")
    assert blocked.json()["error"]["code"] == "rate_limited"
    # Another address is not affected.
    elsewhere = TestClient(create_app(runtime), client=("10.0.0.9", 5000))
    assert elsewhere.get("/connections", headers=bearer(good)).status_code == 200


def test_errors_share_one_body_and_webhooks_answer_as_before(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, api_token=TOKEN)))
    missing = client.get("/connections/nope", headers=bearer(TOKEN)).json()
    assert set(missing) == {"error"}  # no deprecated `detail` beside it
    assert missing["error"] == {
        "code": "not_found",
        "message": "no connection 'nope'",
        "details": None,
    }
    invalid = client.post(
        "/connections/acme/resync", json={"full": "yes"}, headers=bearer(TOKEN)
    ).json()
    assert set(invalid) == {"error"}
    assert invalid["error"]["code"] == "invalid_request"
    assert invalid["error"]["details"][0]["loc"] == ["body", "full"]
    assert invalid["error"]["message"].startswith("body.full: ")
    refused = client.post("/webhooks/hubspot/acme", content=b"[]")
    assert refused.status_code == 401
    assert set(refused.json()) == {"detail"}


def test_operator_actions_are_audited_with_the_keys_name(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    client = TestClient(create_app(runtime))
    admin = bearer(_key(glengarry, "boss", "admin"))
    operate = bearer(_key(glengarry, "runner", "operate"))
    client.post("/connections/acme/resync", json={"full": True}, headers=operate)
    client.post("/apikeys", json={"name": "tmp", "scope": "read"}, headers=admin)
    client.post("/apikeys/tmp/revoke", headers=admin)
    log = client.get("/audit", headers=admin).json()
    assert [(e["actor"], e["action"], e["connection"], e["target"]) for e in log[:3]] == [
        ("boss", "apikey.revoke", None, "tmp"),
        ("boss", "apikey.create", None, "tmp"),
        ("runner", "resync", "acme", None),
    ]
    assert log[2]["details"] == {"kind": "full"}
    assert [e["action"] for e in log[3:]] == ["apikey.create", "apikey.create"]  # the CLI's
    assert log[3]["actor"].startswith("cli:")
    older = client.get(f"/audit?before={log[1]['id']}&limit=1", headers=admin).json()
    assert [e["action"] for e in older] == ["resync"]
    bound = bearer(_key(glengarry, "acme-admin", "admin", "--connection", "other"))
    # A key bound to a connection reads only that connection's entries (here: its own making).
    seen = client.get("/audit", headers=bound).json()
    assert [(e["action"], e["connection"], e["target"]) for e in seen] == [
        ("apikey.create", "other", "acme-admin")
    ]


def test_the_openapi_document_declares_the_scheme_models_and_errors(runtime: Runtime) -> None:
    spec = TestClient(create_app(runtime)).get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    checked = 0
    for path, operations in spec["paths"].items():
        if path.startswith(("/webhooks", "/healthz", "/readyz", "/metrics")):
            continue
        for method, operation in operations.items():
            assert operation["security"] == [{"ApiKey": []}], (method, path)
            for status in ("401", "403", "404", "409", "413", "422"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == error_ref, (method, path, status)
            (ok,) = [s for s in operation["responses"] if s.startswith("2")]
            if ok == "204":  # no content, and none declared
                assert "content" not in operation["responses"][ok], path
                continue
            content = operation["responses"][ok]["content"]
            if path.endswith("/events"):
                assert "text/event-stream" in content
            else:
                assert content["application/json"]["schema"], path
            checked += 1
    assert checked >= 8


def test_docs_work_with_no_internet(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert len(urls) >= 3
    assert [u for u in urls if not u.startswith("/")] == []
    assert "http://" not in page.text
    assert "https://" not in page.text
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert (
        client.get("/docs/assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_a_large_operations_body_is_413_before_it_is_read(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    big = b'{"full": true, "pad": "' + b"x" * 70_000 + b'"}'
    answer = client.post(
        "/connections/acme/resync", content=big, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 10_000

    streamed = client.post("/connections/acme/resync", content=chunks())
    assert streamed.status_code == 413


def test_writes_and_budget_are_changed_by_an_admin_and_audited(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    client = TestClient(create_app(runtime))
    admin = bearer(_key(glengarry, "boss", "admin"))
    operate = bearer(_key(glengarry, "runner", "operate"))
    path = "/connections/acme/settings"
    assert client.patch(path, json={"writes_enabled": False}, headers=operate).status_code == 403
    off = client.patch(path, json={"writes_enabled": False}, headers=admin)
    assert (off.status_code, off.json()["writes_enabled"]) == (200, False)
    share = client.patch(path, json={"api_budget_share": 0.25}, headers=admin).json()
    assert share["api_budget_share"] == 0.25
    for bad in (
        {"writes_enabled": "no"},
        {"api_budget_share": "0.5"},
        {"api_budget_share": 2},
        {"api_budget_share": 0},
        {"api_budget_share": True},
        {"paused": True},
    ):
        assert client.patch(path, json=bad, headers=admin).status_code == 422, bad
    on = client.patch(path, json={"writes_enabled": True}, headers=admin)
    assert on.json()["writes_enabled"] is True
    log = client.get("/audit", headers=admin).json()
    assert [(e["action"], e["details"].get("to")) for e in log[:3]] == [
        ("writes.on", True),
        ("connection.settings", 0.25),
        ("writes.off", False),
    ]
    assert all(e["actor"] == "boss" for e in log[:3])


def test_a_failed_authentication_logs_no_token_shaped_path(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    _key(glengarry, "some", "read")  # the API is on
    client = TestClient(create_app(runtime))
    secret = "pat-na1-11111111-2222-3333-4444-555555555555"
    with capture_logs() as logs:
        client.get(f"/connections/{secret}", headers=bearer("nope"))
    assert [e for e in logs if e["event"] == "authentication failed"]
    assert secret not in json.dumps(logs, default=str)


def test_the_first_apis_dependency_still_guards_a_router(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    from fastapi import APIRouter, Depends

    from app.api.operations import require_token

    app = create_app(runtime)
    legacy = APIRouter(dependencies=[Depends(require_token)])

    @legacy.get("/legacy")
    def route() -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(legacy)
    client = TestClient(app)
    key = bearer(_key(glengarry, "viewer", "read"))
    assert client.get("/legacy").status_code == 401
    assert client.get("/legacy", headers=key).json() == {"ok": "yes"}
