"""Webhooks: signed v3 batches to a real receiver, retried after failures; simulate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from connectors.hubspot.sandbox import SandboxConfig, SandboxServer
from connectors.hubspot.signature import verify_v1, verify_v3
from connectors.hubspot.webhook import HubSpotWebhooks

from .conftest import TOKEN, client, population

SECRET = "webhook-secret"


class Receiver:
    """A tiny HTTP server that records deliveries and answers from a script of statuses."""

    def __init__(self, failures: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    fail = receiver.failures > 0
                    receiver.failures -= 1
                self.send_response(500 if fail else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hubspot?app=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for _, body in self.deliveries for event in json.loads(body)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _sandbox(receiver: Receiver, **config: Any) -> SandboxServer:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "webhook_url": receiver.url,
        "client_secret": SECRET,
        "webhook_backoff_seconds": 0.05,
        "webhook_batch_window_seconds": 0.01,
        **config,
    }
    return SandboxServer(SandboxConfig(**settings), members=population(5))


def test_changes_are_delivered_signed_v3(receiver: Receiver) -> None:
    with _sandbox(receiver) as server, client(server) as api:
        created = api.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "w@example.com"}}
        ).json()
        api.patch("/crm/v3/objects/contacts/1", json={"properties": {"jobtitle": "CEO"}})
        api.delete("/crm/v3/objects/contacts/2")
        httpx.post(f"{server.base_url}/_sandbox/restore/2")
        api.post(
            "/crm/v3/objects/contacts/merge", json={"primaryObjectId": "3", "objectIdToMerge": "4"}
        )
        api.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "5"})
        flushed = httpx.post(f"{server.base_url}/_sandbox/webhooks/flush").json()
        assert flushed["flushed"] is True
        assert flushed["pending"] == 0
        stats = server.stats()["webhooks"]
    for headers, body in receiver.deliveries:
        assert headers["Content-Type"] == "application/json"
        verify_v3(
            SECRET,
            "POST",
            receiver.url,
            body,
            headers["X-HubSpot-Request-Timestamp"],
            headers["X-HubSpot-Signature-v3"],
            datetime.now(UTC),
        )
        verify_v1(SECRET, body, headers["X-HubSpot-Signature"])
        assert len(json.loads(body)) <= 100
        # The connector's webhook source accepts what the sandbox sends.
        source = HubSpotWebhooks(SECRET)
        source.verify("POST", receiver.url, headers, body)
        assert len(source.parse(body)) == len(json.loads(body))
    events = receiver.events()
    kinds = {(e["subscriptionType"], e["objectId"]) for e in events}
    new_id = int(created["id"])
    assert ("contact.creation", new_id) in kinds
    assert ("contact.deletion", 2) in kinds
    assert ("contact.restore", 2) in kinds
    assert ("contact.privacyDeletion", 5) in kinds
    change = next(e for e in events if e.get("propertyName") == "jobtitle")
    assert change["objectId"] == 1
    assert change["propertyValue"] == "CEO"
    assert change["changeSource"] == "API"
    assert change["attemptNumber"] == 0
    assert change["portalId"] == server.config.portal_id
    assert change["appId"] == server.config.app_id
    merge = next(e for e in events if e["subscriptionType"] == "contact.merge")
    assert merge["primaryObjectId"] == 3
    assert merge["mergedObjectIds"] == [4]
    assert merge["newObjectId"] == 3
    assert merge["numberOfPropertiesMoved"] >= 0
    assert len({e["eventId"] for e in events}) == len(events)
    assert stats["delivered"] == len(events)
    assert stats["failed_attempts"] == 0
    # lastmodifieddate changes on every write: not reported as a property change.
    assert not any(e.get("propertyName") == "lastmodifieddate" for e in events)


def test_failed_deliveries_are_retried_with_a_growing_attempt_number(receiver: Receiver) -> None:
    receiver.failures = 2
    with _sandbox(receiver) as server, client(server) as api:
        api.patch("/crm/v3/objects/contacts/1", json={"properties": {"jobtitle": "CTO"}})
        assert server.flush_webhooks(10)
        stats = server.stats()["webhooks"]
    attempts = [json.loads(body)[0]["attemptNumber"] for _, body in receiver.deliveries]
    assert attempts == [0, 1, 2]
    assert stats == {"delivered": 1, "failed_attempts": 2, "pending": 0, "dropped": 0}


def test_a_batch_is_given_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.failures = 10
    with _sandbox(receiver, webhook_max_attempts=3) as server, client(server) as api:
        api.patch("/crm/v3/objects/contacts/1", json={"properties": {"jobtitle": "CTO"}})
        assert server.flush_webhooks(10)
        assert server.stats()["webhooks"]["dropped"] == 1
    assert len(receiver.deliveries) == 3


def test_only_subscribed_properties_send_property_changes(receiver: Receiver) -> None:
    with (
        _sandbox(receiver, subscribed_properties=("glengarry_status",)) as server,
        client(server) as api,
    ):
        api.post(
            "/crm/v3/properties/contacts",
            json={
                "name": "glengarry_status",
                "label": "Status",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
        )
        api.patch(
            "/crm/v3/objects/contacts/1",
            json={"properties": {"jobtitle": "CTO", "glengarry_status": "hot"}},
        )
        assert server.flush_webhooks(10)
    names = [e.get("propertyName") for e in receiver.events()]
    assert names == ["glengarry_status"]


def test_simulate_creates_activity_now_and_sends_webhooks(receiver: Receiver) -> None:
    with _sandbox(receiver, seed=11) as server:
        answer = httpx.post(
            f"{server.base_url}/_sandbox/simulate", json={"contacts": 3, "events_per_contact": 4}
        ).json()
        touched = answer["contact_ids"]
        assert len(touched) == 3
        assert len(set(touched)) == 3
        assert server.flush_webhooks(10)
        events = receiver.events()
        store = server.store
        now = datetime.now(UTC)
        for contact_id in touched:
            contact = store.get("contacts", contact_id)
            assert contact is not None
            assert (now - contact.updated_at).total_seconds() < 60
    assert {e["objectId"] for e in events} <= {int(c) for c in touched}
    assert events


def test_simulate_is_seeded(receiver: Receiver) -> None:
    picks = []
    for _ in range(2):
        with SandboxServer(SandboxConfig(token=TOKEN, seed=5), members=population(20)) as server:
            body = httpx.post(f"{server.base_url}/_sandbox/simulate", json={}).json()
            picks.append(body["contact_ids"])
    assert picks[0] == picks[1]
    assert len(picks[0]) == 10


def test_deliveries_hold_at_most_100_events(receiver: Receiver) -> None:
    with _sandbox(receiver, webhook_batch_window_seconds=0.5) as server:
        httpx.post(
            f"{server.base_url}/_sandbox/simulate", json={"contacts": 5, "events_per_contact": 40}
        )
        assert server.flush_webhooks(10)
    sizes = [len(json.loads(body)) for _, body in receiver.deliveries]
    assert sum(sizes) > 100
    assert max(sizes) == 100


def test_paused_deliveries_queue_up_and_go_newest_first_in_one_batch(receiver: Receiver) -> None:
    with _sandbox(receiver) as server, client(server) as api:
        order = f"{server.base_url}/_sandbox/webhooks/order"
        modes = httpx.post(order, json={"paused": True, "newest_first": True}).json()
        assert modes == {"paused": True, "newest_first": True}
        for title in ("Intern", "VP Sales", "CRO"):
            api.patch("/crm/v3/objects/contacts/1", json={"properties": {"jobtitle": title}})
        assert not server.flush_webhooks(0.3)  # held back: nothing delivered
        assert receiver.deliveries == []
        assert httpx.post(order, json={"paused": False}).json()["paused"] is False
        assert server.flush_webhooks(10)
    [(_, body)] = receiver.deliveries
    events = json.loads(body)
    assert [e["propertyValue"] for e in events] == ["CRO", "VP Sales", "Intern"]
    assert [e["occurredAt"] for e in events] == sorted(
        (e["occurredAt"] for e in events), reverse=True
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [({"paused": "yes"}, "'paused' must be true or false"), ({"reverse": True}, "unknown keys")],
)
def test_a_bad_order_request_is_refused_naming_the_key(
    receiver: Receiver, body: dict[str, Any], named: str
) -> None:
    with _sandbox(receiver) as server:
        answer = httpx.post(f"{server.base_url}/_sandbox/webhooks/order", json=body)
    assert answer.status_code == 400
    assert named in answer.text
