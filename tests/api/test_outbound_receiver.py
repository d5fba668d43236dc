"""The Outbound Message receiver, `/webhooks/salesforce/{connection}/{token}`: every refusal the
real-time issue lists, the documented sample stored verbatim, deduplicated by Notification Id,
and the SOAP `Ack` sent once stored. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.api import create_app
from app.connection_settings import delete_connection
from app.connections import create_connection
from app.db import session_factory
from app.models import Connection, InboxEvent
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.salesforce.crm import CRM, PATH_TOKEN
from connectors.salesforce.outbound import CONTENT_TYPE, ack_body, new_path_token
from tests.wakers import RecordingWaker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
SAMPLE = (FIXTURES / "outbound-lead-sample.xml").read_bytes()
ORG = "00DR00000001fWVMAY"  # the sample's OrganizationId
TOKEN = new_path_token()
XML = {"Content-Type": CONTENT_TYPE, "SOAPAction": '""'}


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, webhook_max_body_bytes=16_384)
    rt = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        connection = create_connection(
            session,
            rt.vault,
            CRM,
            name="sf",
            # The org is unreachable on purpose: the receiver must never call it.
            secrets={"client_id": "id", "client_secret": "s", PATH_TOKEN: TOKEN},
            options={"instance_url": "https://127.0.0.1:9"},
            budget_share=0.5,
        )
        connection.account_id = ORG
    return rt


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def _post(client: TestClient, body: bytes, *, name: str = "sf", token: str = TOKEN) -> Any:
    return client.post(f"/webhooks/salesforce/{name}/{token}", content=body, headers=XML)


def _stored(runtime: Runtime) -> list[InboxEvent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(InboxEvent).order_by(InboxEvent.dedup_key)))


def test_the_documented_sample_is_stored_once_per_notification_and_acknowledged(
    client: TestClient, runtime: Runtime
) -> None:
    answer = _post(client, SAMPLE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.content == ack_body()
    events = _stored(runtime)
    assert [e.dedup_key for e in events] == [
        f"{ORG}:04lR0000000CcIFIA0",
        f"{ORG}:04lR0000000CcIGIA0",
    ]
    assert {e.source for e in events} == {"salesforce"}
    assert _post(client, SAMPLE).status_code == 200  # Salesforce's retry of the same message
    assert len(_stored(runtime)) == 2
    assert runtime.wake.inboxes  # type: ignore[attr-defined]


def test_two_orgs_notifications_with_the_same_id_are_both_stored(
    client: TestClient, runtime: Runtime
) -> None:
    """Notification ids are an org's own: another org's message naming the same ids is news."""
    other_org = "00D000000000001AAA"
    with runtime.sessions.begin() as session:
        create_connection(
            session,
            runtime.vault,
            CRM,
            name="sf2",
            secrets={"client_id": "id", "client_secret": "s", PATH_TOKEN: "token-of-sf2"},
            options={"instance_url": "https://127.0.0.1:9"},
            budget_share=0.5,
        ).account_id = other_org
    assert _post(client, SAMPLE).status_code == 200
    same_ids = SAMPLE.replace(ORG.encode(), other_org.encode())
    assert _post(client, same_ids, name="sf2", token="token-of-sf2").status_code == 200
    assert len(_stored(runtime)) == 4


def test_the_session_id_is_never_stored(client: TestClient, runtime: Runtime) -> None:
    with_session = SAMPLE.replace(
        b'<SessionId xsi:nil="true"/>', b"<SessionId>00DR0!AQ4AQSECRETSESSION</SessionId>"
    )
    assert _post(client, with_session).status_code == 200
    with runtime.sessions() as session:
        raw = " ".join(str(e.event) for e in session.scalars(select(InboxEvent)))
    assert "SECRETSESSION" not in raw


@pytest.mark.parametrize(
    ("name", "token"),
    [("sf", new_path_token()), ("nobody", TOKEN), ("sf", "short"), ("sf", "")],
    ids=["another-token", "another-connection", "short-token", "no-token"],
)
def test_an_unknown_connection_and_a_wrong_token_get_the_same_404(
    client: TestClient, runtime: Runtime, name: str, token: str
) -> None:
    path = f"/webhooks/salesforce/{name}/{token}" if token else f"/webhooks/salesforce/{name}"
    answer = client.post(path, content=SAMPLE, headers=XML)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "not found"
    assert _stored(runtime) == []


def test_another_orgs_message_with_a_valid_token_is_403_and_stores_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    other = SAMPLE.replace(ORG.encode(), b"00D000000000001AAA")
    answer = _post(client, other)
    assert answer.status_code == 403
    assert "00D000000000001AAA" in answer.json()["detail"]
    assert _stored(runtime) == []


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'>"
    b"<soapenv:Body>&lol2;</soapenv:Body></soapenv:Envelope>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'>"
    b"<soapenv:Body>&ext;</soapenv:Body></soapenv:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (BOMB, 400, "entit"),
        (EXTERNAL, 400, "entit"),
        (b"<soapenv:Envelope", 400, "XML"),
        (SAMPLE.replace(b"<Id>04lR0000000CcIGIA0</Id>", b""), 400, "Id"),
        (b"<x>" + b"a" * 20_000 + b"</x>", 413, "larger than"),
    ],
    ids=["entity-bomb", "external-entity", "malformed", "notification-without-id", "oversized"],
)
def test_bad_messages_are_refused_naming_the_problem_and_store_nothing(
    client: TestClient, runtime: Runtime, body: bytes, status: int, words: str
) -> None:
    answer = _post(client, body)
    assert answer.status_code == status, answer.text
    assert words.lower() in answer.json()["detail"].lower()
    assert _stored(runtime) == []


def test_the_token_is_masked_in_the_access_log(client: TestClient) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        _post(client, SAMPLE)
    lines = " ".join(str(entry) for entry in logs)
    assert TOKEN not in lines
    assert "/webhooks/salesforce/sf/" in lines


def test_hubspot_has_no_token_route(client: TestClient) -> None:
    answer = client.post(f"/webhooks/hubspot/sf/{TOKEN}", content=b"[]")
    assert answer.status_code == 404


def test_an_unknown_crm_is_404(client: TestClient) -> None:
    answer = client.post("/webhooks/pipedrive/sf", content=b"[]")
    assert answer.status_code == 404


def test_a_notification_without_its_dates_is_stored_and_counted_as_sparse(
    client: TestClient, runtime: Runtime
) -> None:
    from app.metrics import REGISTRY

    def sparse() -> float:
        value = REGISTRY.get_sample_value(
            "glengarry_webhook_events_total", {"connection": "sf", "outcome": "sparse"}
        )
        return value or 0.0

    before = sparse()
    dated = b"<sf:LastModifiedDate>2024-10-02T14:05:00.000Z</sf:LastModifiedDate>"
    assert dated in SAMPLE
    bare = SAMPLE.replace(dated, b"")
    assert _post(client, bare).status_code == 200
    assert sparse() - before == 1  # the second Notification carried no date; the first did
    assert len(_stored(runtime)) == 2


def test_a_deleted_connection_answers_as_an_unknown_one_and_stores_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    unknown = _post(client, SAMPLE, name="nobody")
    with runtime.sessions.begin() as session:
        found = session.scalars(select(Connection).where(Connection.name == "sf")).one()
        delete_connection(session, found, purge=False, actor="test", at=datetime.now(UTC))
    gone = _post(client, SAMPLE)  # its own, right token
    assert (gone.status_code, gone.headers["content-type"], gone.content) == (
        unknown.status_code,
        unknown.headers["content-type"],
        unknown.content,
    )
    assert (gone.status_code, gone.json()) == (404, {"detail": "not found"})
    assert _stored(runtime) == []
    assert cast(RecordingWaker, runtime.wake).inboxes == []
