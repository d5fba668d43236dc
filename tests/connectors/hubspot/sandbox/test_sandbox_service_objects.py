"""Tickets, deals and feedback submissions in the sandbox: seeded from the population, read by
HubSpot's official client (list, batch read, search, v4 associations), refused without scope."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4 import PublicFetchAssociationsBatchRequest as FetchRequest
from hubspot.crm.objects.feedback_submissions import (
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)
from hubspot.crm.objects.feedback_submissions.exceptions import ApiException
from hubspot.crm.tickets import Filter, FilterGroup, PublicObjectSearchRequest

from connectors.hubspot.sandbox import SandboxConfig, SandboxServer

from .conftest import TOKEN, Member, member


def customers() -> list[Member]:
    """1: an unhappy customer (NPS 3, an urgent ticket still open, a closed one); 2: a happy
    one (NPS 10, CSAT 5); 3: an opportunity; 4: a lead with nothing to say."""
    return [
        member(
            1,
            [
                ("survey_response", 20, {"survey": "nps", "score": "3"}),
                ("ticket", 10, {"subject": "Sync stopped", "priority": "URGENT", "status": "OPEN"}),
                ("ticket", 30, {"subject": "Login", "priority": "LOW", "status": "CLOSED"}),
            ],
            lifecyclestage="customer",
            numemployees="100-500",
            country="Germany",
        ),
        member(
            2,
            [
                ("survey_response", 5, {"survey": "nps", "score": "10"}),
                ("survey_response", 3, {"survey": "csat", "score": "5"}),
            ],
            lifecyclestage="customer",
            country="United States",
        ),
        member(3, lifecyclestage="opportunity"),
        member(4, lifecyclestage="lead"),
    ]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(token=TOKEN, rate_limits="off")
    with SandboxServer(config, members=customers()) as server:
        yield server


@pytest.fixture(scope="module")
def hubspot(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sandbox.base_url)


def _associated(hubspot: HubSpot, to_type: str, ids: list[str]) -> dict[str, list[str]]:
    answer = hubspot.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts",
        to_object_type=to_type,
        batch_input_public_fetch_associations_batch_request=(
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[FetchRequest(id=i) for i in ids])
        ),
    )
    return {row._from.id: sorted(str(t.to_object_id) for t in row.to) for row in answer.results}


def test_feedback_submissions_through_the_official_client(hubspot: HubSpot) -> None:
    owners = _associated(hubspot, "feedback_submissions", ["1", "2", "3"])
    assert set(owners) == {"1", "2"}  # 3 answered no survey: an error row, as HubSpot answers
    api = hubspot.crm.objects.feedback_submissions
    names = ["hs_survey_type", "hs_value", "hs_response_group", "hs_submission_timestamp"]
    read = api.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            properties=names,
            inputs=[SimplePublicObjectId(id=i) for i in owners["1"] + owners["2"]],
        )
    )
    answers = sorted(
        (
            r.properties["hs_survey_type"],
            r.properties["hs_value"],
            r.properties.get("hs_response_group"),
        )
        for r in read.results
    )
    assert answers == [("CSAT", "5", None), ("NPS", "10", "PROMOTER"), ("NPS", "3", "DETRACTOR")]
    assert all(r.properties["hs_submission_timestamp"] for r in read.results)
    page = api.basic_api.get_page(limit=2, properties=names)
    assert len(page.results) == 2
    assert page.paging.next.after
    found = api.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(property_name="hs_response_group", operator="EQ", value="DETRACTOR")
                    ]
                )
            ],
            properties=["hs_value"],
        )
    )
    assert [r.properties["hs_value"] for r in found.results] == ["3"]


def test_tickets_through_the_official_client(hubspot: HubSpot) -> None:
    owners = _associated(hubspot, "tickets", ["1", "2"])
    assert list(owners) == ["1"]
    assert len(owners["1"]) == 2
    found = hubspot.crm.tickets.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(property_name="hs_ticket_priority", operator="EQ", value="URGENT")
                    ]
                )
            ],
            properties=["hs_ticket_priority", "hs_pipeline_stage", "closed_date", "subject"],
        )
    )
    assert found.total == 1
    urgent = found.results[0].properties
    assert (urgent["subject"], urgent["hs_pipeline_stage"], urgent.get("closed_date")) == (
        "Sync stopped",
        "1",
        None,
    )
    listed = hubspot.crm.tickets.basic_api.get_page(
        properties=["hs_ticket_priority", "closed_date", "createdate"]
    )
    closed = [t.properties for t in listed.results if t.properties.get("closed_date")]
    assert len(closed) == 1
    assert closed[0]["closed_date"] > closed[0]["createdate"]


def test_deals_through_the_official_client(hubspot: HubSpot, sandbox: SandboxServer) -> None:
    owners = _associated(hubspot, "deals", ["1", "2", "3", "4"])
    assert set(owners) == {"1", "2", "3"}  # customers won one, the opportunity has one open
    from hubspot.crm.deals import BatchReadInputSimplePublicObjectId as DealsRead
    from hubspot.crm.deals import SimplePublicObjectId as DealId

    names = ["dealstage", "closedate", "amount", "deal_currency_code", "hs_is_closed_won"]
    read = hubspot.crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id=DealsRead(
            properties=names, inputs=[DealId(id=owners[c][0]) for c in ("1", "2", "3")]
        )
    )
    deals = {r.id: r.properties for r in read.results}
    won = deals[owners["1"][0]]
    assert (won["dealstage"], won["hs_is_closed_won"], won["deal_currency_code"]) == (
        "closedwon",
        "true",
        "EUR",
    )
    assert float(won["amount"]) > 0
    contact = sandbox.store.get("contacts", "1")
    assert contact is not None
    assert won["closedate"] == contact.properties["hs_lifecyclestage_customer_date"]
    assert deals[owners["3"][0]]["dealstage"] not in ("closedwon", "closedlost")


def test_lifecycle_stage_dates_follow_the_stages_reached(sandbox: SandboxServer) -> None:
    customer, lead = sandbox.store.get("contacts", "1"), sandbox.store.get("contacts", "4")
    assert customer is not None
    assert lead is not None
    stamps = [
        customer.properties[f"hs_lifecyclestage_{stage}_date"]
        for stage in ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity")
    ]
    assert stamps == sorted(stamps)
    assert stamps[-1] <= customer.properties["hs_lifecyclestage_customer_date"]
    assert "hs_lifecyclestage_lead_date" in lead.properties
    assert "hs_lifecyclestage_opportunity_date" not in lead.properties
    # Calculated by HubSpot: a write to it is refused.
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        answer = http.patch(
            "/crm/v3/objects/contacts/4",
            json={"properties": {"hs_lifecyclestage_customer_date": "2026-01-01T00:00:00Z"}},
        )
    assert answer.status_code == 400
    assert "READ_ONLY_VALUE" in answer.text


def test_a_token_without_the_scope_gets_hubspots_403() -> None:
    config = SandboxConfig(
        token=TOKEN, rate_limits="off", scopes=("crm.objects.contacts.read", "tickets")
    )
    with SandboxServer(config, members=customers()) as server:
        hubspot = HubSpot(access_token=TOKEN, host=server.base_url)
        with pytest.raises(ApiException) as refused:
            hubspot.crm.objects.feedback_submissions.basic_api.get_page()
        assert refused.value.status == 403
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            association = http.post(
                "/crm/v4/associations/contacts/feedback_submissions/batch/read",
                json={"inputs": [{"id": "1"}]},
            )
            tickets = http.post(
                "/crm/v4/associations/contacts/tickets/batch/read", json={"inputs": [{"id": "1"}]}
            )
    body = association.json()
    assert (association.status_code, body["category"]) == (403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.objects.feedback_submissions.read"
    ]
    assert tickets.status_code == 200  # the scope it has
