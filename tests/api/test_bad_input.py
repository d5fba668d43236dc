"""Bad input refused, a clear error and nothing stored, on every body-taking route, and no data
reachable without the right key; every secret used here is looked for in every log line and
every answer of this module.

- Each protected operation answers 401 without a key, 403 with a key of too low a scope and
  404 to a key bound to another connection, whatever its body.
- Each body-taking route (operations and webhooks) answers an oversized body 413, a body
  declared of another media type 415, and stores nothing.
- The operations bodies under hypothesis: never a 5xx, unknown keys and wrong types 422 (the
  resync's unknown keys are ignored, and named, by design), nothing stored on a refusal.
- Outbound Messages under hypothesis through their route; a signature or token valid for
  another connection is refused, as is another org's message.
- Schemathesis over the whole OpenAPI document without a key, with a read key and with a key
  bound to another connection.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from app.api import create_app
from app.apikeys import create_key
from app.connections import create_connection
from app.db import session_factory
from app.models import Connection, Contact, InboxEvent
from app.models.base import Base
from app.runtime import Runtime
from app.settings import load_settings
from app.syncs import request_sync
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from connectors.salesforce.crm import CRM as SALESFORCE
from connectors.salesforce.crm import PATH_TOKEN
from connectors.salesforce.outbound import CONTENT_TYPE, new_path_token
from tests.api.test_access import secret_of
from tests.connectors.test_webhook_parsers_fuzz import salesforce_bodies
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
SAMPLE = (FIXTURES / "outbound-lead-sample.xml").read_bytes()
ORG = "00DR00000001fWVMAY"  # the sample's OrganizationId
OTHER_ORG = "00D000000000001AAA"
ADMIN_TOKEN = "env-admin-token-BADINPUT-1f3a"
APP_SECRET = "app-client-secret-BADINPUT-77c2"
SECRETS = {  # connection -> its webhook secret
    "acme": "acme-client-secret-BADINPUT-a1",
    "other": "other-client-secret-BADINPUT-b2",
}
ACCESS_TOKENS = {"acme": "pat-na1-BADINPUT-acme-access", "other": "pat-na1-BADINPUT-other-access"}
SF_TOKENS = {"sf": new_path_token(), "sf2": new_path_token()}
SF_CLIENT_SECRET = "sf-client-secret-BADINPUT-c3"
FERNET_KEY = Fernet.generate_key().decode()
LIMIT = 16_384  # the webhook body limit of these tests
MINIMAL = "name: t\nthresholds: {fit: 50, engagement: 40}\n"
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": CONTENT_TYPE, "SOAPAction": '""'}
EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one database for every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# Every protected operation and the scope it needs; an operation missing here fails
# test_every_protected_operation_is_listed, so a new route gets its refusals checked too.
SCOPES: dict[tuple[str, str], str] = {
    ("GET", "/connections"): "read",
    ("GET", "/connections/{connection}"): "read",
    ("DELETE", "/connections/{connection}"): "admin",
    ("GET", "/connections/{connection}/runs"): "read",
    ("POST", "/connections/{connection}/resync"): "operate",
    ("PATCH", "/connections/{connection}/settings"): "admin",
    ("POST", "/connections/{connection}/pause"): "admin",
    ("POST", "/connections/{connection}/resume"): "admin",
    ("GET", "/connections/{connection}/report"): "read",
    ("POST", "/connections/{connection}/syncs"): "operate",
    ("GET", "/connections/{connection}/syncs"): "read",
    ("GET", "/syncs"): "read",
    ("GET", "/syncs/{run_id}"): "read",
    ("POST", "/syncs/{run_id}/cancel"): "operate",
    ("GET", "/syncs/{run_id}/events"): "read",
    ("GET", "/connections/{connection}/rejects"): "read",
    ("POST", "/connections/{connection}/rejects/retry"): "operate",
    ("GET", "/contacts/{contact_id}/qualification"): "read",
    ("GET", "/connections/{connection}/contacts/{crm_id}/qualification"): "read",
    ("GET", "/connections/{connection}/contacts"): "read",
    ("GET", "/criteria/active"): "read",
    ("POST", "/criteria/dry-run"): "admin",
    ("GET", "/criteria/versions"): "read",
    ("POST", "/criteria/versions"): "admin",
    ("GET", "/criteria/diff"): "read",
    ("POST", "/criteria/activate"): "admin",
    ("PUT", "/connections/{connection}/alerts"): "admin",
    ("GET", "/connections/{connection}/alerts"): "read",
    ("DELETE", "/connections/{connection}/alerts"): "admin",
    ("GET", "/apikeys"): "admin",
    ("POST", "/apikeys"): "admin",
    ("POST", "/apikeys/{name}/revoke"): "admin",
    ("GET", "/audit"): "admin",
    ("GET", "/whoami"): "read",
}
# A valid body for each operation that takes one.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/connections/{connection}/resync"): {"full": False},
    ("PATCH", "/connections/{connection}/settings"): {"writes_enabled": False},
    ("POST", "/connections/{connection}/syncs"): {"kind": "contacts", "contact_ids": ["c1"]},
    ("POST", "/connections/{connection}/rejects/retry"): {"ids": [1]},
    ("POST", "/criteria/dry-run"): {"criteria": MINIMAL, "examples": 1},
    ("POST", "/criteria/versions"): {"criteria": MINIMAL},
    ("POST", "/criteria/activate"): {"criteria": MINIMAL},
    ("PUT", "/connections/{connection}/alerts"): {"url": "https://hooks.example.com/x/y"},
    ("POST", "/apikeys"): {"name": "made-here", "scope": "read"},
}
LOWER = {"operate": "read", "admin": "operate"}


@dataclass
class World:
    runtime: Runtime
    client: TestClient
    keys: dict[str, str]  # read, operate, admin, bound (admin of "other")
    run_id: int  # a run of acme's
    contact_id: int  # a contact of acme's
    answers: list[str] = field(default_factory=list)

    def path(self, template: str, connection: str = "acme") -> str:
        return template.format(
            connection=connection,
            run_id=self.run_id,
            contact_id=self.contact_id,
            crm_id="c1",
            name="reader",
        )

    def secrets(self) -> list[str]:
        return [
            ADMIN_TOKEN,
            APP_SECRET,
            FERNET_KEY,
            SF_CLIENT_SECRET,
            *SECRETS.values(),
            *ACCESS_TOKENS.values(),
            *SF_TOKENS.values(),
            *self.keys.values(),
            *(secret_of(key) for key in self.keys.values()),  # the secret part alone
        ]


def _rows(runtime: Runtime) -> dict[str, int]:
    """How many rows each table holds: what "nothing stored" is checked against."""
    with runtime.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def world(
    fresh_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[World]:
    loaded = load_settings(
        data_dir=tmp_path,
        api_token=ADMIN_TOKEN,
        secret_key=FERNET_KEY,
        hubspot_app_client_secret=APP_SECRET,
        webhook_max_body_bytes=LIMIT,
        api_auth_failures_per_minute=100_000,  # most calls here are refused on purpose
    )
    runtime = Runtime(
        loaded, fresh_engine, session_factory(fresh_engine), Vault.from_settings(loaded)
    )
    runtime.wake = RecordingWaker()
    now = datetime.now(UTC)
    keys: dict[str, str] = {}
    with runtime.sessions.begin() as session:
        for number, name in enumerate(("acme", "other"), start=1):
            connection = create_hubspot(
                session,
                runtime.vault,
                name=name,
                credentials=HubSpotCredentials(
                    token=ACCESS_TOKENS[name], app_client_secret=SECRETS[name]
                ),
                base_url="http://127.0.0.1:9",
                app_type=AppType.PRIVATE_PRO,
                signature=SignatureVersion.V3,
                budget_share=0.4,
            )
            connection.account_id = str(number)
        for name, org in (("sf", ORG), ("sf2", OTHER_ORG)):
            sf = create_connection(
                session,
                runtime.vault,
                SALESFORCE,
                name=name,
                secrets={
                    "client_id": "id",
                    "client_secret": SF_CLIENT_SECRET,
                    PATH_TOKEN: SF_TOKENS[name],
                },
                options={"instance_url": "https://127.0.0.1:9"},
                budget_share=0.1,
            )
            sf.account_id = org
        for name, scope, bound in (
            ("reader", "read", None),
            ("operator", "operate", None),
            ("admin", "admin", None),
            ("bound", "admin", "other"),
        ):
            keys[name], _ = create_key(session, name=name, scope=scope, connection=bound, now=now)
        acme = session.scalars(select(Connection).where(Connection.name == "acme")).one()
        run = request_sync(session, acme, kind="full", contact_ids=(), dry_run=False, now=now)
        contact = Contact(connection_id=acme.id, crm_id="c1", properties={})
        session.add(contact)
        session.flush()
        run_id, contact_id = run.run.id, contact.id
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    made = World(runtime, client, keys, run_id, contact_id)

    def keep(response: Any) -> None:
        response.read()
        made.answers.append(f"{response.headers}\n{response.text}")

    client.event_hooks["response"] = [keep]
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        yield made
    # Every log line and every answer of the test, for every secret it used.
    seen = "\n".join([*(json.dumps(e, default=str) for e in logs), caplog.text, *made.answers])
    assert [s for s in made.secrets() if s in seen] == []


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _body(method: str, template: str) -> bytes | None:
    found = BODIES.get((method, template))
    return None if found is None else json.dumps(found).encode()


def _call(world: World, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    return world.client.request(method, path, content=body, headers={**JSON, **headers})


def test_every_protected_operation_is_listed(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    protected = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") and path != "/metrics"  # open unless configured
    }
    assert protected == set(SCOPES)
    taking = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and not path.startswith("/webhooks")
    }
    assert taking == set(BODIES)


@pytest.mark.parametrize(
    ("method", "template"), sorted(SCOPES), ids=[" ".join(k) for k in sorted(SCOPES)]
)
def test_no_key_is_401_and_too_low_a_scope_403_whatever_the_body(
    world: World, method: str, template: str
) -> None:
    path = world.path(template)
    before = _rows(world.runtime)
    bodies = [_body(method, template), b'{"unknown": 1}', b"[", b"\x00"]
    for body in bodies:
        for headers in ({}, {"Authorization": "Bearer glg_000000000000_nope"}):
            answer = _call(world, method, path, headers, body)
            assert answer.status_code == 401, (body, answer.text)
            assert answer.json()["error"]["code"] == "unauthenticated"
        lower = LOWER.get(SCOPES[(method, template)])
        if lower is not None:
            key = {"read": "reader", "operate": "operator"}[lower]
            answer = _call(world, method, path, _bearer(world.keys[key]), body)
            assert answer.status_code == 403, (body, answer.text)
            assert answer.json()["error"]["code"] == "insufficient_scope"
    assert _rows(world.runtime) == before


OWNED = sorted(
    key for key in SCOPES if any(p in key[1] for p in ("{connection}", "{run_id}", "{contact_id}"))
)


@pytest.mark.parametrize(("method", "template"), OWNED, ids=[" ".join(k) for k in OWNED])
def test_a_key_bound_to_another_connection_gets_404(
    world: World, method: str, template: str
) -> None:
    before = _rows(world.runtime)
    answer = _call(
        world, method, world.path(template), _bearer(world.keys["bound"]), _body(method, template)
    )
    assert answer.status_code == 404, answer.text
    assert _rows(world.runtime) == before
    # As for a connection (a run, a contact) that does not exist: nothing tells them apart.
    missing = (
        world.path(template, "nobody")
        .replace(f"/{world.run_id}", "/999998")
        .replace(f"/{world.contact_id}", "/999998")
    )
    unknown = _call(world, method, missing, _bearer(world.keys["bound"]), _body(method, template))
    assert unknown.status_code == 404
    assert answer.json()["error"]["code"] == unknown.json()["error"]["code"]
    scrubbed = (
        answer.json()["error"]["message"]
        .replace("acme", "nobody")
        .replace(str(world.run_id), "999998")
        .replace(str(world.contact_id), "999998")
    )
    assert scrubbed == unknown.json()["error"]["message"]
    # And the key's own connection answers (the 404 is not a broken route).
    own = _call(
        world,
        method,
        world.path(template, "other").replace(f"/{world.run_id}", "/999999"),
        _bearer(world.keys["bound"]),
        _body(method, template),
    )
    assert own.status_code < 500, own.text


def _webhook_requests(world: World, body: bytes, content_type: str) -> list[tuple[str, dict]]:
    """A delivery to each webhook route, correctly signed (or with the right token)."""
    ts = int(time.time() * 1000)
    requests = []
    for path, secret in (
        ("/webhooks/hubspot/acme", SECRETS["acme"]),
        ("/webhooks/hubspot", APP_SECRET),
    ):
        headers = {
            "Content-Type": content_type,
            "X-HubSpot-Request-Timestamp": str(ts),
            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", f"http://testserver{path}", body, ts),
        }
        requests.append((path, headers))
    requests.append(
        (f"/webhooks/salesforce/sf/{SF_TOKENS['sf']}", {**XML, "Content-Type": content_type})
    )
    return requests


def _hubspot_delivery(portal: int = 1) -> bytes:
    event = {
        "eventId": 1,
        "subscriptionId": 1,
        "portalId": portal,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.propertyChange",
        "objectId": 7,
        "propertyName": "jobtitle",
        "propertyValue": "CTO",
    }
    return json.dumps([event]).encode()


def test_oversized_bodies_are_413_on_every_body_route_and_store_nothing(world: World) -> None:
    before = _rows(world.runtime)
    admin = _bearer(world.keys["admin"])
    for method, template in sorted(BODIES):
        valid = BODIES[(method, template)]
        padded = json.dumps({**valid, "pad": "x" * 70_000}).encode()
        answer = _call(world, method, world.path(template), admin, padded)
        assert answer.status_code == 413, (template, answer.text)
        assert answer.json()["error"]["code"] == "too_large"
    hubspot = b"[" + b" " * LIMIT + _hubspot_delivery()[1:]
    for body, kind in ((hubspot, "hubspot"), (SAMPLE + b" " * LIMIT, "salesforce")):
        for path, headers in _webhook_requests(world, body, "application/json"):
            if kind not in path:
                continue
            if kind == "salesforce":
                headers = XML
            answer = world.client.post(path, content=body, headers=headers)
            assert answer.status_code == 413, (path, answer.text)
            assert "larger than" in answer.json()["detail"]
    assert _rows(world.runtime) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/xml"]
)
def test_a_body_of_another_media_type_is_415_on_every_body_route_and_stores_nothing(
    world: World, content_type: str
) -> None:
    before = _rows(world.runtime)
    admin = _bearer(world.keys["admin"])
    for method, template in sorted(BODIES):
        body = _body(method, template)
        answer = world.client.request(
            method,
            world.path(template),
            content=body,
            headers={**admin, "Content-Type": content_type},
        )
        assert answer.status_code == 415, (template, answer.text)
        assert answer.json()["error"]["code"] == "unsupported_media_type"
        assert content_type in answer.json()["error"]["message"]
    delivery = _hubspot_delivery()
    for path, headers in _webhook_requests(world, delivery, content_type):
        body = delivery
        if "salesforce" in path:
            body = SAMPLE
            if content_type == "text/xml":
                headers = {**XML, "Content-Type": "application/json"}
        answer = world.client.post(path, content=body, headers=headers)
        if "hubspot" in path or content_type != "text/xml":
            assert answer.status_code == 415, (path, answer.text)
            assert "deliveries are" in answer.json()["detail"]
    assert _rows(world.runtime) == before


def test_a_body_without_a_content_type_is_415_and_json_with_its_charset_is_read(
    world: World,
) -> None:
    admin = _bearer(world.keys["admin"])
    before = _rows(world.runtime)
    untyped = world.client.post(
        "/criteria/versions", content=json.dumps({"criteria": MINIMAL}), headers=admin
    )
    assert untyped.status_code == 415, untyped.text
    assert "'undeclared'" in untyped.json()["error"]["message"]
    assert _rows(world.runtime) == before
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, JSON):
        answer = world.client.post(
            "/criteria/versions",
            content=json.dumps({"criteria": MINIMAL}),
            headers={**admin, **headers},
        )
        assert answer.status_code in (200, 201), answer.text


def test_a_signature_or_token_valid_for_another_connection_is_refused(world: World) -> None:
    before = _rows(world.runtime)
    body = _hubspot_delivery(portal=1)
    ts = int(time.time() * 1000)
    url = "http://testserver/webhooks/hubspot/acme"
    # Signed with the client secret of "other" (a valid signature, for the other connection).
    signed = {
        **JSON,
        "X-HubSpot-Request-Timestamp": str(ts),
        "X-HubSpot-Signature-v3": sign_v3(SECRETS["other"], "POST", url, body, ts),
    }
    assert (
        world.client.post("/webhooks/hubspot/acme", content=body, headers=signed).status_code == 401
    )
    # Salesforce: the token of sf2 on the URL of sf, and sf's token with sf2's message.
    wrong_token = world.client.post(
        f"/webhooks/salesforce/sf/{SF_TOKENS['sf2']}", content=SAMPLE, headers=XML
    )
    assert (wrong_token.status_code, wrong_token.json()) == (404, {"detail": "not found"})
    other_org = SAMPLE.replace(ORG.encode(), OTHER_ORG.encode())
    foreign = world.client.post(
        f"/webhooks/salesforce/sf/{SF_TOKENS['sf']}", content=other_org, headers=XML
    )
    assert foreign.status_code == 403
    assert OTHER_ORG in foreign.json()["detail"]
    # sf2's own message on sf2's URL is its own: the refusals above were not a broken route.
    own = world.client.post(
        f"/webhooks/salesforce/sf2/{SF_TOKENS['sf2']}", content=other_org, headers=XML
    )
    assert own.status_code == 200, own.text
    after = _rows(world.runtime)
    assert after["webhook_inbox"] - before["webhook_inbox"] == 2
    with world.runtime.sessions() as session:
        stored = session.scalars(select(InboxEvent.connection_id)).all()
        sf2 = session.scalars(select(Connection.id).where(Connection.name == "sf2")).one()
    assert set(stored) == {sf2}


# --- hypothesis over the operations bodies ---------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "²", "x" * 200, "read", "admin", "full"]),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def operation_bodies(draw: st.DrawFn) -> tuple[str, str, Any, str]:
    """(method, route, body, what was done to the valid body)."""
    method, template = draw(st.sampled_from(sorted(BODIES)))
    body: Any = dict(BODIES[(method, template)])
    what = draw(st.sampled_from(["keep", "replace", "replace", "unknown", "anything"]))
    if what == "replace":
        body[draw(st.sampled_from(sorted(body)))] = draw(json_values)
    elif what == "unknown":
        body[draw(st.sampled_from(["fulll", "Full", "extra", "scope "]))] = draw(json_values)
    elif what == "anything":
        body = draw(json_values)
    return method, template, body, what


@EXAMPLES
@given(drawn=operation_bodies())
def test_operations_bodies_are_never_a_5xx_and_a_refusal_stores_nothing(
    world: World, drawn: tuple[str, str, Any, str]
) -> None:
    method, template, body, what = drawn
    before = _rows(world.runtime)
    text = json.dumps(body).encode("utf-8", "surrogatepass")
    answer = _call(world, method, world.path(template), _bearer(world.keys["admin"]), text)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["error"]["message"], answer.text
        assert _rows(world.runtime) == before, answer.text
    if what == "unknown" and "resync" not in template:
        assert answer.status_code == 422, answer.text  # strict: a misspelt key is no default


@EXAMPLES
@given(body=salesforce_bodies)
def test_no_outbound_message_answers_5xx_and_a_refusal_stores_nothing(
    world: World, body: bytes
) -> None:
    before = _rows(world.runtime)["webhook_inbox"]
    answer = world.client.post(
        f"/webhooks/salesforce/sf/{SF_TOKENS['sf']}", content=body, headers=XML
    )
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["detail"]
        assert _rows(world.runtime)["webhook_inbox"] == before


# --- schemathesis, with the wrong keys -------------------------------------------------------

SCHEMA_EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=4,
    suppress_health_check=list(HealthCheck),
)


def _run_schemathesis(world: World, headers: dict[str, str], expect: Any) -> int:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/webhooks") or operation.path.endswith("/events"):
            continue
        key = (operation.method.upper(), operation.path)

        def check(operation: Any, key: tuple[str, str]) -> None:
            @SCHEMA_EXAMPLES
            @given(case=operation.as_strategy())
            def call(case: Any) -> None:
                nonlocal calls
                response = case.call(headers=headers)
                calls += 1
                expect(key, response)

            call()

        check(operation, key)
    return calls


def test_schemathesis_without_a_key_reaches_nothing_protected(world: World) -> None:
    def expect(key: tuple[str, str], response: Any) -> None:
        if key in SCOPES:
            assert response.status_code == 401, (key, response.text)
        else:
            assert response.status_code < 500, (key, response.text)

    assert _run_schemathesis(world, {}, expect) >= 4 * 30


def test_schemathesis_with_a_read_key_changes_nothing_and_reaches_no_higher_scope(
    world: World,
) -> None:
    def expect(key: tuple[str, str], response: Any) -> None:
        assert response.status_code < 500, (key, response.text)
        if SCOPES.get(key, "read") != "read":
            assert response.status_code == 403, (key, response.text)

    reader = _bearer(world.keys["reader"])
    # The first read of the active criteria stores the default ones: done before counting.
    assert world.client.get("/criteria/active", headers=reader).status_code == 200
    before = _rows(world.runtime)
    assert _run_schemathesis(world, reader, expect) >= 4 * 30
    after = _rows(world.runtime)
    assert {t: n for t, n in after.items() if t != "api_keys"} == {
        t: n for t, n in before.items() if t != "api_keys"
    }


def test_schemathesis_with_a_key_bound_to_another_connection_sees_none_of_acmes(
    world: World,
) -> None:
    def expect(key: tuple[str, str], response: Any) -> None:
        assert response.status_code < 500, (key, response.text)
        if key in SCOPES:  # the open routes (/metrics, health) are open to anyone
            assert '"acme"' not in response.text, (key, response.text)

    assert _run_schemathesis(world, _bearer(world.keys["bound"]), expect) >= 4 * 30
