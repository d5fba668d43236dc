"""An association event that names the activity record added to a held contact (a call logged)
reads that record alone: no read of the contact, its other engagements or its deals. What it
stores and scores is what a read of the whole contact gives."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.inbox import store_events
from app.models import Activity, Contact
from app.runtime import Runtime
from app.worker import jobs
from app.worker.events import Held, plan
from connectors.base import ChangeEvent, ChangeKind
from connectors.hubspot.sandbox.seed import apply_activity
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.webhook import named_record, parse_delivery
from tests.conftest import BACKEND
from tests.harness.services import until
from tests.pipeline.test_carried_values import _calls, _event, _process, _ready, _score
from tests.pipeline.test_continuous import UPDATES, _deliver_and_process, live

__all__ = ["live"]  # the fixture, shared with the continuous tests
OBJECTS_READ = "POST /crm/v3/objects/{objectType}/batch/read"  # the sandbox counts by route


def _reads(sandbox: SandboxServer, before: dict[str, int]) -> dict[str, int]:
    """CRM calls since `before` by endpoint, Glengarry's write-backs aside."""
    now = _calls(sandbox)
    return {
        path: n - before.get(path, 0)
        for path, n in now.items()
        if path != UPDATES and n > before.get(path, 0)
    }


def _activities(runtime: Runtime, crm_id: str) -> dict[str, tuple[str, datetime]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Activity.crm_id, Activity.type, Activity.occurred_at)
            .join(Contact, Contact.id == Activity.contact_id)
            .where(Contact.crm_id == crm_id)
        )
        return {a: (t, at.replace(tzinfo=UTC) if at.tzinfo is None else at) for a, t, at in rows}


async def test_a_logged_call_reads_the_call_alone_and_scores_as_a_whole_read_does(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    before_score, held = _score(runtime, target), _activities(runtime, target)
    before = _calls(sandbox)
    now = sandbox.store.clock()
    details = {"direction": "INBOUND", "status": "COMPLETED", "duration_ms": 600_000}
    apply_activity(sandbox.store, target, "call", now, details)
    apply_activity(sandbox.store, target, "meeting", now, {"outcome": "COMPLETED"})
    result = await _deliver_and_process(runtime, sandbox, cid)
    assert (result.named, result.read) == (1, 0)
    # One batch read per type named (calls, meetings); no contact, association or deal read.
    assert _reads(sandbox, before) == {OBJECTS_READ: 2}
    named_score, named_activities = _score(runtime, target), _activities(runtime, target)
    assert named_score > before_score  # an inbound call and a meeting held are engagement
    added = {a: kind for a, (kind, _) in named_activities.items() if a not in held}
    assert sorted(added.values()) == ["call", "meeting"]
    call = next(a for a, kind in added.items() if kind == "call")
    in_crm = sandbox.store.get("contacts", target)
    assert in_crm is not None
    assert int(in_crm.properties["glengarry_score"]) == named_score

    # The same contact read whole (values carried off: the association re-reads it) stores
    # and scores exactly the same.
    whole = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"carry_event_values": False})
    )
    association = {
        "associationType": "CONTACT_TO_CALL",
        "fromObjectId": int(target),
        "toObjectId": int(call.partition(":")[2]),
        "associationRemoved": False,
    }
    reread = await _process(
        whole, cid, _event(target, now, "contact.associationChange", **association)
    )
    assert (reread.named, reread.read) == (0, 1)
    assert _activities(runtime, target) == named_activities
    assert _score(runtime, target) == named_score


async def test_an_association_removed_or_to_a_company_reads_the_contact_whole(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox, cid, target = await _ready(live)
    now = sandbox.store.clock()
    for association_type, removed in (("CONTACT_TO_CALL", True), ("CONTACT_TO_COMPANY", False)):
        association = {
            "associationType": association_type,
            "fromObjectId": int(target),
            "toObjectId": 4242,
            "associationRemoved": removed,
        }
        result = await _process(
            runtime, cid, _event(target, now, "contact.associationChange", **association)
        )
        assert (result.named, result.read) == (0, 1), association_type


def test_an_association_for_a_contact_not_held_reads_it() -> None:
    event = _association("77", "CONTACT_TO_CALL", 9)
    todo = plan([event], {}, named=named_record)
    assert (todo.reread, todo.named) == ({"77"}, {})
    todo = plan([event], {"77": Held({}, deleted=True)}, named=named_record)
    assert (todo.reread, todo.named) == ({"77"}, {})
    todo = plan([event], {"77": Held({})}, named=named_record)
    assert (todo.reread, todo.named) == (set(), {"77": {"calls:9"}})


def test_a_deletion_after_a_named_association_wins_and_a_creation_reads_whole() -> None:
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    held = {"77": Held({})}
    deleted = ChangeEvent("d", "1", ChangeKind.DELETED, "77", at.replace(minute=1))
    todo = plan([_association("77", "CONTACT_TO_CALL", 9, at), deleted], held, named=named_record)
    assert (todo.deleted, todo.named) == ({"77"}, {})
    created = ChangeEvent("c", "1", ChangeKind.CREATED, "77", at.replace(minute=1))
    todo = plan([_association("77", "CONTACT_TO_EMAIL", 9, at), created], held, named=named_record)
    assert (todo.reread, todo.named) == ({"77"}, {})
    # Without the CRM's say (values carried off), every association reads the contact.
    todo = plan([_association("77", "CONTACT_TO_CALL", 9, at)], held)
    assert (todo.reread, todo.named) == ({"77"}, {})


def test_named_record_reads_only_an_added_activity_record() -> None:
    assert named_record(_association("5", "CONTACT_TO_CALL", 17)) == "calls:17"
    assert named_record(_association("5", "CONTACT_TO_FEEDBACK_SUBMISSION", 3)) == (
        "feedback_submissions:3"
    )
    assert named_record(_association("5", "CONTACT_TO_TICKET", 3)) == "tickets:3"
    assert named_record(_association("5", "CONTACT_TO_DEAL", 3)) is None  # outcomes: read all
    assert named_record(_association("5", "CONTACT_TO_CALL", 17, removed=True)) is None
    unsaid = _association("5", "CONTACT_TO_CALL", 17)
    raw = {k: v for k, v in unsaid.raw.items() if k != "associationRemoved"}
    assert named_record(dataclasses.replace(unsaid, raw=raw)) is None
    assert named_record(dataclasses.replace(unsaid, raw={**raw, "toObjectId": "17"})) is None


def _association(
    crm_id: str,
    association_type: str,
    to_id: int,
    at: datetime | None = None,
    *,
    removed: bool = False,
) -> ChangeEvent:
    raw = {
        "subscriptionType": "contact.associationChange",
        "associationType": association_type,
        "fromObjectId": int(crm_id),
        "toObjectId": to_id,
        "associationRemoved": removed,
    }
    return ChangeEvent(
        f"a{to_id}{association_type}",
        "1",
        ChangeKind.ASSOCIATION_CHANGED,
        crm_id,
        at or datetime(2026, 12, 3, tzinfo=UTC),
        raw=raw,
    )


def test_named_contacts_are_read_whole_when_others_are_read_anyway() -> None:
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    held = {"77": Held({}), "78": Held({})}
    created = ChangeEvent("c", "1", ChangeKind.CREATED, "78", at)
    todo = plan([_association("77", "CONTACT_TO_CALL", 9, at), created], held, named=named_record)
    assert (todo.reread, todo.named) == ({"78"}, {"77": {"calls:9"}})
    todo.read_named_whole()
    assert (todo.reread, todo.named) == ({"77", "78"}, {})


async def test_a_batch_waits_for_another_holding_its_contact_before_it_stores_and_scores(
    live: tuple[Runtime, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record read alone is scored with what the database holds: a batch of another worker
    storing the same contact must commit first, or each scores without the other's record
    (PostgreSQL). So a batch locks its contacts before storing: here it waits for a
    transaction holding the contact, then stores and scores."""
    runtime, sandbox, cid, target = await _ready(live)
    now = sandbox.store.clock()
    details = {"direction": "INBOUND", "status": "COMPLETED", "duration_ms": 900_000}
    engagement = _engagement(sandbox, target, "calls", now, details)
    association = {
        "associationType": "CONTACT_TO_CALL",
        "fromObjectId": int(target),
        "toObjectId": int(engagement),
        "associationRemoved": False,
    }
    raw = [_event(target, now, "contact.associationChange", **association)]
    with runtime.sessions.begin() as session:
        events = parse_delivery(json.dumps(raw).encode())
        store_events(session, "hubspot", cid, events, runtime.clock.now())
    seen: list[set[str]] = []  # the contact's activities, as the batch's scoring sees them
    score_contacts = jobs.score_contacts

    def scoring(session: Session, *args: Any, **kwargs: Any) -> Any:
        seen.append(set(_activities_in(session, target)))
        return score_contacts(session, *args, **kwargs)

    monkeypatch.setattr(jobs, "score_contacts", scoring)
    results: list[jobs.InboxResult] = []
    batch = threading.Thread(
        target=lambda: results.append(asyncio.run(jobs.process_inbox(runtime, cid)))
    )
    with runtime.sessions() as holder:  # another worker's batch, storing a note of theirs
        # Storing an activity takes no lock that another batch's storing waits for.
        (contact,) = holder.scalars(select(Contact).where(Contact.crm_id == target)).all()
        holder.add(
            Activity(
                connection_id=cid,
                contact_id=contact.id,
                crm_id="notes:held",
                type="note",
                occurred_at=now,
                properties={},
            )
        )
        holder.flush()
        batch.start()
        if BACKEND == "postgresql":  # the batch is seen waiting for the contact's lock
            until(lambda: _waiting_for_a_lock(runtime) == 1, "the batch waits for the lock", 30)
        assert batch.is_alive()
        holder.commit()
    batch.join(timeout=60)
    assert not batch.is_alive()
    assert [(r.named, r.read, r.error) for r in results] == [(1, 0, None)]
    # It scored with the other batch's note and its own call (later batches: the echoes).
    assert seen
    assert {"notes:held", f"calls:{engagement}"} <= seen[0]


def _activities_in(session: Session, crm_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Activity.crm_id)
            .join(Contact, Contact.id == Activity.contact_id)
            .where(Contact.crm_id == crm_id)
        )
    )


def _waiting_for_a_lock(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        count = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return int(count or 0)


def _engagement(
    sandbox: SandboxServer, contact: str, object_type: str, at: datetime, details: dict[str, Any]
) -> str:
    """A call made in the CRM without its webhook (the test delivers the event itself)."""
    kind = {"calls": "call"}[object_type]
    before = {obj.id for obj in sandbox.store.all(object_type)}
    apply_activity(sandbox.store, contact, kind, at, details, emit=False)
    (made,) = {obj.id for obj in sandbox.store.all(object_type)} - before
    return made
