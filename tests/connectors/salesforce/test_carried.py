"""What a Lead's Outbound Message carries in place of a read (connectors/salesforce/carried.py):
the values a read would store, as of the message's LastModifiedDate, or None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import ChangeEvent, CrmContact
from connectors.salesforce.carried import carried
from connectors.salesforce.crm import CRM
from connectors.salesforce.fields import API_NAMES
from connectors.salesforce.mapping import PropertyMap
from connectors.salesforce.outbound import parse
from connectors.salesforce.realtime import CARRIED, FIELDS
from qualification.criteria import default_criteria
from tests.connectors.salesforce.test_outbound import envelope, notification

CRITERIA = sorted(default_criteria().contact_properties)
# A Lead as a message set up with Glengarry's fields sends it (xsd strings; Country and the
# bounce left out: they have no value).
SENT: Mapping[str, str] = {
    "CreatedDate": "2024-05-01T12:00:00.000Z",
    "LastModifiedDate": "2024-06-01T08:30:00.000Z",
    "Company": "Acme",
    "Email": "ada@acme.example",
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "Title": "VP Sales",
    "Industry": "Technology",
    "NumberOfEmployees": "250",
    "HasOptedOutOfEmail": "false",
    "IsConverted": "false",
    "IsDeleted": "false",
    "Glengarry_Override__c": "sales_ready",
    "Last_Email_Open_Date__c": "2024-05-30T10:00:00.000Z",
}
# The same Lead as a REST read returns it (JSON types, REST's date-times).
READ: Mapping[str, Any] = {
    "Id": "00QR000000A1b2cMAB",
    "CreatedDate": "2024-05-01T12:00:00.000+0000",
    "LastModifiedDate": "2024-06-01T08:30:00.000+0000",
    "Company": "Acme",
    "Email": "ada@acme.example",
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "Title": "VP Sales",
    "Industry": "Technology",
    "NumberOfEmployees": 250,
    "Country": None,
    "EmailBouncedDate": None,
    "EmailBouncedReason": None,
    "HasOptedOutOfEmail": False,
    "IsConverted": False,
    "IsDeleted": False,
    "Glengarry_Override__c": "sales_ready",
    "Glengarry_Score__c": 72.0,
    "Last_Email_Open_Date__c": "2024-05-30T10:00:00.000+0000",
}


def _events(*sent: Mapping[str, str | None], sobject: str = "Lead") -> list[ChangeEvent]:
    body = "".join(
        notification(
            number,
            sobject,
            "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in fields.items() if v is not None),
        )
        for number, fields in enumerate(sent, start=1)
    )
    return parse(envelope(body))


def _but(**changes: str | None) -> dict[str, str | None]:
    return {**SENT, **changes}


def test_a_full_message_gives_what_a_read_stores_but_the_stamps_and_glengarrys_own() -> None:
    (values,) = carried(_events(SENT), CRITERIA) or [None]
    read = PropertyMap(properties=tuple(CRITERIA)).values(READ, "Lead")
    written = {*API_NAMES} - {"glengarry_override"}  # Glengarry's own: echoes
    assert values == {
        k: v for k, v in read.items() if k not in {"createdate", "lastmodifieddate", *written}
    }
    # Numbers, checkboxes, picklists and date-times as a read stores them.
    assert (values["numemployees"], values["hs_email_optout"]) == ("250", "false")
    assert values["industry"] == "INFORMATION_TECHNOLOGY_AND_SERVICES"
    assert values["Last_Email_Open_Date__c"] == "2024-05-30T10:00:00.000+0000"
    assert "glengarry_score" not in values  # Glengarry's own write: an echo, never carried


def test_a_field_left_out_of_glengarrys_set_up_is_empty() -> None:
    # Salesforce leaves a field without a value out; the set-up says the field was asked for.
    (values,) = carried(_events(_but(Title=None, Country=None)), CRITERIA) or [None]
    assert values["jobtitle"] is None
    assert values["country"] is None


def test_a_message_of_another_set_up_reads_the_lead() -> None:
    # Without the marker a left-out field may be empty or not set up: the Lead is read.
    assert carried(_events(_but(IsDeleted=None)), CRITERIA) is None
    sparse = {name: SENT[name] for name in CARRIED if name in SENT}
    assert carried(_events(sparse), CRITERIA) is None
    assert carried(_events(_but(LastModifiedDate=None)), CRITERIA) is None  # not dated


def test_deleted_converted_and_created_leads_are_read() -> None:
    assert carried(_events(_but(IsDeleted="true")), CRITERIA) is None
    assert carried(_events(_but(IsConverted="true")), CRITERIA) is None
    created = _but(LastModifiedDate=SENT["CreatedDate"])
    assert carried(_events(created), CRITERIA) is None


def test_contacts_and_other_records_are_read() -> None:
    assert carried(_events(SENT, sobject="Contact"), CRITERIA) is None  # its Account's fields
    assert carried(_events(SENT, sobject="Task"), CRITERIA) is None
    assert carried(_events(SENT, sobject="Case"), CRITERIA) is None


def test_criteria_naming_a_salesforce_field_of_their_own_read_the_lead() -> None:
    assert carried(_events(_but(Rating="Hot")), [*CRITERIA, "Rating"]) is None
    assert carried(_events(SENT), [*CRITERIA, "salesforce.Rating"]) is None
    # Another CRM's field, or a `glengarry_` name Salesforce has no field for, reads nothing.
    assert carried(_events(SENT), [*CRITERIA, "hubspot.hs_lead_status"]) is not None


def test_one_message_that_does_not_carry_reads_the_batch_of_that_lead() -> None:
    later = _but(LastModifiedDate="2024-06-02T08:30:00.000Z", Title="CEO")
    both = carried(_events(SENT, later), CRITERIA)
    assert both is not None
    assert [v["jobtitle"] for v in both] == ["VP Sales", "CEO"]
    assert carried(_events(SENT, _but(IsDeleted=None)), CRITERIA) is None


def test_the_set_up_asks_for_those_fields_and_carried_touches_become_activities() -> None:
    assert {"Title", "Company", "IsDeleted", "Glengarry_Override__c"} <= set(FIELDS["Lead"])
    assert "Glengarry_Score__c" not in FIELDS["Lead"]  # Glengarry's own: never needed
    assert FIELDS["Contact"] == CARRIED
    (values,) = carried(_events(SENT), CRITERIA) or [None]
    person = PropertyMap(properties=tuple(CRITERIA)).contact(READ, "Lead")
    from_message = CRM.property_activities(
        CrmContact(person.crm_id, {**person.properties, **values}, person.modified_at)
    )
    assert [a.type for a in from_message] == ["email_open"]
