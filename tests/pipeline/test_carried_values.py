"""Values webhook events carry are applied without a CRM read, oldest first, never regressing a
newer value; anything an event does not carry still re-reads the contact."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select

from app.inbox import store_events
from app.models import Activity, Contact, QualificationRecord
from app.runtime import Runtime
from app.sync.store import store_contacts
from app.worker import jobs
from connectors.base import CrmContact
from connectors.hubspot.carried import carried
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.webhook import parse_delivery
from tests.pipeline.test_continuous import UPDATES, _backfilled, _deliver_and_process, live

__all__ = ["live"]  # the fixture, shared with the continuous tests
PORTAL = 90000001
_ids = count(1)


def _calls(sandbox: SandboxServer) -> dict[str, int]:
    return {path: sum(by.values()) for path, by in sandbox.stats()["calls"].items()}


def _reads_since(sandbox: SandboxServer, before: dict[str, int]) -> int:
    """CRM calls since `before`, Glengarry's write-backs aside."""
    now = _calls(sandbox)
    return sum(n - before.get(path, 0) for path, n in now.items() if path != UPDATES)


def _event(crm_id: str, at: datetime, kind: str = "contact.propertyChange", **fields: Any) -> Any:
    return {
        "eventId": next(_ids),
        "subscriptionId": 7,
        "portalId": PORTAL,
        "occurredAt": int(at.timestamp() * 1000),
        "subscriptionType": kind,
        "objectId": int(crm_id),
        **fields,
    }


def _change(crm_id: str, at: datetime, name: str, value: str) -> Any:
    return _event(crm_id, at, propertyName=name, propertyValue=value)


async def _process(runtime: Runtime, cid: int, *raw: Any) -> jobs.InboxResult:
    """Store these HubSpot events in the inbox as the receiver would, then process it."""
    events = parse_delivery(json.dumps(list(raw)).encode())
    with runtime.sessions.begin() as session:
        store_events(session, "hubspot", cid, events, runtime.clock.now())
    return await jobs.process_inbox(runtime, cid)


def _stored(runtime: Runtime, crm_id: str) -> Contact:
    with runtime.sessions() as session:
        contact = session.scalars(select(Contact).where(Contact.crm_id == crm_id)).one()
        session.expunge(contact)
        return contact


def _score(runtime: Runtime, crm_id: str) -> int:
    with runtime.sessions() as session:
        score = session.scalar(
            select(QualificationRecord.score)
            .join(Contact, Contact.id == QualificationRecord.contact_id)
            .where(Contact.crm_id == crm_id)
        )
    assert score is not None
    return score


async def _ready(live: tuple[Runtime, SandboxServer]) -> tuple[Runtime, SandboxServer, int, str]:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)  # settle the backfill's echoes
    target = sandbox.store.all("contacts")[3].id
    # A title the criteria score nothing for, so that a VP title moves the score.
    sandbox.store.update("contacts", target, {"jobtitle": "Intern"}, source="CRM_UI")
    await _deliver_and_process(runtime, sandbox, cid)
    return runtime, sandbox, cid, target


async def test_a_carried_change_is_scored_and_written_without_any_crm_read(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    low = _score(runtime, target)
    before = _calls(sandbox)
    sandbox.store.update("contacts", target, {"jobtitle": "VP Sales"}, source="CRM_UI")
    result = await _deliver_and_process(runtime, sandbox, cid)
    assert (result.carried, result.read) == (1, 0)
    assert _reads_since(sandbox, before) == 0  # no read of the contact, its engagements, deals
    assert _stored(runtime, target).properties["jobtitle"] == "VP Sales"
    assert _score(runtime, target) > low
    in_crm = sandbox.store.get("contacts", target)
    assert in_crm is not None
    assert int(in_crm.properties["glengarry_score"]) == _score(runtime, target)


async def test_with_carried_values_off_the_contact_is_read_as_before(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    runtime = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"carry_event_values": False})
    )
    before = _calls(sandbox)
    sandbox.store.update("contacts", target, {"jobtitle": "VP Sales"}, source="CRM_UI")
    result = await _deliver_and_process(runtime, sandbox, cid)
    assert (result.carried, result.read) == (0, 1)
    assert _reads_since(sandbox, before) > 0
    assert _stored(runtime, target).properties["jobtitle"] == "VP Sales"


async def test_two_changes_delivered_newest_first_end_with_the_newest(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    soon = datetime.now(UTC) + timedelta(seconds=5)
    before = _calls(sandbox)
    # In one batch, newest first.
    result = await _process(
        runtime,
        cid,
        _change(target, soon + timedelta(seconds=2), "jobtitle", "VP Sales"),
        _change(target, soon + timedelta(seconds=1), "jobtitle", "Manager"),
    )
    assert (result.carried, result.read) == (1, 0)
    assert _stored(runtime, target).properties["jobtitle"] == "VP Sales"
    # In two batches, newest first: the older one changes nothing.
    newest = await _process(
        runtime, cid, _change(target, soon + timedelta(seconds=4), "jobtitle", "Director")
    )
    older = await _process(
        runtime, cid, _change(target, soon + timedelta(seconds=3), "jobtitle", "Intern")
    )
    assert (newest.carried, older.carried, older.stale) == (1, 0, 1)
    assert _stored(runtime, target).properties["jobtitle"] == "Director"
    assert _reads_since(sandbox, before) == 0


async def test_late_and_replayed_events_change_nothing(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    held = _stored(runtime, target)
    assert held.crm_modified_at is not None
    before, writes = _calls(sandbox), _calls(sandbox).get(UPDATES, 0)
    # Older than the last read of the contact: the read already saw what came after it.
    late = await _process(
        runtime,
        cid,
        _change(target, held.crm_modified_at - timedelta(minutes=5), "jobtitle", "VP Sales"),
    )
    assert (late.carried, late.read, late.stale) == (0, 0, 1)
    at = datetime.now(UTC) + timedelta(seconds=5)
    applied = await _process(runtime, cid, _change(target, at, "jobtitle", "Director"))
    assert applied.carried == 1
    score = _score(runtime, target)
    # The same change again (HubSpot's retry is one inbox row; a replay with a new event id
    # is a second one): as old as the value held, so nothing moves.
    replay = await _process(runtime, cid, _change(target, at, "jobtitle", "Director"))
    assert (replay.carried, replay.read, replay.stale) == (0, 0, 1)
    assert _stored(runtime, target).properties["jobtitle"] == "Director"
    assert _score(runtime, target) == score
    assert _reads_since(sandbox, before) == 0
    assert _calls(sandbox).get(UPDATES, 0) == writes + 1  # the one change, written once


async def test_what_an_event_does_not_carry_is_read_from_the_crm(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, _, cid, target = await _ready(live)
    at = datetime.now(UTC) + timedelta(seconds=5)
    cases = [
        # a creation, an association: nothing carried
        [_event(target, at, "contact.creation")],
        [_event(target, at, "contact.associationChange", associationType="CONTACT_TO_COMPANY")],
        # a property the connection does not read, and an outcome's stage date (deals too)
        [_change(target, at, "hs_some_unread_property", "x")],
        [_change(target, at, "hs_lifecyclestage_customer_date", "2026-01-01T00:00:00Z")],
        # a carried change beside one that is not: the read gives both
        [_change(target, at, "jobtitle", "VP Sales"), _event(target, at, "contact.restore")],
        # an event without its value
        [_event(target, at, propertyName="jobtitle")],
    ]
    for number, raw in enumerate(cases):
        result = await _process(runtime, cid, *raw)
        assert (result.read, result.carried) == (1, 0), (number, raw)


async def test_a_page_view_with_its_url_is_carried_into_an_activity(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    at = datetime.now(UTC) + timedelta(seconds=5)
    stamp = at.isoformat().replace("+00:00", "Z")
    before = _calls(sandbox)
    result = await _process(
        runtime,
        cid,
        _change(target, at, "hs_analytics_last_visit_timestamp", stamp),
        _change(target, at, "hs_analytics_last_url", "https://www.example.com/pricing"),
    )
    assert (result.carried, result.read) == (1, 0)
    assert _reads_since(sandbox, before) == 0
    assert _latest_view(runtime, target)["url"] == "https://www.example.com/pricing"


async def test_a_page_view_without_its_url_takes_the_url_held_until_a_change_says_otherwise(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    held = _stored(runtime, target).properties.get("hs_analytics_last_url")
    at = datetime.now(UTC) + timedelta(seconds=5)
    stamp = at.isoformat().replace("+00:00", "Z")
    before = _calls(sandbox)
    # A view of the page last seen: HubSpot sends no URL change.
    result = await _process(
        runtime, cid, _change(target, at, "hs_analytics_last_visit_timestamp", stamp)
    )
    assert (result.carried, result.read) == (1, 0)
    assert _latest_view(runtime, target)["url"] == held
    # The URL's own change, delivered in a later batch at the same instant, updates the view.
    pricing = "https://www.example.com/pricing-later"
    result = await _process(runtime, cid, _change(target, at, "hs_analytics_last_url", pricing))
    assert (result.carried, result.read) == (1, 0)
    assert _latest_view(runtime, target)["url"] == pricing
    assert _reads_since(sandbox, before) == 0


def _latest_view(runtime: Runtime, crm_id: str) -> dict[str, Any]:
    with runtime.sessions() as session:
        views = session.scalars(
            select(Activity.properties)
            .join(Contact, Contact.id == Activity.contact_id)
            .where(Contact.crm_id == crm_id, Activity.type == "page_view")
            .order_by(Activity.occurred_at.desc())
        ).first()
    assert views is not None
    return dict(views)


async def test_a_read_older_than_a_carried_value_does_not_regress_it(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, _, cid, target = await _ready(live)
    at = datetime.now(UTC) + timedelta(seconds=5)
    await _process(runtime, cid, _change(target, at, "jobtitle", "Director"))
    held = _stored(runtime, target)

    def read(modified: datetime, title: str) -> CrmContact:
        return CrmContact(target, {**held.properties, "jobtitle": title}, modified)

    with runtime.sessions.begin() as session:  # a sync that read the contact before the change
        store_contacts(session, cid, [read(at - timedelta(seconds=1), "Intern")], at)
    assert _stored(runtime, target).properties["jobtitle"] == "Director"
    with runtime.sessions.begin() as session:  # and one that read it after
        store_contacts(session, cid, [read(at + timedelta(seconds=1), "Manager")], at)
    after = _stored(runtime, target)
    assert (after.properties["jobtitle"], after.property_times) == ("Manager", None)


def test_an_epoch_millisecond_date_is_stored_as_a_read_stores_it() -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    raw = [_change("5", at, "hs_email_last_open_date", str(int(at.timestamp() * 1000)))]
    events = parse_delivery(json.dumps(raw).encode())
    assert carried(events, ["jobtitle"]) == [
        {"hs_email_last_open_date": "2026-05-01T12:00:00.000Z"}
    ]
