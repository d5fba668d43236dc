"""What happens to Salesforce people after the backfill, through `SyncRunner`, the stored rows
and the org itself: converted Leads, merges, deletions, an emptied recycle bin, activity logged
on a Lead that did not change. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Activity, Contact, OutboxState, QualificationRecord, SyncState, Transition
from app.runtime import Runtime
from app.sync.run import SyncReport, SyncRunner
from connectors.salesforce.sandbox import SandboxServer
from tests.pipeline.salesforce_org import (
    connect_org,
    control,
    data_api,
    dump,
    glengarry_fields,
    outbox_of,
    start_org,
    stored,
)

PEOPLE = 80
# The org's clock moved past the minute (its deleted log's grain), but less than the three
# minutes a JWT assertion of ours lives: the org would take a later clock for a stale assertion.
ADVANCE = 0.0015  # days: about 2 minutes


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", PEOPLE)
    yield server
    server.stop()


def _activities(runtime: Runtime, contact_id: int) -> set[str]:
    with runtime.sessions() as session:
        return set(
            session.scalars(select(Activity.crm_id).where(Activity.contact_id == contact_id))
        )


def _transitions(runtime: Runtime, contact_id: int) -> list[tuple[str | None, str]]:
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Transition).where(Transition.contact_id == contact_id).order_by(Transition.id)
        )
        return [(t.from_status, t.to_status) for t in rows]


def _lead_with_activities(runtime: Runtime, org: SandboxServer) -> str:
    leads = {r.id for r in org.store.records("Lead")}
    for crm_id, row in sorted(stored(runtime).items()):
        if crm_id in leads and _activities(runtime, row.id) and outbox_of(runtime, row.id):
            return crm_id
    raise AssertionError("no Lead with activities and a write")


async def test_a_lead_converted_under_a_write_is_refused_for_good_and_then_follows_its_contact(
    runtime: Runtime, org: SandboxServer
) -> None:
    await connect_org(runtime, org)
    converted: dict[str, str] = {}

    def convert_before_the_writes(_report: SyncReport) -> None:
        # The last group is stored and queued; the writes go next: a rep converts one Lead
        # in between, as may happen any time between a read and a write.
        if not converted:
            lead_id = _lead_with_activities(runtime, org)
            contact = org.store.convert_lead(org.store.get("Lead", lead_id))
            converted[lead_id] = contact.id

    first = await SyncRunner(runtime, "sf", progress=convert_before_the_writes).run()
    [(lead_id, contact_id)] = converted.items()
    assert first.state is SyncState.PARTIAL
    assert first.relay.failed == 1
    assert first.relay.retrying == 0
    assert "CANNOT_UPDATE_CONVERTED_LEAD" in first.message
    lead = stored(runtime, [lead_id])[lead_id]
    [refused] = outbox_of(runtime, lead.id)
    assert refused.state == OutboxState.FAILED
    assert refused.attempts == 1  # permanent: never retried
    assert "CANNOT_UPDATE_CONVERTED_LEAD" in (refused.last_error or "")
    assert _lead_fields(org, lead_id) == {}  # the refused write never landed
    assert lead_id not in dump(org)  # a converted Lead is no live record: no drift to judge
    lead_activities = _activities(runtime, lead.id)
    lead_history = _transitions(runtime, lead.id)
    assert lead_activities
    assert lead_history

    second = await SyncRunner(runtime, "sf").run()
    assert second.state is SyncState.SUCCEEDED, second.message
    rows = stored(runtime, [lead_id, contact_id])
    lead, contact = rows[lead_id], rows[contact_id]
    assert (lead.kind, contact.kind) == ("lead", "contact")
    assert lead.deleted_at is not None
    assert lead.merged_into_id == contact.id
    # The Lead's activities and status history are the Contact's now; the Lead has neither a
    # qualification nor a write left, and the failed one stays failed, not retried.
    assert lead_activities <= _activities(runtime, contact.id)
    assert _activities(runtime, lead.id) == set()
    assert _transitions(runtime, contact.id)[: len(lead_history)] == lead_history
    assert _transitions(runtime, lead.id) == []
    with runtime.sessions() as session:
        assert session.get(QualificationRecord, lead.id) is None
        assert session.get(QualificationRecord, contact.id) is not None
    assert [(r.state, r.attempts) for r in outbox_of(runtime, lead.id)] == [(OutboxState.FAILED, 1)]
    assert _lead_fields(org, lead_id) == {}  # the Lead is never written again
    assert glengarry_fields(dump(org)[contact_id])["Glengarry_Status__c"]


def _lead_fields(org: SandboxServer, lead_id: str) -> dict[str, object]:
    """A converted Lead's Glengarry values, read from the org's store (the dump leaves it out)."""
    lead = org.store.get("Lead", lead_id)
    assert lead is not None
    assert lead.get("IsConverted")
    return glengarry_fields(lead.values)


async def test_a_merged_loser_follows_its_master_and_a_deleted_lead_is_never_written(
    runtime: Runtime, org: SandboxServer
) -> None:
    await connect_org(runtime, org)
    await SyncRunner(runtime, "sf").run()
    leads = sorted(org.store.records("Lead"), key=lambda r: r.id)
    master, loser, doomed = leads[:3]
    before = stored(runtime, [master.id, loser.id, doomed.id])
    loser_activities = _activities(runtime, before[loser.id].id)
    org.store.merge(master, loser)
    with data_api(org) as http:
        assert http.delete(f"/sobjects/Lead/{doomed.id}").status_code == 204

    report = await SyncRunner(runtime, "sf").run()
    assert report.state is SyncState.SUCCEEDED, report.message
    rows = stored(runtime, [master.id, loser.id, doomed.id])
    assert rows[loser.id].deleted_at is not None
    assert rows[loser.id].merged_into_id == rows[master.id].id
    assert rows[master.id].deleted_at is None
    assert loser_activities <= _activities(runtime, rows[master.id].id)
    assert rows[doomed.id].deleted_at is not None
    assert rows[doomed.id].merged_into_id is None
    for gone in (loser.id, doomed.id):
        assert [r for r in outbox_of(runtime, rows[gone].id) if r.state == "pending"] == []
        assert gone not in dump(org)  # in the recycle bin: nothing of ours is written there
    with runtime.sessions() as session:
        assert session.get(QualificationRecord, rows[loser.id].id) is None
    # A full resync reads them no more and writes nothing to them.
    again = await SyncRunner(runtime, "sf", full=True).run()
    assert again.state is SyncState.SUCCEEDED, again.message
    assert stored(runtime, [doomed.id])[doomed.id].deleted_at is not None


async def test_an_emptied_recycle_bin_is_reconciled_and_the_purged_lead_marked_deleted(
    runtime: Runtime, org: SandboxServer
) -> None:
    await connect_org(runtime, org)
    await SyncRunner(runtime, "sf").run()
    purged = sorted(org.store.records("Lead"), key=lambda r: r.id)[0]
    with control(org) as sandbox:
        sandbox.post("/clock", json={"advance_days": ADVANCE})
        org.store.delete(purged)
        assert sandbox.post("/purge", json={}).status_code == 200

    report = await SyncRunner(runtime, "sf").run()
    assert report.state is SyncState.SUCCEEDED, report.message
    assert report.reconciled == 1
    rows = stored(runtime)
    assert rows[purged.id].deleted_at is not None
    live = {r.id for r in org.store.records("Lead")} | {r.id for r in org.store.records("Contact")}
    assert {i for i, row in rows.items() if row.deleted_at is None} == live
    # The next run's deleted log starts after the purge: nothing to reconcile again.
    again = await SyncRunner(runtime, "sf").run()
    assert again.reconciled == 0


class _Ahead:
    """Glengarry's clock ahead of the org's, which the test moves forward: what the org logs
    after its clock moved is still in Glengarry's past, as it is in production."""

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(minutes=10)


async def test_a_task_logged_on_an_unchanged_lead_is_scored_by_the_next_incremental_run(
    runtime: Runtime, org: SandboxServer
) -> None:
    runtime = replace(runtime, clock=_Ahead())
    await connect_org(runtime, org)
    await SyncRunner(runtime, "sf").run()
    with control(org) as sandbox:  # the backfill's own writes are behind the next run's marks
        sandbox.post("/clock", json={"advance_days": ADVANCE})
    await SyncRunner(runtime, "sf").run()
    quiet = await SyncRunner(runtime, "sf").run()
    assert quiet.pulled == 0  # nothing changed: nobody is read again
    leads = {r.id: r for r in org.store.records("Lead")}
    with runtime.sessions() as session:
        # The least engaged Lead: two long calls must show in its engagement.
        local, before = session.execute(
            select(Contact, QualificationRecord)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(Contact.crm_id.in_(leads))
            .order_by(QualificationRecord.engagement, Contact.crm_id)
            .limit(1)
        ).one()
        session.expunge_all()
    lead = leads[local.crm_id]
    stamp = lead.get("SystemModstamp")
    engagement_before = before.engagement
    with data_api(org) as http:
        for subject in ("Discovery call", "Follow-up call"):
            made = http.post(
                "/sobjects/Task",
                json={"WhoId": lead.id, "Subject": subject, "TaskSubtype": "Call",
                      "Status": "Completed", "OwnerId": org.user.id,
                      "CallDurationInSeconds": 1800},
            )  # fmt: skip
            assert made.status_code == 201, made.text
    assert org.store.get("Lead", lead.id).get("SystemModstamp") == stamp  # the Lead unchanged

    report = await SyncRunner(runtime, "sf").run()
    assert report.state is SyncState.SUCCEEDED, report.message
    assert report.pulled == 1  # only the Lead the Tasks name
    calls = {a for a in _activities(runtime, local.id) if a.startswith("Task:")}
    assert len(calls) >= 2
    with runtime.sessions() as session:
        after = session.get(QualificationRecord, local.id)
        assert after is not None
        assert after.engagement > engagement_before
