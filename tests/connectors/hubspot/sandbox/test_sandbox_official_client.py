"""HubSpot's official Python client against the sandbox: page, search, batch update, group;
and the daily limit's 429 as the client raises it."""

from __future__ import annotations

import json

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties import PropertyGroupCreate

from connectors.hubspot.sandbox import SandboxServer

from .conftest import TOKEN


def test_official_client(sandbox: SandboxServer) -> None:
    hubspot = HubSpot(access_token=TOKEN, host=sandbox.base_url)
    contacts = hubspot.crm.contacts

    ids: list[str] = []
    after = None
    while True:
        page = contacts.basic_api.get_page(limit=10, after=after, properties=["email"])
        ids += [contact.id for contact in page.results]
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    assert ids == [str(n) for n in range(1, 26)]

    found = contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[Filter(property_name="industry", operator="EQ", value="BANKING")]
                )
            ],
            properties=["industry"],
            limit=100,
        )
    )
    assert found.total == 8
    assert {result.properties["industry"] for result in found.results} == {"BANKING"}

    updated = contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id="1", properties={"hs_lead_status": "OPEN"}),
                SimplePublicObjectBatchInput(id="2", properties={"jobtitle": "Buyer"}),
            ]
        )
    )
    assert updated.status == "COMPLETE"
    first, second = sandbox.store.get("contacts", "1"), sandbox.store.get("contacts", "2")
    assert first is not None
    assert first.properties["hs_lead_status"] == "OPEN"
    assert second is not None
    assert second.properties["jobtitle"] == "Buyer"

    group = hubspot.crm.properties.groups_api.create(
        object_type="contacts",
        property_group_create=PropertyGroupCreate(name="glengarry", label="Glengarry"),
    )
    assert group.name == "glengarry"
    assert sandbox.store.groups["contacts"]["glengarry"].label == "Glengarry"


def test_the_official_client_sees_the_spent_day(sandbox: SandboxServer) -> None:
    hubspot = HubSpot(access_token=TOKEN, host=sandbox.base_url)
    httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"spend_allocation": True})
    with pytest.raises(ApiException) as refused:
        hubspot.crm.contacts.basic_api.get_page(limit=10)
    assert refused.value.status == 429
    assert json.loads(refused.value.body)["policyName"] == "DAILY"
    assert refused.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
