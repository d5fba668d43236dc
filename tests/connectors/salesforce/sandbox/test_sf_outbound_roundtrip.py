"""Round trip: the sandbox's Outbound Messages into a small FastAPI receiver built on the
connector's `OutboundMessages` (path token, org, parse, dedup on the Notification's Id, Ack
only once stored), served by the kit's server thread. A wrong token is retried until the URL
is fixed; an acknowledgement lost after storing is retried and stored once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from connectors.base import ChangeEvent
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.salesforce.outbound import (
    CONTENT_TYPE,
    OrganizationMismatch,
    OutboundMessages,
    ack_body,
    new_path_token,
)
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from connectors.sandbox_kit import ServerThread

from .conftest import api, control, population

TOKEN = new_path_token()


class Inbox:
    def __init__(self, organization_id: str, *, lose_first_ack: bool = False) -> None:
        self.source = OutboundMessages(organization_id, TOKEN)
        self.events: dict[str, ChangeEvent] = {}
        self.arrivals = 0
        self.lose_ack = lose_first_ack
        self.lock = threading.Lock()
        self.app = FastAPI()
        self.app.get("/health")(lambda: {"ok": True})
        self.app.post("/webhooks/salesforce/{connection}/{token}")(self.receive)

    async def receive(self, connection: str, token: str, request: Request) -> Response:
        body = await request.body()
        try:
            self.source.verify("POST", str(request.url), dict(request.headers), body)
            message = self.source.parse_notifications(body)
        except OrganizationMismatch:
            return Response(status_code=403)
        except SignatureError:
            return Response(status_code=404)
        except WebhookPayloadError as exc:
            return Response(str(exc), status_code=400)
        with self.lock:
            self.arrivals += 1
            for event in message.events:
                self.events.setdefault(event.dedup_key, event)  # stored before the Ack
            if self.lose_ack:
                self.lose_ack = False
                return Response(status_code=500)  # stored, but Salesforce never hears so
        return Response(ack_body(), media_type=CONTENT_TYPE)


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    config = SandboxConfig(
        cert_dir=tmp_path / "org",
        outbound_backoff_seconds=0.05,
        outbound_max_backoff_seconds=0.2,
        outbound_batch_window_seconds=0.01,
        outbound_skip_integration_user=False,
    )
    with SandboxServer(config, members=population()) as server:
        yield server


def serve(inbox: Inbox) -> ServerThread:
    thread = ServerThread(inbox.app, label="the test receiver", health_path="/health")
    thread.start()
    return thread


def test_a_wrong_token_is_refused_until_the_url_is_fixed(org: SandboxServer) -> None:
    inbox = Inbox(org.config.org_id)
    receiver = serve(inbox)
    try:
        base = f"{receiver.base_url}/webhooks/salesforce/acme"
        with control(org) as sandbox, api(org) as http:
            sandbox.post("/outbound-message", json={"url": f"{base}/{TOKEN}x"})
            lead = org.store.records("Lead")[0].id
            assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CRO"}).status_code == 204
            assert org.runtime.outbox.wait_for_attempts(2)
            assert inbox.events == {}
            sandbox.post("/outbound-message", json={"url": f"{base}/{TOKEN}"})
            assert sandbox.post("/deliveries/flush", json={"timeout": 15}).json()["flushed"]
            log = sandbox.get("/deliveries").json()["deliveries"]
    finally:
        receiver.stop()
    assert {d["status"] for d in log[:-1]} == {404}
    assert (log[-1]["status"], log[-1]["acknowledged"]) == (200, True)
    (event,) = inbox.events.values()
    assert (event.crm_id, event.raw["fields"]["Title"]) == (lead, "CRO")


def test_another_orgs_messages_are_forbidden(org: SandboxServer) -> None:
    inbox = Inbox("00D5e0000000999EAA")
    receiver = serve(inbox)
    try:
        with control(org) as sandbox, api(org) as http:
            url = f"{receiver.base_url}/webhooks/salesforce/acme/{TOKEN}"
            sandbox.post("/outbound-message", json={"url": url})
            lead = org.store.records("Lead")[0].id
            assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "CRO"}).status_code == 204
            assert org.runtime.outbox.wait_for_attempts(1)
            (first, *_) = sandbox.get("/deliveries").json()["deliveries"]
    finally:
        receiver.stop()
    assert first["status"] == 403
    assert inbox.events == {}


def test_a_lost_acknowledgement_is_retried_and_stored_once(org: SandboxServer) -> None:
    inbox = Inbox(org.config.org_id, lose_first_ack=True)
    receiver = serve(inbox)
    try:
        with control(org) as sandbox, api(org) as http:
            url = f"{receiver.base_url}/webhooks/salesforce/acme/{TOKEN}"
            sandbox.post("/outbound-message", json={"url": url})
            ids = [r.id for r in org.store.records("Lead")[:3]]
            records = [{"attributes": {"type": "Lead"}, "id": i, "Title": "VP Sales"} for i in ids]
            saved = http.patch("/composite/sobjects", json={"records": records})
            assert all(r["success"] for r in saved.json())
            assert sandbox.post("/deliveries/flush", json={"timeout": 15}).json()["flushed"]
            log = sandbox.get("/deliveries").json()["deliveries"]
    finally:
        receiver.stop()
    assert [d["status"] for d in log] == [500, 200]
    assert log[0]["notification_ids"] == log[1]["notification_ids"]
    assert inbox.arrivals == 2
    assert sorted(e.crm_id for e in inbox.events.values()) == sorted(ids)  # once each


def test_the_receiver_refuses_what_is_not_a_message(org: SandboxServer) -> None:
    inbox = Inbox(org.config.org_id)
    receiver = serve(inbox)
    try:
        url = f"{receiver.base_url}/webhooks/salesforce/acme/{TOKEN}"
        answer = httpx.post(url, content=b"<x/>", headers={"Content-Type": CONTENT_TYPE})
    finally:
        receiver.stop()
    assert answer.status_code == 400
    assert "not a SOAP Envelope" in answer.text
