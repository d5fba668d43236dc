"""The console without a browser: login and its cookie, CSRF on every form, and the key's scope
and connection respected on every page (the browser test drives the pages themselves)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api import create_app
from app.apikeys import create_key, revoke_key
from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

TOKEN = "console-admin-token-for-tests"


def _runtime(engine: Engine, tmp_path: Path, public_url: str | None = None) -> Runtime:
    settings = load_settings(data_dir=tmp_path, api_token=TOKEN, public_url=public_url)
    rt = Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        for name in ("acme", "other"):
            create_hubspot(
                session,
                rt.vault,
                name=name,
                credentials=HubSpotCredentials(token=f"pat-{name}"),
                base_url="http://127.0.0.1:9",
                app_type=AppType.PRIVATE_PRO,
                signature=SignatureVersion.V3,
                budget_share=1.0,
            )
    return rt


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return _runtime(fresh_engine, tmp_path)


def _key(runtime: Runtime, name: str, scope: str, connection: str | None = None) -> str:
    with runtime.sessions.begin() as session:
        key, _ = create_key(
            session, name=name, scope=scope, connection=connection, now=runtime.clock.now()
        )
    return key


def _waker(runtime: Runtime) -> RecordingWaker:
    return cast(RecordingWaker, runtime.wake)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def _logged_in(runtime: Runtime, key: str) -> TestClient:
    client = TestClient(create_app(runtime), follow_redirects=False)
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": key, "csrf": _csrf(form.text)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/connections")
    return client


def test_pages_send_a_visitor_without_a_session_to_the_login(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime), follow_redirects=False)
    for path in (
        "/console",
        "/console/connections",
        "/console/connections/acme",
        "/console/contacts/1",
        "/console/criteria",
        "/console/connections/acme/report",
    ):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login") or path == "/console"
    assert client.get("/console/login").status_code == 200
    assert client.get("/console/syncs/1/progress").status_code == 401


def test_a_wrong_key_is_refused_with_the_apis_message_and_no_session(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime), follow_redirects=False)
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": "nope", "csrf": _csrf(form.text)})
    assert answer.status_code == 401
    assert "missing or wrong bearer token" in answer.text
    assert client.get("/console/connections").status_code == 303


def test_the_session_cookie_is_strict_httponly_and_holds_the_key_encrypted(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime), follow_redirects=False)
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": TOKEN, "csrf": _csrf(form.text)})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("glengarry_console=")
    for attribute in ("httponly", "samesite=strict", "path=/console", "max-age=28800"):
        assert attribute in cookie.lower(), attribute
    assert "secure" not in cookie.lower()  # served over http here
    payload = cookie.split("=", 1)[1].split(".", 1)[0]
    decoded = base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert TOKEN not in decoded
    assert "key" in json.loads(decoded)
    page = client.get("/console/connections")
    assert page.status_code == 200
    assert 'data-connection="acme"' in page.text
    assert 'data-connection="other"' in page.text


def test_behind_https_the_cookie_is_secure(fresh_engine: Engine, tmp_path: Path) -> None:
    runtime = _runtime(fresh_engine, tmp_path, public_url="https://glengarry.example.com")
    client = TestClient(create_app(runtime), base_url="https://testserver", follow_redirects=False)
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": TOKEN, "csrf": _csrf(form.text)})
    assert "; secure" in answer.headers["set-cookie"].lower()


def test_every_form_needs_the_sessions_csrf_token(runtime: Runtime) -> None:
    client = _logged_in(runtime, TOKEN)
    page = client.get("/console/connections/acme")
    assert 'data-action="resync"' in page.text
    for token in ("", "forged"):
        refused = client.post(
            "/console/connections/acme/syncs", data={"kind": "full", "csrf": token}
        )
        assert refused.status_code == 403
    assert _waker(runtime).sync_runs == []
    client.cookies.clear()  # a login form posted from elsewhere has no session token either
    assert client.post("/console/login", data={"key": TOKEN, "csrf": "x"}).status_code == 403
    client = _logged_in(runtime, TOKEN)
    page = client.get("/console/connections/acme")
    started = client.post(
        "/console/connections/acme/syncs", data={"kind": "full", "csrf": _csrf(page.text)}
    )
    assert (started.status_code, started.headers["location"]) == (303, "/console/connections/acme")
    assert len(_waker(runtime).sync_runs) == 1
    shown = client.get("/console/connections/acme")
    assert "full sync 1 queued" in shown.text
    assert 'data-run="1"' in shown.text
    assert 'data-state="queued"' in shown.text
    again = client.post(
        "/console/connections/acme/syncs", data={"kind": "full", "csrf": _csrf(page.text)}
    )
    assert again.status_code == 303  # 409 from the API: told on the page, not a second run
    assert "sync 1 of acme is queued: one at a time" in client.get("/console/connections/acme").text
    assert len(_waker(runtime).sync_runs) == 1


def test_a_read_key_sees_no_button_and_the_api_refuses_what_it_posts(runtime: Runtime) -> None:
    client = _logged_in(runtime, _key(runtime, "reader", "read"))
    page = client.get("/console/connections/acme")
    assert page.status_code == 200
    assert "data-action=" not in page.text
    assert "reader · read" in page.text
    refused = client.post(
        "/console/connections/acme/syncs", data={"kind": "full", "csrf": _csrf(page.text)}
    )
    assert refused.status_code == 403
    assert "operate scope" in refused.text
    criteria = client.get("/console/criteria")
    assert criteria.status_code == 200
    assert "data-action=" not in criteria.text
    assert "<textarea" not in criteria.text
    assert 'data-action="retry"' not in client.get("/console/connections/acme/rejects").text


def test_a_key_bound_to_one_connection_sees_only_it(runtime: Runtime) -> None:
    client = _logged_in(runtime, _key(runtime, "acme-op", "operate", connection="acme"))
    listed = client.get("/console/connections")
    assert 'data-connection="acme"' in listed.text
    assert 'data-connection="other"' not in listed.text
    for path in (
        "/console/connections/other",
        "/console/connections/other/report",
        "/console/connections/other/rejects",
        "/console/connections/other/contacts",
    ):
        assert client.get(path).status_code == 404, path
    page = client.get("/console/connections/acme")
    assert 'data-action="resync"' in page.text
    assert "acme-op · operate · acme only" in page.text


def test_a_key_revoked_after_login_ends_the_session(runtime: Runtime) -> None:
    client = _logged_in(runtime, _key(runtime, "soon-gone", "admin"))
    assert client.get("/console/connections").status_code == 200
    with runtime.sessions.begin() as session:
        revoke_key(session, "soon-gone", runtime.clock.now())
    answer = client.get("/console/connections")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/login")
    assert client.get("/console/criteria").status_code == 303  # the session is gone


def test_an_invalid_candidate_shows_each_problems_key_path(runtime: Runtime) -> None:
    client = _logged_in(runtime, TOKEN)
    page = client.get("/console/criteria")
    answer = client.post(
        "/console/criteria/dry-run",
        data={"criteria": "name: x\nthresholds: {sales_ready: lots}\n", "csrf": _csrf(page.text)},
    )
    assert answer.status_code == 422
    assert "thresholds.sales_ready" in answer.text
    assert "thresholds: {sales_ready: lots}" in answer.text  # kept for mending


def test_whoami_names_the_key_its_scope_and_connection(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    key = _key(runtime, "acme-reader", "read", connection="acme")
    answer = client.get("/whoami", headers={"Authorization": f"Bearer {key}"})
    assert answer.json() == {"name": "acme-reader", "scope": "read", "connection": "acme"}
    admin = client.get("/whoami", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert admin == {"name": "GLENGARRY_API_TOKEN", "scope": "admin", "connection": None}
    assert client.get("/whoami").status_code == 401


def test_wrong_keys_at_the_login_count_against_the_browsers_address(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, api_token=TOKEN, api_auth_failures_per_minute=3)
    runtime = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    client = TestClient(create_app(runtime), follow_redirects=False)
    csrf = _csrf(client.get("/console/login").text)
    answers = [
        client.post("/console/login", data={"key": f"guess-{n}", "csrf": csrf}).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    refused = client.post("/console/login", data={"key": TOKEN, "csrf": csrf})
    assert refused.status_code == 429  # the right key too, until the minute has passed
    assert "too many failed authentications" in refused.text
