"""Criteria naming a CRM's own field: `salesforce.Rating`, `hubspot.hs_lead_status`."""

from __future__ import annotations

import httpx
import respx
import yaml

from connectors.crm_fields import foreign, own_field, own_fields
from connectors.hubspot.auth import PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.mapping import to_contact
from connectors.salesforce.mapping import CONTACT, LEAD, PropertyMap
from qualification import Contact, build_profile, parse_criteria
from qualification.default_criteria import DEFAULT_CRITERIA_YAML

CRITERIA = ["jobtitle", "salesforce.Rating", "salesforce.Account.Rating", "hubspot.hs_lead_status"]


def test_a_prefix_names_one_crms_field_and_no_other() -> None:
    assert own_field("salesforce.Rating", "salesforce") == "Rating"
    assert own_field("salesforce.Rating", "hubspot") is None
    assert own_field("hubspot.hs_lead_status", "hubspot") == "hs_lead_status"
    assert own_field("jobtitle", "hubspot") == "jobtitle"
    assert own_field("Account.Rating", "salesforce") == "Account.Rating"  # no CRM prefix
    assert foreign("hubspot.x", "salesforce")
    assert not foreign("x", "salesforce")
    assert own_fields(CRITERIA, "salesforce") == {
        "salesforce.Rating": "Rating",
        "salesforce.Account.Rating": "Account.Rating",
    }


def test_salesforce_reads_its_own_fields_under_the_criteria_names_and_never_hubspots() -> None:
    mapping = PropertyMap(CRITERIA)
    assert "Rating" in mapping.paths(LEAD)
    assert "Account.Rating" in mapping.paths(CONTACT)
    assert "Account.Rating" not in mapping.paths(LEAD)  # a Lead has no Account
    assert not any("hs_lead_status" in p for p in [*mapping.paths(LEAD), *mapping.paths(CONTACT)])
    row = {"Id": "003A", "Rating": "Hot", "Industry": "Media", "Account": {"Rating": "Warm"}}
    person = mapping.contact(row, CONTACT)
    assert person.properties["salesforce.Rating"] == "Hot"
    assert person.properties["salesforce.Account.Rating"] == "Warm"
    assert "hubspot.hs_lead_status" not in person.properties
    lead = PropertyMap(["salesforce.Industry"]).contact({"Id": "00QA", "Industry": "Media"}, LEAD)
    assert lead.properties["salesforce.Industry"] == "Media"  # the label, not HubSpot's value


@respx.mock
async def test_hubspot_asks_for_its_own_fields_only_and_hands_them_on() -> None:
    route = respx.post("https://api.hubapi.test/crm/v3/objects/contacts/batch/read").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "COMPLETE",
                "results": [
                    {
                        "id": "1",
                        "properties": {"hs_lead_status": "OPEN", "jobtitle": "CEO"},
                        "archived": False,
                    }
                ],
            },
        )
    )
    hub = HubSpotConnector(
        HubSpotOptions(base_url="https://api.hubapi.test", properties=CRITERIA),
        PrivateAppToken("pat"),
        account="portal",
    )
    try:
        (person,) = await hub.read_contacts(["1"])
    finally:
        await hub.aclose()
    asked = route.calls[0].request.content.decode()
    assert '"hs_lead_status"' in asked
    for unwanted in ("Rating", "salesforce.", "hubspot."):
        assert unwanted not in asked
    assert person.properties["hubspot.hs_lead_status"] == "OPEN"
    assert "salesforce.Rating" not in person.properties
    plain = to_contact({"id": "2", "properties": {"hs_lead_status": "NEW"}})
    assert "hubspot.hs_lead_status" not in plain.properties


def test_the_engine_scores_a_rule_on_a_crms_own_field() -> None:
    document = yaml.safe_load(DEFAULT_CRITERIA_YAML)
    document["fit"].append(
        {"label": "rated hot by sales", "signal": "rated_hot", "points": 10,
         "condition": {"any": [{"property": "salesforce.Rating", "equals": "Hot"},
                               {"property": "hubspot.hs_lead_status", "equals": "IN_PROGRESS"}]}}
    )  # fmt: skip
    criteria = parse_criteria(yaml.safe_dump(document))
    assert {"salesforce.Rating", "hubspot.hs_lead_status"} <= criteria.contact_properties
    person = PropertyMap(sorted(criteria.contact_properties)).contact(
        {"Id": "00QA", "Rating": "Hot"}, LEAD
    )
    profile = build_profile(Contact(person.crm_id, dict(person.properties)), criteria)
    assert "rated_hot" in {reason.signal for reason in profile.fit_reasons}
