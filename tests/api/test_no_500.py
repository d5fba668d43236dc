"""No input answers 500 (hypothesis): signed and unsigned webhook bodies, made-up headers, and
path and query parameters, on the database of this pass.

Every generated input is either refused with a 4xx or stored and answered 2xx; a 5xx is a bug
in the receiver. The examples are derandomized so a run is the same run every time, and few
enough to take seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from app.api import create_app
from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

SECRET = "connection-secret-for-fuzzing"
APP_SECRET = "app-secret-for-fuzzing"
TOKEN = "ops-token-for-fuzzing"
PORTAL = 62515
EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one database for every example: rows pile up
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture
def client(fresh_engine: Engine, tmp_path: Path) -> TestClient:
    settings_ = load_settings(
        data_dir=tmp_path,
        api_token=TOKEN,
        hubspot_app_client_secret=APP_SECRET,
        # Most generated credentials are wrong: the failure limit would answer 429 to all that
        # follow, the right token included, and the routes behind it would go unexercised.
        api_auth_failures_per_minute=100_000,
    )
    runtime = Runtime(
        settings_, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings_)
    )
    runtime.wake = RecordingWaker()
    with runtime.sessions.begin() as session:
        connection = create_hubspot(
            session,
            runtime.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat", app_client_secret=SECRET),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        connection.account_id = str(PORTAL)
    return TestClient(create_app(runtime), raise_server_exceptions=False)


# Strings with what databases refuse: NUL, lone surrogates, and long runs.
hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "²", "١٢", "x" * 300]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64, 10**18, -(10**18)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=12,
)


def _field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, json_values)


events = st.fixed_dictionaries(
    {
        "eventId": _field(st.integers(min_value=1, max_value=10**6)),
        "subscriptionId": _field(st.integers(min_value=1, max_value=100)),
        "portalId": _field(st.sampled_from([PORTAL, 777])),
        "occurredAt": _field(st.just(int(time.time() * 1000))),
        "subscriptionType": _field(
            st.sampled_from(
                ["contact.propertyChange", "contact.creation", "contact.merge", "deal.creation"]
            )
        ),
        "objectId": _field(st.integers(min_value=1, max_value=10**9)),
    },
    optional={
        "propertyName": _field(hostile_text),
        "propertyValue": _field(hostile_text),
        "mergedObjectIds": _field(st.lists(st.integers(min_value=1, max_value=10**6))),
        "attemptNumber": _field(st.integers(min_value=0, max_value=10)),
        "extra": json_values,
    },
)
bodies = st.one_of(
    st.lists(events, max_size=4).map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=100),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b"[" * 100_000 + b"]" * 100_000,
            b'[{"eventId": NaN}]',
            b'[{"x": Infinity}]',
            b"[1e999]",
            b'["\\u0000", "\\ud800"]',
            b"[" + b"1" * 5000 + b"]",
        ]
    ),
)
refs = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["acme", "1", "0", "2147483647", "2147483648", "9" * 40]),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=450)


def _path(ref: str) -> str:
    return quote(ref.encode("utf-8", "surrogatepass"), safe="")


@EXAMPLES
@given(
    body=bodies,
    to_app=st.booleans(),
    signed=st.booleans(),
    ref=refs,
    timestamp=st.one_of(st.none(), header_text),
    signature=st.one_of(st.none(), header_text),
)
def test_no_webhook_delivery_answers_500(
    client: TestClient,
    body: bytes,
    to_app: bool,
    signed: bool,
    ref: str,
    timestamp: str | None,
    signature: str | None,
) -> None:
    path = "/webhooks/hubspot" if to_app else f"/webhooks/hubspot/{_path(ref)}"
    headers = {"Content-Type": "application/json"}
    if signed:  # correctly signed, so the body itself is parsed and stored
        path = path if to_app else "/webhooks/hubspot/acme"
        ts = int(time.time() * 1000)
        secret = APP_SECRET if to_app else SECRET
        headers["X-HubSpot-Request-Timestamp"] = str(ts)
        headers["X-HubSpot-Signature-v3"] = sign_v3(
            secret, "POST", f"http://testserver{path}", body, ts
        )
    else:
        if timestamp is not None:
            headers["X-HubSpot-Request-Timestamp"] = timestamp
        if signature is not None:
            headers["X-HubSpot-Signature-v3"] = signature
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code < 500, answer.text


@EXAMPLES
@given(
    ref=refs,
    limit=st.one_of(st.none(), header_text, numbers.map(str)),
    body=bodies,
    authorization=st.one_of(st.just(f"Bearer {TOKEN}"), st.just(TOKEN), header_text),
)
def test_no_operations_request_answers_500(
    client: TestClient, ref: str, limit: str | None, body: bytes, authorization: str
) -> None:
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    where = f"/connections/{_path(ref)}"
    query = "" if limit is None else f"?limit={quote(limit, safe='')}"
    for method, path, content in (
        ("GET", where, None),
        ("GET", f"{where}/runs{query}", None),
        ("POST", f"{where}/resync", body),
    ):
        answer = client.request(method, path, content=content, headers=headers)
        assert answer.status_code < 500, (method, path, answer.text)


@EXAMPLES
@given(ref=refs, value=st.one_of(header_text, hostile_text), number=numbers.map(str))
def test_no_console_page_or_form_answers_500(
    client: TestClient, ref: str, value: str, number: str
) -> None:
    if "glengarry_console" not in client.cookies:  # one login for every example
        form = client.get("/console/login").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        logged_in = client.post(
            "/console/login", data={"key": TOKEN, "csrf": csrf}, follow_redirects=False
        )
        assert logged_in.status_code == 303
    where = f"/console/connections/{_path(ref)}"
    value = value.encode("utf-8", "replace").decode()  # a browser sends no lone surrogate
    text = quote(value, safe="")
    num = quote(number, safe="")
    for method, path, data in (
        ("GET", where, None),
        ("GET", f"{where}/contacts?status={text}&q={text}&cursor={num}", None),
        ("GET", f"{where}/report?since={text}&horizon={text}", None),
        ("GET", f"{where}/rejects", None),
        ("GET", f"/console/contacts/{num}", None),
        ("GET", f"/console/syncs/{num}/progress", None),
        ("POST", f"{where}/syncs", {"kind": value, "csrf": value}),
        ("POST", f"{where}/rejects/retry", {"id": [number, value], "csrf": value}),
        ("POST", "/console/criteria/dry-run", {"criteria": value, "csrf": value}),
        ("POST", "/console/login", {"key": value, "csrf": value}),
    ):
        answer = client.request(method, path, data=data, follow_redirects=False)
        assert answer.status_code < 500, (method, path, answer.text)
