"""Syncing against the sandbox: full listings across pages, per-stream cursors, converted,
merged and deleted records, the deleted log and reconciling, the API budget."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from connectors.base import ContactBatch, Reconciling
from connectors.errors import BudgetExhausted, DailyLimitReached
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.cursor import SyncCursor
from connectors.salesforce.sandbox import SandboxServer

from .conftest import connector, control, drain, last_cursor, population, start_org

MORE = "GET /services/data/v62.0/queryAll/{locator}"
QUERY_MORE = "GET /services/data/v62.0/query/{locator}"
CRITERIA = ["jobtitle", "industry", "numemployees", "country", "email", "hs_email_optout"]


@pytest.fixture(scope="module")
def big_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start_org(tmp_path_factory.mktemp("big"), population(2_300))
    yield server
    server.stop()


def _ids(org: SandboxServer, sobject: str) -> set[str]:
    return {r.id for r in org.store.records(sobject)}


async def test_a_full_sync_pages_through_every_lead_and_contact(big_org: SandboxServer) -> None:
    sf = connector(big_org, properties=CRITERIA)
    try:
        batches, people = await drain(sf, None)
    finally:
        await sf.aclose()
    leads = [c for b in batches for c in b.contacts if c.kind == "lead"]
    assert len(leads) == len({c.crm_id for c in leads}) == 2_300  # each once
    assert {c.crm_id for c in leads} == _ids(big_org, "Lead")
    assert {c.crm_id for c in people.values() if c.kind == "contact"} == _ids(big_org, "Contact")
    assert [len(b.contacts) for b in batches if b.contacts][:2] == [2_000, 300]
    assert big_org.stats()["calls"][QUERY_MORE]["200"] >= 1
    final = SyncCursor.loads(last_cursor(batches))
    assert final is not None
    assert final.full is None
    assert set(final.marks) == {
        "Lead", "Contact", "Account", "Opportunity", "Task", "Event", "CampaignMember", "Case",
        "SurveyQuestionResponse",
    }  # fmt: skip
    acme = [c for c in people.values() if c.properties.get("company") == "Acme"]
    assert {c.properties["lifecyclestage"] for c in acme} == {"customer"}
    assert {c.properties["industry"] for c in acme} == {"BANKING"}  # the Account's
    beta = next(c for c in people.values() if c.properties.get("company") == "Beta")
    assert beta.properties["lifecyclestage"] is None  # an open opportunity only


async def test_a_stopped_full_listing_resumes_where_it_stopped(big_org: SandboxServer) -> None:
    sf = connector(big_org)
    try:
        pages = sf.contacts(None).__aiter__()
        first = await anext(pages)
        await pages.aclose()
        _, rest = await drain(sf, first.cursor)
    finally:
        await sf.aclose()
    seen = {c.crm_id for c in first.contacts} | set(rest)
    assert seen == _ids(big_org, "Lead") | _ids(big_org, "Contact")


def _create(http: httpx.Client, sobject: str, body: dict[str, object]) -> str:
    answer = http.post(f"/sobjects/{sobject}", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def data_api(org: SandboxServer) -> httpx.Client:
    """A plain client of the org (another integration, or a rep's browser)."""
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    token = httpx.post(
        f"{org.instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org.config.client_id, org.config.client_secret),
        verify=trust,
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{org.instance_url}/services/data/v62.0",
        headers={"Authorization": f"Bearer {token}"},
        verify=trust,
    )


async def test_activities_on_unchanged_people_are_read_by_the_next_incremental_run(
    org: SandboxServer,
) -> None:
    sf = connector(org, properties=CRITERIA)
    lead, other = org.store.records("Lead")[:2]
    contact = org.store.records("Contact")[0]
    campaign = org.store.records("Campaign")[0]
    stamps = {r.id: r.get("SystemModstamp") for r in (lead, other, contact)}
    try:
        batches, _ = await drain(sf, None)
        cursor = last_cursor(batches)
        with data_api(org) as http:
            task = _create(
                http,
                "Task",
                {
                    "WhoId": lead.id,
                    "Subject": "Call",
                    "TaskSubtype": "Call",
                    "Status": "Completed",
                    "OwnerId": org.user.id,
                },
            )
            event = _create(
                http,
                "Event",
                {"WhoId": contact.id, "Subject": "Demo", "DurationInMinutes": 30,
                 "StartDateTime": "2026-05-01T10:00:00.000+0000", "OwnerId": org.user.id},
            )  # fmt: skip
            _create(
                http,
                "CampaignMember",
                {"CampaignId": campaign.id, "LeadId": other.id, "Status": "Responded"},
            )
        # Logging activity leaves the people themselves unchanged...
        assert {r.id: r.get("SystemModstamp") for r in (lead, other, contact)} == stamps
        batches, people = await drain(sf, cursor)
        # ...and the next run still re-reads exactly them, with their new activities.
        assert set(people) == {lead.id, other.id, contact.id}
        found = {a.crm_id: a for a in await sf.activities(list(people.values()))}
        assert found[f"Task:{task}"].type == "call"
        assert found[f"Task:{task}"].stream == "Task"
        assert found[f"Task:{task}"].contact_crm_id == lead.id
        assert found[f"Event:{event}"].type == "meeting"
        assert found[f"Event:{event}"].contact_crm_id == contact.id
        responses = [a for a in found.values() if a.stream == "CampaignMember"]
        assert other.id in {a.contact_crm_id for a in responses}
        # Once a run has started after the org's clock moved past them (the deleted log tells
        # the org's time to the minute: the run in that minute may read them again), later
        # runs read no one again.
        with control(org) as sandbox:
            sandbox.post("/clock", json={"advance_days": 0.01})
        batches, _ = await drain(sf, last_cursor(batches))
        batches, people = await drain(sf, last_cursor(batches))
        assert people == {}
    finally:
        await sf.aclose()


async def test_each_stream_moves_its_own_mark(org: SandboxServer) -> None:
    sf = connector(org)
    try:
        batches, _ = await drain(sf, None)
        start = SyncCursor.loads(last_cursor(batches))
        assert start is not None
        with control(org) as sandbox:
            sandbox.post("/clock", json={"advance_days": 0.01})
        lead = org.store.records("Lead")[0]
        org.store.create("Task", {"WhoId": lead.id, "Subject": "Email: Re: pricing",
                                  "TaskSubtype": "Email", "Status": "Completed"})  # fmt: skip
        batches, people = await drain(sf, start.dumps())
        assert set(people) == {lead.id}
        task_batch = next(b for b in batches if b.contacts)
        moved = SyncCursor.loads(task_batch.cursor)
        assert moved is not None
        # The Task stream moved on to the new Task; Lead and Contact were read through to the
        # end (their marks moved to the run's start), and the streams after Task have not
        # been read yet when this batch is stored.
        assert moved.marks["Task"] > start.marks["Task"]
        assert moved.marks["Event"] == start.marks["Event"]
        assert moved.marks["CampaignMember"] == start.marks["CampaignMember"]
        activities = await sf.activities(list(people.values()))
        assert any(a.type == "email_reply" for a in activities)
    finally:
        await sf.aclose()


async def test_a_converted_lead_follows_its_contact_and_is_archived(org: SandboxServer) -> None:
    sf = connector(org)
    lead = org.store.records("Lead")[0]
    try:
        batches, _ = await drain(sf, None)
        contact = org.store.convert_lead(lead)
        _, people = await drain(sf, last_cursor(batches))
        assert people[lead.id].archived
        assert people[lead.id].kind == "lead"
        assert people[contact.id].merged_crm_ids == (lead.id,)
        assert not people[contact.id].archived
        # Read by id (a webhook's way), the same.
        read = {c.crm_id: c for c in await sf.read_contacts([lead.id])}
        assert read[lead.id].archived
        assert read[contact.id].merged_crm_ids == (lead.id,)
        assert lead.id not in await sf.live_crm_ids()
    finally:
        await sf.aclose()


async def test_a_merged_loser_follows_its_master_and_deleted_records_are_archived(
    org: SandboxServer,
) -> None:
    sf = connector(org)
    master, loser, doomed = org.store.records("Lead")[:3]
    try:
        batches, _ = await drain(sf, None)
        org.store.merge(master, loser)
        with data_api(org) as http:
            assert http.delete(f"/sobjects/Lead/{doomed.id}").status_code == 204
        batches, people = await drain(sf, last_cursor(batches))
        assert people[loser.id].archived
        assert people[master.id].merged_crm_ids == (loser.id,)
        assert not people[master.id].archived
        assert people[doomed.id].archived
        assert people[doomed.id].merged_crm_ids == ()
        assert not any(b.reconcile for b in batches)
        assert await sf.read_contacts([loser.id, doomed.id]) == []  # gone by id
    finally:
        await sf.aclose()


async def test_an_emptied_recycle_bin_asks_for_a_reconcile(org: SandboxServer) -> None:
    sf = connector(org)
    purged = org.store.records("Lead")[0]
    try:
        batches, _ = await drain(sf, None)
        with control(org) as sandbox:
            sandbox.post("/clock", json={"advance_days": 0.01})
            org.store.delete(purged)
            assert sandbox.post("/purge", json={}).status_code == 200
        batches, people = await drain(sf, last_cursor(batches))
        assert batches[0].reconcile
        assert batches[0].cursor is None  # nothing to store before reconciling
        assert purged.id not in people  # the record itself is gone for good
        assert isinstance(sf, Reconciling)
        live = await sf.live_crm_ids()
        assert purged.id not in live
        assert live == _ids(org, "Lead") | _ids(org, "Contact")
        # The next run starts its deleted log after the purge: no reconcile again.
        again, _ = await drain(sf, last_cursor(batches))
        assert not any(b.reconcile for b in again)
    finally:
        await sf.aclose()


async def test_reaching_the_share_of_the_org_s_usage_pauses_and_a_later_run_resumes(
    tmp_path: Path,
) -> None:
    org = start_org(tmp_path / "org", population(2_300), daily_api_limit=100)
    try:
        with data_api(org) as other_integration:
            for _ in range(46):  # the org's other users of the API (the backfill counts first)
                other_integration.get("/limits")
        sf = connector(org, budget_share=0.5)  # may take the org up to 50 calls
        got: list[ContactBatch] = []

        async def sync() -> None:
            async for batch in sf.contacts(None):
                got.append(batch)

        with pytest.raises(BudgetExhausted, match="50 of its 100"):
            await sync()
        await sf.aclose()
        assert [len(b.contacts) for b in got] == [2_000]  # the first page was kept
        assert org.runtime.allocation.used() == 50  # nothing was sent past the share
        with control(org) as sandbox:
            sandbox.post("/stats/reset")  # a day later
        sf = connector(org, budget_share=0.5)
        try:
            _, rest = await drain(sf, last_cursor(got))
        finally:
            await sf.aclose()
        seen = {c.crm_id for c in got[0].contacts} | set(rest)
        assert seen == _ids(org, "Lead") | _ids(org, "Contact")
    finally:
        org.stop()


async def test_a_spent_daily_allocation_stops_the_run(org: SandboxServer) -> None:
    sf = connector(org, budget_share=1.0)
    try:
        with control(org) as sandbox:
            sandbox.post("/faults", json={"spend_allocation": True})
        with pytest.raises(DailyLimitReached, match="TotalRequests"):
            await drain(sf, None)
    finally:
        await sf.aclose()


async def test_a_field_the_user_cannot_see_is_reported_once_and_not_queried(
    org: SandboxServer,
) -> None:
    """The sandbox's org has no Partner_Tier__c: asking for it must not break a query."""
    sf = connector(org, properties=[*CRITERIA, "Partner_Tier__c", "Rating"])
    try:
        _, people = await drain(sf, None)
        _, again = await drain(sf, None)
    finally:
        await sf.aclose()
    glengarry = {
        f"Glengarry_{n}__c"
        for n in (
            "Status",
            "Score",
            "Fit",
            "Engagement",
            "Reasons",
            "Status_Since",
            "Criteria_Version",
            "Conversion_Probability",
            "Override",
        )
    }
    # Not installed yet: Glengarry's own fields are hidden too.
    assert set(sf.hidden_fields["Lead"]) == {"Partner_Tier__c", *glengarry}
    assert set(sf.hidden_fields["Contact"]) == {"Partner_Tier__c", "Rating", *glengarry}
    assert sf.api.calls["GET /services/data/v62.0/sobjects/Lead/describe"] == 1
    assert set(people) == set(again)
    lead = next(c for c in people.values() if c.kind == "lead")
    assert "Rating" in lead.properties  # a Lead field, read under its own name


async def test_the_overlap_reads_each_stream_again_from_that_far_back(
    org: SandboxServer,
) -> None:
    sf = connector(org, overlap_seconds=3_600)
    try:
        batches, _ = await drain(sf, None)
        final = SyncCursor.loads(last_cursor(batches))
        assert final is not None
        assert final.deleted_since is not None
        assert final.marks["Task"] == final.deleted_since - timedelta(hours=1)
    finally:
        await sf.aclose()


def test_the_connector_is_a_connector() -> None:
    assert SalesforceConnector.kind == "salesforce"
