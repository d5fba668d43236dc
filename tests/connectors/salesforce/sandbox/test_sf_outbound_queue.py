"""The outbound queue on its own, with a clock the test moves: batches of at most 100, the
records' values as they are when sent, a deleted record sent with its id only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connectors.salesforce.outbound import parse_notifications
from connectors.salesforce.sandbox.outbox import Outbox, OutboxSettings
from connectors.salesforce.sandbox.seed import seed_org
from connectors.salesforce.sandbox.store import Record, Store
from tests.fixtures.salesforce.outbound_receiver import Receiver
from tests.fixtures.salesforce.outbound_wsdl import validate

ORG = "00D5e0000000001EAA"
WINDOW = 3_600.0  # nothing is sent until the test moves the clock past it


@dataclass
class Later:
    """time.monotonic, plus what the test adds."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def later() -> Later:
    return Later()


@pytest.fixture
def store() -> Store:
    store = Store()
    seed_org(store, "integration@glengarry-sandbox.example")
    return store


@pytest.fixture
def outbox(store: Store, later: Later) -> Iterator[Outbox]:
    box = Outbox(
        store,
        organization_id=ORG,
        integration_user=store.actor,
        instance_url=lambda: "https://127.0.0.1:1",
        session_id=lambda: "unused",
        settings=OutboxSettings(batch_window_seconds=WINDOW, backoff_seconds=0.05),
        monotonic=later,
    )
    store.subscribe(box.on_saved)
    yield box
    box.stop()


def leads(store: Store, count: int) -> list[Record]:
    return [
        store.create("Lead", {"LastName": f"Doe{n}", "Company": f"Co {n}", "Status": "Open"})
        for n in range(count)
    ]


def test_at_most_100_notifications_a_message(store: Store, outbox: Outbox, later: Later) -> None:
    with Receiver() as receiver:
        outbox.configure(["Lead"], receiver.url, skip_integration_user=False)
        created = leads(store, 250)
        assert outbox.stats()["queued"] == 250
        later.offset = WINDOW
        assert outbox.flush(15)
        messages = [parse_notifications(r.body) for r in receiver.requests]
        for request in receiver.requests:
            validate(request.body, "Lead")  # maxOccurs 100 included
    assert [len(m.events) for m in messages] == [100, 100, 50]
    assert sorted(e.crm_id for m in messages for e in m.events) == sorted(r.id for r in created)
    assert len({e.dedup_key for m in messages for e in m.events}) == 250
    assert [d.notification_ids for d in outbox.deliveries()] == [
        tuple(e.raw["notification_id"] for e in m.events) for m in messages
    ]


def test_a_record_is_sent_as_it_is_when_the_message_goes(
    store: Store, outbox: Outbox, later: Later
) -> None:
    (lead,) = leads(store, 1)
    with Receiver() as receiver:
        outbox.configure(["Lead"], receiver.url, skip_integration_user=False)
        store.update(lead, {"Title": "First"})
        store.update(lead, {"Title": "Second"})
        later.offset = WINDOW
        assert outbox.flush(10)
        (request,) = receiver.requests
    events = parse_notifications(request.body).events
    assert [e.crm_id for e in events] == [lead.id, lead.id]  # one notification per change
    assert [e.raw["fields"]["Title"] for e in events] == ["Second", "Second"]


def test_a_record_deleted_before_sending_is_sent_with_its_id_only(
    store: Store, outbox: Outbox, later: Later
) -> None:
    (lead,) = leads(store, 1)
    with Receiver() as receiver:
        outbox.configure(["Lead"], receiver.url, skip_integration_user=False)
        store.update(lead, {"Title": "Gone soon"})
        store.delete(lead)
        later.offset = WINDOW
        assert outbox.flush(10)
        (request,) = receiver.requests
    validate(request.body, "Lead")
    (event,) = parse_notifications(request.body).events
    assert (event.crm_id, event.raw["fields"]) == (lead.id, {})


def test_only_the_chosen_fields_travel_and_only_with_values(
    store: Store, outbox: Outbox, later: Later
) -> None:
    (lead,) = leads(store, 1)
    with Receiver() as receiver:
        outbox.configure(["Lead"], receiver.url, fields=["Title", "Email", "IsConverted"],
                         skip_integration_user=False)  # fmt: skip
        store.update(lead, {"Title": "CRO & co <3>"})
        later.offset = WINDOW
        assert outbox.flush(10)
        (request,) = receiver.requests
    (event,) = parse_notifications(request.body).events
    # Email has no value: left out, as Salesforce leaves out empty fields
    assert event.raw["fields"] == {"IsConverted": "false", "Title": "CRO & co <3>"}


def test_deleting_a_message_drops_what_it_had_queued(
    store: Store, outbox: Outbox, later: Later
) -> None:
    (lead,) = leads(store, 1)
    outbox.configure(["Lead"], "http://127.0.0.1:9/never", skip_integration_user=False)
    store.update(lead, {"Title": "X"})
    assert outbox.stats()["queued"] == 1
    assert outbox.configure(["Lead"], None) == []
    assert outbox.stats() == {
        "queued": 0, "attempts": 0, "failed_attempts": 0, "acknowledged": 0, "dropped": 1,
    }  # fmt: skip
    assert outbox.messages() == []
