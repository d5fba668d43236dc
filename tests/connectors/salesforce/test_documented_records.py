"""Twenty records written from Salesforce's documentation (fixtures/documented_records.json),
and the engine properties each must map to: the mapping is checked against Salesforce's own
labels and value sets, not against the sandbox's seeding turned around."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.mapping import INDUSTRIES, PropertyMap
from qualification.criteria import parse_criteria
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from qualification.engine import build_profile
from qualification.records import Contact

FIXTURE = Path(__file__).parent / "fixtures" / "documented_records.json"
RECORDS: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["records"]
SALESFORCE_INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit", "Other",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities",
)  # fmt: skip


def default_properties() -> list[str]:
    return sorted(parse_criteria(DEFAULT_CRITERIA_YAML).contact_properties)


def test_there_are_twenty_records_of_both_kinds() -> None:
    assert len(RECORDS) == 20
    assert {r["sobject"] for r in RECORDS} == {"Lead", "Contact"}


@pytest.mark.parametrize("record", RECORDS, ids=[r["row"]["Id"] for r in RECORDS])
def test_each_record_maps_to_the_engine_properties_it_must(record: dict[str, Any]) -> None:
    mapping = PropertyMap(default_properties())
    person = mapping.contact(record["row"], record["sobject"], has_won=record["won"])
    assert person.crm_id == record["row"]["Id"]
    assert person.kind == record["sobject"].lower()
    assert person.archived is record.get("archived", False)
    for name, value in record["expected"].items():
        assert person.properties.get(name) == value, name


def test_every_standard_industry_label_has_a_mapping() -> None:
    assert set(INDUSTRIES) == set(SALESFORCE_INDUSTRIES)


def test_an_admin_may_map_a_label_otherwise() -> None:
    mapping = PropertyMap(default_properties(), {"Media": "MARKETING_AND_ADVERTISING"})
    row = next(r for r in RECORDS if r["row"].get("Industry") == "Media")["row"]
    assert mapping.contact(row, "Lead").properties["industry"] == "MARKETING_AND_ADVERTISING"


def test_the_default_criteria_score_a_documented_record_by_its_mapped_fields() -> None:
    """Ann Lee (VP, Technology; 250 employees; United States; a business address) earns the
    fit the default criteria give those HubSpot values."""
    criteria = parse_criteria(DEFAULT_CRITERIA_YAML)
    person = PropertyMap(default_properties()).contact(RECORDS[0]["row"], "Lead")
    profile = build_profile(Contact(person.crm_id, dict(person.properties)), criteria)
    signals = {reason.signal for reason in profile.fit_reasons}
    assert {"title_vp", "icp_industry", "size_mid_market", "target_country",
            "business_email"} <= signals  # fmt: skip


def test_documented_customers_and_bounces_are_what_the_default_criteria_read() -> None:
    criteria = parse_criteria(DEFAULT_CRITERIA_YAML)
    mapping = PropertyMap(default_properties())

    def profile(index: int) -> Any:
        record = RECORDS[index]
        person = mapping.contact(record["row"], record["sobject"], has_won=record["won"])
        return build_profile(Contact(person.crm_id, dict(person.properties)), criteria)

    assert profile(10).customer  # Edge Communications: Account.Type "Customer - Direct"
    assert profile(14).customer  # Grand Hotels: a Prospect with a won Opportunity
    assert not profile(13).customer  # Dickenson plc: a Prospect
    bounced = profile(4).disqualifier  # an EmailBouncedReason
    assert bounced is not None
    assert bounced.signal == "bounced"
    opted_out = profile(2).disqualifier
    assert opted_out is not None
    assert opted_out.signal == "unsubscribed"


def test_an_orgs_own_industry_label_becomes_a_hubspot_style_value() -> None:
    """Industry is an unrestricted picklist: orgs add labels of their own."""
    mapping = PropertyMap(default_properties())
    row = {**RECORDS[0]["row"], "Industry": "Marketing and Advertising"}
    assert mapping.contact(row, "Lead").properties["industry"] == "MARKETING_AND_ADVERTISING"
    row = {**RECORDS[0]["row"], "Industry": "Computer & Network Security"}
    assert mapping.contact(row, "Lead").properties["industry"] == "COMPUTER_AND_NETWORK_SECURITY"


def test_a_bounce_date_is_a_bounce_for_the_default_criteria() -> None:
    mapping = PropertyMap(default_properties())
    row = {**RECORDS[0]["row"], "EmailBouncedDate": "2026-03-02T10:00:00.000+0000"}
    person = mapping.contact(row, "Lead")
    assert person.properties["hs_email_bounce"] == "1"
    assert mapping.contact(RECORDS[0]["row"], "Lead").properties["hs_email_bounce"] is None
