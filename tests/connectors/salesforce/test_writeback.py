"""Write-back through `PATCH composite/sobjects` after the install: 200 records a call, each
SaveResult turned into written or a failure that says whether retrying can help."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import FieldWrite, WriteFailure
from connectors.errors import CrmRequestError
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.sandbox import SandboxServer
from qualification.statuses import Status

from .conftest import connector, control, population, start_org

PATCH = "PATCH /services/data/v62.0/composite/sobjects"
STATUSES = [s.value for s in Status]


def values(score: int) -> dict[str, str]:
    return {
        "glengarry_status": "sales_ready",
        "glengarry_score": str(score),
        "glengarry_fit": "70",
        "glengarry_engagement": "55",
        "glengarry_reasons": "+25 VP-level title; +18 pricing page visit 2026-05-30",
        "glengarry_status_since": "2026-05-30T12:00:00.000Z",
        "glengarry_criteria_version": "c0ffee12",
    }


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", population(240))
    yield server
    server.stop()


def _dump(org: SandboxServer) -> dict[str, dict[str, Any]]:
    with control(org) as sandbox:
        return {r["id"]: r["fields"] for r in sandbox.get("/dump").json()["records"]}


async def _ready(org: SandboxServer) -> SalesforceConnector:
    sf = connector(org)
    report = await sf.install(STATUSES)
    assert report.ok
    return sf


def _writes(org: SandboxServer) -> list[FieldWrite]:
    leads = [FieldWrite(r.id, values(60 + i % 30), "lead") for i, r in
             enumerate(org.store.records("Lead"))]  # fmt: skip
    contacts = [FieldWrite(r.id, values(40), "contact") for r in org.store.records("Contact")]
    return leads + contacts


async def test_values_land_on_leads_and_contacts_in_calls_of_two_hundred(
    installed: SandboxServer,
) -> None:
    sf = await _ready(installed)
    writes = _writes(installed)
    try:
        outcome = await sf.write_fields(writes)
    finally:
        await sf.aclose()
    assert sorted(outcome.written) == sorted(w.contact_crm_id for w in writes)
    assert outcome.failed == {}
    assert installed.stats()["calls"][PATCH]["200"] == 2  # 243 records: 200 + 43
    dumped = _dump(installed)
    lead = writes[0]
    assert dumped[lead.contact_crm_id]["Glengarry_Status__c"] == "sales_ready"
    assert dumped[lead.contact_crm_id]["Glengarry_Score__c"] == 60
    assert dumped[lead.contact_crm_id]["Glengarry_Criteria_Version__c"] == "c0ffee12"
    assert dumped[lead.contact_crm_id]["Glengarry_Status_Since__c"].startswith("2026-05-30T12:00")
    contact = writes[-1]
    assert dumped[contact.contact_crm_id]["Glengarry_Score__c"] == 40


async def test_each_refused_record_says_whether_retrying_can_help(
    installed: SandboxServer,
) -> None:
    sf = await _ready(installed)
    store = installed.store
    converted, deleted, fine = store.records("Lead")[:3]
    contact = store.records("Contact")[0]
    store.convert_lead(converted)
    store.delete(deleted)
    writes = [
        FieldWrite(converted.id, values(50), "lead"),
        FieldWrite(deleted.id, values(50), "lead"),
        FieldWrite(fine.id, values(50), "lead"),
        FieldWrite(contact.id, values(50), "lead"),  # the kind names the wrong object
        FieldWrite(fine.id, {"glengarry_score": "lots"}, "lead"),
    ]
    try:
        outcome = await sf.write_fields(writes[:4])
        bad_value = await sf.write_fields(writes[4:])
    finally:
        await sf.aclose()
    assert outcome.written == [fine.id]
    failed = outcome.failed
    assert failed[converted.id].code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert failed[converted.id].permanent
    assert failed[deleted.id].code == "ENTITY_IS_DELETED"
    assert failed[deleted.id].permanent
    assert failed[contact.id].code == "MALFORMED_ID"
    assert failed[contact.id].permanent
    assert "cannot reference converted lead" in failed[converted.id].message
    assert bad_value.failed[fine.id] == WriteFailure(
        "glengarry_score='lots' is not a number", "BAD_VALUE", permanent=True
    )


@pytest.mark.parametrize(
    ("fault", "code", "permanent"),
    [
        ({"lock_row_rate": 1.0}, "UNABLE_TO_LOCK_ROW", False),
        ({"validation_rate": 1.0}, "FIELD_CUSTOM_VALIDATION_EXCEPTION", True),
    ],
)
async def test_locked_rows_are_transient_and_validation_rules_permanent(
    installed: SandboxServer, fault: dict[str, float], code: str, permanent: bool
) -> None:
    sf = await _ready(installed)
    writes = _writes(installed)[:5]
    with control(installed) as sandbox:
        assert sandbox.post("/faults", json=fault).status_code == 200
    try:
        outcome = await sf.write_fields(writes)
    finally:
        await sf.aclose()
    assert outcome.written == []
    assert {f.code for f in outcome.failed.values()} == {code}
    assert {f.permanent for f in outcome.failed.values()} == {permanent}


async def test_a_write_before_the_fields_are_there_fails_whole(installed: SandboxServer) -> None:
    """Fields the user cannot see refuse the whole call: an install problem, not the records'
    (the outbox keeps them for when the fields are granted)."""
    sf = connector(installed)
    try:
        with pytest.raises(CrmRequestError, match="INVALID_FIELD"):
            await sf.write_fields(_writes(installed)[:3])
    finally:
        await sf.aclose()


async def test_a_field_the_user_may_no_longer_edit_is_a_permanent_refusal(
    installed: SandboxServer,
) -> None:
    """The fields exist but the integration user lost its permission set: each record is
    refused with INVALID_FIELD_FOR_INSERT_UPDATE, which retrying cannot change."""
    sf = await _ready(installed)
    store = installed.store
    for assignment in store.records("PermissionSetAssignment"):
        store.delete(assignment)
    try:
        outcome = await sf.write_fields(_writes(installed)[:3])
    finally:
        await sf.aclose()
    assert outcome.written == []
    assert {f.code for f in outcome.failed.values()} == {"INVALID_FIELD_FOR_INSERT_UPDATE"}
    assert all(f.permanent for f in outcome.failed.values())


async def test_the_override_written_by_a_rep_is_read_back_under_its_logical_name(
    installed: SandboxServer,
) -> None:
    sf = await _ready(installed)
    lead = installed.store.records("Lead")[0]
    try:
        installed.store.update(lead, {"Glengarry_Override__c": "nurture"})
        people = {c.crm_id: c for c in await sf.read_contacts([lead.id])}
    finally:
        await sf.aclose()
    assert people[lead.id].properties["glengarry_override"] == "nurture"


def test_the_conversion_probability_has_its_salesforce_twin_as_a_percent() -> None:
    from connectors.salesforce.writes import record

    body = record(
        FieldWrite("00Q000000000001AAA", {"glengarry_conversion_probability": "37.5"}, "lead")
    )
    assert isinstance(body, dict)
    assert body["Glengarry_Conversion_Probability__c"] == 37.5
    cleared = record(
        FieldWrite("00Q000000000001AAA", {"glengarry_conversion_probability": ""}, "lead")
    )
    assert isinstance(cleared, dict)
    assert cleared["Glengarry_Conversion_Probability__c"] is None
