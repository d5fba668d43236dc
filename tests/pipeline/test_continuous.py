"""Continuous qualification against the sandbox: its signed webhooks reach our receiver, the
jobs process them, and the write-back lands in the sandbox CRM."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.api import create_app
from app.clock import ManualClock
from app.criteria_store import ActiveCriteria, activate, active_criteria
from app.models import (
    Contact,
    CriteriaVersion,
    InboxEvent,
    OutboxEntry,
    QualificationRecord,
    SyncRun,
)
from app.rescores import request_rescore
from app.runtime import Runtime
from app.serving import ServerThread
from app.sync import lease
from app.sync.run import SyncRunner
from app.worker import jobs
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.sandbox.simulate import simulate
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from tests.hubspot_connections import HubSpotCredentials, connect_hubspot
from tests.pipeline.conftest import CONTACTS, population
from tests.wakers import RecordingWaker

SECRET = "sandbox-app-secret"
Live = tuple[Runtime, SandboxServer]
UPDATES = "POST /crm/v3/objects/contacts/batch/update"


@pytest.fixture
def live(runtime: Runtime) -> Iterator[tuple[Runtime, SandboxServer]]:
    runtime.wake = RecordingWaker()
    with ServerThread(create_app(runtime)) as receiver:
        config = SandboxConfig(
            rate_limits="off",
            client_secret=SECRET,
            webhook_url=f"{receiver.base_url}/webhooks/hubspot/acme",
            webhook_backoff_seconds=0.05,
        )
        with SandboxServer(config, members=population()) as sandbox:
            yield runtime, sandbox


async def _backfilled(runtime: Runtime, sandbox: SandboxServer) -> int:
    await connect_hubspot(
        runtime,
        name="acme",
        credentials=HubSpotCredentials(token="sandbox-token", app_client_secret=SECRET),
        base_url=sandbox.base_url,
    )
    report = await SyncRunner(runtime, "acme").run()
    assert report.relay.sent == CONTACTS
    return 1


def _writes(sandbox: SandboxServer) -> int:
    return sum(sandbox.stats()["calls"].get(UPDATES, {}).values())


async def _deliver_and_process(
    runtime: Runtime, sandbox: SandboxServer, cid: int
) -> jobs.InboxResult:
    assert sandbox.flush_webhooks(timeout=20), "the sandbox could not deliver its webhooks"
    return await jobs.process_inbox(runtime, cid)


async def test_a_write_back_and_its_echo_settle_with_zero_further_writes(live: Live) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    writes = _writes(sandbox)
    result = await _deliver_and_process(runtime, sandbox, cid)
    # Our 300 writes came back as propertyChange events on glengarry_* properties.
    assert result.events >= CONTACTS
    assert result.echoes == result.events
    assert result.read == 0
    assert _writes(sandbox) == writes
    with runtime.sessions() as session:
        unprocessed = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.processed_at.is_(None))
        )
        assert unprocessed == 0
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxEntry).where(OutboxEntry.state == "pending")
            )
            == 0
        )


async def test_new_activity_is_rescored_in_a_few_batch_reads_and_lands_in_the_crm(
    live: Live,
) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)  # settle the echoes
    calls_before = sandbox.stats()["calls"]
    touched = simulate(sandbox.store, random.Random(5), 25, 4)
    result = await _deliver_and_process(runtime, sandbox, cid)
    # Read, or (email opens and clicks alone) updated from the values the events carried.
    assert result.read + result.carried == len(touched)
    assert result.carried > 0
    calls = sandbox.stats()["calls"]
    reads = sum(calls["POST /crm/v3/objects/{objectType}/batch/read"].values()) - sum(
        calls_before["POST /crm/v3/objects/{objectType}/batch/read"].values()
    )
    assert reads <= 6  # contacts (1) + engagement objects, never one per event or contact
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.crm_id, QualificationRecord.score, QualificationRecord.written_values)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(Contact.crm_id.in_(touched))
        ).all()
    for crm_id, score, written in rows:
        in_crm = sandbox.store.get("contacts", crm_id)
        assert in_crm is not None
        assert written is not None
        assert in_crm.properties["glengarry_score"] == written["glengarry_score"]
        assert abs(int(written["glengarry_score"]) - score) < 5


async def test_a_rep_override_is_rescored_and_pinned_with_its_reason(live: Live) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)
    target = sandbox.store.all("contacts")[7].id
    sandbox.store.update("contacts", target, {"glengarry_override": "sales_ready"}, source="CRM_UI")
    result = await _deliver_and_process(runtime, sandbox, cid)
    assert (result.read, result.carried) == (0, 1)  # the event carries the override's value
    in_crm = sandbox.store.get("contacts", target)
    assert in_crm is not None
    assert in_crm.properties["glengarry_status"] == "sales_ready"
    assert in_crm.properties["glengarry_reasons"].startswith("set by rep")


async def test_deletion_merge_and_privacy_deletion_are_followed(live: Live) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)
    ids = [obj.id for obj in sandbox.store.all("contacts")[:4]]
    sandbox.store.archive("contacts", ids[0])
    sandbox.store.merge(ids[1], ids[2])
    sandbox.store.privacy_delete(ids[3])
    await _deliver_and_process(runtime, sandbox, cid)
    with runtime.sessions() as session:
        by_crm = {
            c.crm_id: c for c in session.scalars(select(Contact).where(Contact.crm_id.in_(ids)))
        }
        assert by_crm[ids[0]].deleted_at is not None
        assert by_crm[ids[2]].merged_into_id == by_crm[ids[1]].id
        assert ids[3] not in by_crm  # purged, with its inbox events
        leftovers = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.object_id == ids[3])
        )
        assert leftovers == 0


async def test_decay_moves_quiet_contacts_on_time_and_writes_only_what_changed(live: Live) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)
    with runtime.sessions() as session:
        ready = session.scalar(
            select(func.count())
            .select_from(QualificationRecord)
            .where(QualificationRecord.status == "sales_ready")
        )
        first_due = session.scalar(select(func.min(QualificationRecord.next_change_at)))
    assert first_due is not None
    # Nothing is due yet: the decay job reads nothing and writes nothing.
    assert (await jobs.decay(runtime, cid)).scored == 0
    runtime.clock = ManualClock(first_due + timedelta(seconds=1))
    due_once = await jobs.decay(runtime, cid)
    assert due_once.scored >= 1
    runtime.clock = ManualClock(first_due + timedelta(days=200))
    later = await jobs.decay(runtime, cid)
    assert later.scored >= 1
    relayed = await jobs.relay(runtime, cid)
    assert relayed.sent == later.to_write + due_once.to_write or relayed.sent > 0
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                QualificationRecord.status,
                QualificationRecord.score,
                QualificationRecord.written_values,
            )
        ).all()
        still_ready = sum(1 for status, _, _ in rows if status == "sales_ready")
    assert ready == 0 or still_ready < ready
    for _, score, written in rows:  # the CRM never lags the true score by the write delta
        assert written is not None
        assert abs(int(written["glengarry_score"]) - score) < 5


async def test_the_scheduled_sync_skips_a_connection_another_process_is_syncing(live: Live) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    lease.acquire(runtime.sessions, cid, "someone-else", runtime.clock.now(), timedelta(minutes=5))
    assert await jobs.incremental_sync(runtime, cid) is None
    lease.release(runtime.sessions, cid, "someone-else")
    assert await jobs.incremental_sync(runtime, cid) == "succeeded"


def _activated(runtime: Runtime, text: str) -> ActiveCriteria:
    """Activated as the API and the CLI do: with its rescore queued in the same transaction."""
    with runtime.sessions.begin() as session:
        result = activate(session, text, runtime.clock.now())
        if result.changed:
            request_rescore(session, result.version, runtime.clock.now(), reason="test")
    return result


def _statuses(runtime: Runtime) -> dict[int, str]:
    with runtime.sessions() as session:
        rows = session.execute(select(QualificationRecord.contact_id, QualificationRecord.status))
        return dict(rows.all())


async def test_a_new_criteria_version_rescores_everyone_and_writes_only_what_it_changed(
    live: Live,
) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    renamed = DEFAULT_CRITERIA_YAML.replace("B2B SaaS default", "B2B SaaS, second version", 1)
    changed = _activated(runtime, renamed)
    assert changed.changed
    assert await jobs.rescore_all(runtime) == CONTACTS
    # the same qualifications under another version: no news, nothing written
    assert (await jobs.relay(runtime, cid)).sent == 0
    before = _statuses(runtime)
    stricter = renamed.replace("fit: 50                  #", "fit: 60                  #", 1)
    assert stricter != renamed
    version = _activated(runtime, stricter).version
    assert await jobs.rescore_all(runtime) == CONTACTS
    after = _statuses(runtime)
    moved = {cid_ for cid_, status in after.items() if before[cid_] != status}
    assert moved  # a higher fit bar sends some sales-ready leads back to poor_fit
    assert len(moved) < CONTACTS
    assert (await jobs.relay(runtime, cid)).sent == len(moved)
    with runtime.sessions() as session:
        written = session.execute(
            select(QualificationRecord.contact_id, QualificationRecord.written_values)
        )
        carried = {
            contact_id
            for contact_id, values in written
            if values and values["glengarry_criteria_version"] == version
        }
    assert carried == moved  # the version travelled with those writes only
    with runtime.sessions.begin() as session:
        request_rescore(session, version, runtime.clock.now(), reason="again")
    assert await jobs.rescore_all(runtime) == CONTACTS
    assert (await jobs.relay(runtime, cid)).sent == 0  # nothing changed the second time


async def test_a_capacity_recompute_writes_only_the_contacts_whose_status_changed(
    live: Live,
) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    capped = DEFAULT_CRITERIA_YAML + "capacity: {new_conversations_per_week: 10}\n"
    version = _activated(runtime, capped).version
    assert await jobs.rescore_all(runtime) == CONTACTS
    assert (await jobs.relay(runtime, cid)).sent == 0  # no bar yet: thresholds as before
    before = _statuses(runtime)
    bar = await jobs.recompute_capacity(runtime)
    assert bar is not None
    assert bar.by == "score"
    with runtime.sessions() as session:
        row = session.scalars(select(CriteriaVersion).where(CriteriaVersion.active)).one()
        assert row.version == version  # a recompute is no new version
        assert row.capacity_bar == bar.to_dict()
        active = active_criteria(session, runtime.clock.now())
        assert active.criteria.capacity_bar == bar
        # Its rescore is a run like an activation's, listed and followed the same way.
        last = session.scalars(
            select(SyncRun).where(SyncRun.kind == "rescore").order_by(SyncRun.id.desc())
        ).first()
        assert last is not None
        assert (last.state, last.progress["reason"]) == ("succeeded", "capacity bar moved")
        assert last.progress["done"] == last.progress["total"] == CONTACTS
    after = _statuses(runtime)
    moved = {contact: status for contact, status in after.items() if before[contact] != status}
    assert moved  # sales-ready leads beyond the capacity went back to nurture
    assert set(moved.values()) == {"nurture"}
    assert (await jobs.relay(runtime, cid)).sent == len(moved)
    ready = [contact for contact, status in after.items() if status == "sales_ready"]
    assert 0 < len(ready) < sum(1 for status in before.values() if status == "sales_ready")


async def test_an_interrupted_rescore_resumes_where_it_stopped(live: Live) -> None:
    runtime, sandbox = live
    await _backfilled(runtime, sandbox)
    second = DEFAULT_CRITERIA_YAML.replace("B2B SaaS default", "B2B SaaS, resumed", 1)
    with runtime.sessions.begin() as session:
        version = activate(session, second, runtime.clock.now()).version
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        # A worker died after the first 120 contacts: its run row says how far it got.
        session.add(
            SyncRun(
                kind="rescore",
                state="running",
                started_at=runtime.clock.now(),
                progress={"criteria_version": version, "after_id": ids[119], "scored": 120},
            )
        )
    assert await jobs.rescore_all(runtime) == len(ids) - 120
    with runtime.sessions() as session:
        run = session.scalars(select(SyncRun).where(SyncRun.kind == "rescore")).one()
        assert (run.state, run.counts["scored"]) == ("succeeded", len(ids))


async def test_a_deal_won_and_a_ticket_closed_reach_glengarry_by_their_own_webhooks(
    live: Live,
) -> None:
    """Only `deal.propertyChange` and `ticket.propertyChange` events (the contacts themselves do
    not change): the worker reads the contacts associated with them, stores the won deal and
    the closed ticket, and rescores them, with no sync."""
    from app.models import Activity, OutcomeRecord

    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)  # settle the echoes
    sent = len(sandbox.store.changes)
    rng = random.Random(7)
    won = simulate(sandbox.store, rng, 3, 1, ["deal_won"])
    closed = simulate(sandbox.store, rng, 3, 1, ["ticket_closed"])
    assert won
    assert closed
    changes = sandbox.store.changes[sent:]
    assert {c.object_type for c in changes} == {"deals", "tickets"}
    deals = {c.object_id for c in changes if c.object_type == "deals"}
    tickets = {c.object_id for c in changes if c.object_type == "tickets"}
    before = runtime.clock.now()
    result = await _deliver_and_process(runtime, sandbox, cid)
    assert result.error is None, result.error
    assert result.read >= len(set(won) | set(closed))
    with runtime.sessions() as session:
        ids = dict(
            session.execute(
                select(Contact.crm_id, Contact.id).where(Contact.crm_id.in_([*won, *closed]))
            ).all()
        )
        outcomes = set(
            session.scalars(
                select(OutcomeRecord.deal_key).where(
                    OutcomeRecord.contact_id.in_([ids[c] for c in won]),
                    OutcomeRecord.kind == "deal_won",
                )
            )
        )
        statuses = {
            row.crm_id: row.properties.get("status")
            for row in session.scalars(
                select(Activity).where(
                    Activity.contact_id.in_([ids[c] for c in closed]), Activity.type == "ticket"
                )
            )
        }
        scored = session.scalars(
            select(QualificationRecord.computed_at).where(
                QualificationRecord.contact_id.in_(ids.values())
            )
        ).all()
    assert deals <= outcomes
    assert all(statuses.get(f"tickets:{t}") == "CLOSED" for t in tickets), statuses
    assert len(scored) == len(ids)
    assert all(_aware(at) >= _aware(before) for at in scored)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
