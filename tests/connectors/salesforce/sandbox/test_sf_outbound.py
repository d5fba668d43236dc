"""Outbound Messages from the sandbox over HTTP: what is posted (checked against Salesforce's
WSDL with xmlschema, and read back by the connector's parser), when (the integration user's
changes skipped), and how it is retried until a SOAP Ack of true, as the deliveries show."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.salesforce.outbound import parse_notifications
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from tests.fixtures.salesforce.outbound_receiver import ACK_FALSE, BARE_ACK, Answer, Receiver
from tests.fixtures.salesforce.outbound_wsdl import validate

from .conftest import DATA, api, control, population, trust

BACKOFF, MAX_BACKOFF = 0.05, 0.4


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    config = SandboxConfig(
        cert_dir=tmp_path / "org",
        outbound_backoff_seconds=BACKOFF,
        outbound_max_backoff_seconds=MAX_BACKOFF,
        outbound_batch_window_seconds=0.01,
    )
    with SandboxServer(config, members=population()) as server:
        yield server


@pytest.fixture
def http(org: SandboxServer) -> Iterator[httpx.Client]:
    with api(org) as client:
        yield client


@pytest.fixture
def sandbox(org: SandboxServer) -> Iterator[httpx.Client]:
    with control(org) as client:
        yield client


def set_up(sandbox: httpx.Client, **body: object) -> Any:
    answer = sandbox.post("/outbound-message", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def flush(sandbox: httpx.Client) -> Any:
    answer = sandbox.post("/deliveries/flush", json={"timeout": 15}).json()
    assert answer["flushed"], answer
    return answer


def a_lead(org: SandboxServer) -> str:
    return org.store.records("Lead")[0].id


def test_a_simulated_change_is_posted_as_salesforce_writes_it(
    org: SandboxServer, sandbox: httpx.Client
) -> None:
    with Receiver() as receiver:
        messages = set_up(sandbox, url=receiver.url)["messages"]
        assert [m["sobject"] for m in messages] == ["Lead", "Contact"]
        actions = {m["sobject"]: m["action_id"] for m in messages}
        assert sandbox.post("/simulate", json={"contacts": 8, "events_per_contact": 3}).is_success
        flush(sandbox)
        assert receiver.requests, "the simulated changes sent nothing"
        seen: set[str] = set()
        for request in receiver.requests:
            assert request.path == "/webhooks/salesforce/acme/tok"
            assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
            assert request.headers["SOAPAction"] == '""'
            message = parse_notifications(request.body)
            (sobject,) = {event.raw["sobject"] for event in message.events}
            validate(request.body, sobject)  # Salesforce's WSDL, by xmlschema
            assert message.organization_id == org.config.org_id
            assert message.action_id == actions[sobject]
            assert message.enterprise_url == (
                f"{org.instance_url}/services/Soap/c/62.0/{org.config.org_id[:15]}"
            )
            assert not message.session_id_sent
            for event in message.events:
                record = org.store.get(sobject, event.crm_id)
                assert record is not None
                assert event.raw["fields"]["LastName"] == record.get("LastName")
                seen.add(event.dedup_key)
        deliveries = sandbox.get("/deliveries").json()
        assert len(deliveries["deliveries"]) == len(receiver.requests)
        assert all(d["status"] == 200 and d["acknowledged"] for d in deliveries["deliveries"])
        assert deliveries["acknowledged"] == len(seen)  # each notification once, by its own Id
        assert (deliveries["queued"], deliveries["dropped"]) == (0, 0)


def test_the_integration_users_changes_are_skipped_unless_switched_off(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    lead = a_lead(org)
    with Receiver() as receiver:
        set_up(sandbox, url=receiver.url)
        assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CRO"}).status_code == 204
        # queued (or not) while the PATCH was answered: nothing to wait for
        assert sandbox.get("/deliveries").json()["queued"] == 0
        set_up(sandbox, url=receiver.url, skip_integration_user=False)
        assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CEO"}).status_code == 204
        flush(sandbox)
        (request,) = receiver.requests
        (event,) = parse_notifications(request.body).events
        assert (event.crm_id, event.raw["fields"]["Title"]) == (lead, "CEO")


def test_system_changes_send_nothing(org: SandboxServer, sandbox: httpx.Client) -> None:
    lead = org.store.records("Lead")[0]
    set_up(sandbox, url="http://127.0.0.1:9/never", skip_integration_user=False)
    org.store.update(lead, {"LastActivityDate": lead.get("CreatedDate").date()}, system=True)
    assert sandbox.get("/deliveries").json()["queued"] == 0  # a roll-up fires no Flow
    org.store.update(lead, {"Title": "CRO"})
    assert sandbox.get("/deliveries").json()["queued"] == 1


def test_retried_until_a_soap_ack_of_true(org: SandboxServer, http: httpx.Client,
                                          sandbox: httpx.Client) -> None:  # fmt: skip
    script = [
        Answer(500, b"<soapenv:Fault/>"),
        Answer(200, BARE_ACK),  # an Ack outside a SOAP envelope
        Answer(200, ACK_FALSE),
        Answer(200, b"OK", "text/plain"),
    ]
    with Receiver(*script) as receiver:
        set_up(sandbox, url=receiver.url, skip_integration_user=False)
        lead = a_lead(org)
        assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CRO"}).status_code == 204
        flush(sandbox)
        requests = receiver.requests
    attempts = sandbox.get("/deliveries").json()
    log = attempts["deliveries"]
    assert [d["status"] for d in log] == [500, 200, 200, 200, 200]
    assert [d["acknowledged"] for d in log] == [False, False, False, False, True]
    assert [d["attempt"] for d in log] == [1, 2, 3, 4, 5]
    assert log[0]["error"] == "HTTP 500"
    assert "not a SOAP 1.1 Envelope" in log[1]["error"]
    assert log[2]["error"] == "the Ack is 'false', not true"
    assert log[3]["error"] == "the answer is not well-formed XML"
    (notification,) = {tuple(d["notification_ids"]) for d in log}  # the same one each time
    assert {parse_notifications(r.body).events[0].raw["notification_id"] for r in requests} == set(
        notification
    )
    counts = (attempts["attempts"], attempts["failed_attempts"], attempts["acknowledged"])
    assert counts == (5, 4, 1)
    sent = [datetime.strptime(d["sent_at"], "%Y-%m-%dT%H:%M:%S.%f%z") for d in log]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(sent)]
    waits = [min(BACKOFF * 2**n, MAX_BACKOFF) for n in range(4)]  # 0.05, 0.1, 0.2, 0.4
    assert all(gap >= wait - 0.002 for gap, wait in zip(gaps, waits, strict=True)), gaps


def test_an_unreachable_endpoint_keeps_the_message_until_the_url_is_fixed(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    set_up(sandbox, url="http://127.0.0.1:9/nobody-listens", skip_integration_user=False)
    lead = a_lead(org)
    assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CRO"}).status_code == 204
    assert org.runtime.outbox.wait_for_attempts(2)
    first = sandbox.get("/deliveries").json()["deliveries"][0]
    assert first["status"] is None
    assert first["error"].startswith("no answer")
    with Receiver() as receiver:
        set_up(sandbox, url=receiver.url)  # changed while the sandbox runs
        flush(sandbox)
        (request,) = receiver.requests
    assert (
        parse_notifications(request.body).events[0].raw["notification_id"]
        == first["notification_ids"][0]
    )


def test_dropped_after_24_hours_of_the_orgs_clock(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    with Receiver(*[Answer(500)] * 1000) as receiver:
        set_up(sandbox, url=receiver.url, skip_integration_user=False)
        assert http.patch(f"/sobjects/Lead/{a_lead(org)}", json={"Title": "X"}).status_code == 204
        receiver.wait_for(1)
        assert sandbox.post("/clock", json={"advance_days": 0.9}).is_success
        seen = len(receiver.wait_for(len(receiver.requests) + 1))  # still retried at 21.6 hours
        assert sandbox.get("/deliveries").json()["queued"] == 1
        assert sandbox.post("/clock", json={"advance_days": 0.2}).is_success
        answer = flush(sandbox)
        assert (answer["queued"], answer["dropped"], answer["acknowledged"]) == (0, 1, 0)
        assert answer["attempts"] == len(receiver.requests) >= seen  # none after the drop


def test_sending_never_holds_up_the_api(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    with Receiver() as receiver:
        set_up(sandbox, url=receiver.url, skip_integration_user=False)
        lead = a_lead(org)
        with receiver.holding():
            assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "A"}).status_code == 204
            receiver.wait_for(1)  # the delivery is in flight, its answer held
            started = time.monotonic()
            assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "B"}).status_code == 204
            assert http.get(f"/sobjects/Lead/{lead}").json()["Title"] == "B"
            assert time.monotonic() - started < 5  # the held delivery has 30 s
            assert sandbox.get("/deliveries").json()["queued"] == 2  # in flight, and queued
        flush(sandbox)
        assert len(receiver.requests) == 2


def test_the_session_id_is_sent_when_asked_and_is_a_real_session(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    with Receiver() as receiver:
        set_up(sandbox, url=receiver.url, skip_integration_user=False, send_session_id=True)
        assert http.patch(f"/sobjects/Lead/{a_lead(org)}", json={"Title": "X"}).status_code == 204
        flush(sandbox)
        (request,) = receiver.requests
    validate(request.body, "Lead")
    assert parse_notifications(request.body).session_id_sent
    start = request.body.index(b"<SessionId>") + len(b"<SessionId>")
    session = request.body[start : request.body.index(b"</SessionId>")].decode()
    limits = httpx.get(
        f"{org.instance_url}{DATA}/limits",
        headers={"Authorization": f"Bearer {session}"},
        verify=trust(org),
    )
    assert limits.status_code == 200


def test_contact_and_task_messages(org: SandboxServer, http: httpx.Client,
                                   sandbox: httpx.Client) -> None:  # fmt: skip
    contact = org.store.records("Contact")[0].id
    lead = a_lead(org)
    with Receiver() as receiver:
        set_up(sandbox, url=receiver.url, skip_integration_user=False)
        set_up(sandbox, url=receiver.url, sobject="Task", skip_integration_user=False)
        assert http.patch(f"/sobjects/Contact/{contact}", json={"Title": "CFO"}).status_code == 204
        created = http.post("/sobjects/Task", json={"Subject": "Call", "WhoId": lead})
        assert created.status_code == 201, created.text
        flush(sandbox)
        bodies = {parse_notifications(r.body).events[0].raw["sobject"]: r.body
                  for r in receiver.requests}  # fmt: skip
    validate(bodies["Contact"], "Contact")
    (task,) = parse_notifications(bodies["Task"]).events
    assert (task.crm_id, task.raw["who_id"]) == (created.json()["id"], lead)


def test_setting_up_messages_is_checked(sandbox: httpx.Client) -> None:
    for body, problem in [
        ({"url": "ftp://example.com/x"}, "must be http(s)://host/"),
        ({"url": "http://127.0.0.1:99999/x"}, "port is not a port"),
        ({"url": "http://127.0.0.1/x", "fields": ["Title", "Nope"]}, "Lead has no field 'Nope'"),
        ({"url": "http://127.0.0.1/x", "sobject": "Account"}, "can be set up on Lead"),
        ({"url": "http://127.0.0.1/x", "send_session_id": "yes"}, "send_session_id"),
        ({"fields": ["Title"]}, "url: Field required"),
    ]:
        answer = sandbox.post("/outbound-message", json=body)
        assert answer.status_code == 400, body
        (error,) = answer.json()
        assert error["errorCode"] == "INVALID_INPUT"
        assert problem in error["message"], (body, error)
    assert sandbox.get("/outbound-message").json() == {"messages": []}  # nothing half-made
    made = sandbox.post(
        "/outbound-message",
        json={"url": "http://127.0.0.1/x", "sobject": "Lead", "fields": ["title", "Id"], "x": 1},
    ).json()
    assert made["warnings"] == ["ignored unknown key 'x'"]
    (lead,) = made["messages"]
    assert (lead["fields"], lead["skip_integration_user"]) == (["Title"], True)
    assert sandbox.post("/outbound-message", json={"url": None}).json() == {"messages": []}
