"""Installing Glengarry in the sandbox org: the nine fields on Lead and Contact through the
Tooling API, both permission sets through the data API, the describe check, idempotence, and
a field of another type reported, never changed."""

from __future__ import annotations

import pytest

from connectors.base import FieldState
from connectors.salesforce import API_NAMES
from connectors.salesforce.fields import REPS
from connectors.salesforce.sandbox import SandboxServer
from qualification.fields import CONVERSION_PROBABILITY, FIELD_NAMES
from qualification.statuses import OVERRIDE_PROPERTY, Status

from .conftest import connector

STATUSES = [s.value for s in Status]
CREATE_FIELD = "POST /services/data/v62.0/tooling/sobjects/CustomField"


def _posts(org: SandboxServer) -> int:
    calls = org.stats()["calls"]
    return sum(
        int(count)
        for route, statuses in calls.items()
        if route.startswith("POST ") and "oauth2" not in route
        for status, count in statuses.items()
        if status.startswith("2")
    )


def test_every_logical_field_name_has_its_salesforce_name() -> None:
    assert set(API_NAMES) == {*FIELD_NAMES, CONVERSION_PROBABILITY, OVERRIDE_PROPERTY}
    assert API_NAMES[CONVERSION_PROBABILITY] == "Glengarry_Conversion_Probability__c"
    assert API_NAMES["glengarry_status"] == "Glengarry_Status__c"
    assert API_NAMES["glengarry_status_since"] == "Glengarry_Status_Since__c"
    assert API_NAMES[OVERRIDE_PROPERTY] == "Glengarry_Override__c"


async def test_install_makes_the_fields_and_permission_sets_and_checks_them(
    org: SandboxServer,
) -> None:
    sf = connector(org)
    try:
        before = await sf.verify_fields()
        assert {f.state for f in before} == {FieldState.CONFLICT}  # nothing there yet
        assert all("not visible" in f.detail for f in before)

        report = await sf.install(STATUSES)
        assert report.ok
        assert len(report.fields) == 18
        assert {f.state for f in report.fields} == {FieldState.CREATED}
        assert {f.name for f in report.fields} == {
            f"{o}.{n}" for o in ("Lead", "Contact") for n in API_NAMES.values()
        }
        assert org.stats()["calls"][CREATE_FIELD]["201"] == 18
        sets = {s.name: s for s in report.permission_sets}
        assert set(sets) == {"Glengarry_Integration", "Glengarry_Reps"}
        assert "assigned to the integration user" in sets["Glengarry_Integration"].detail
        assert any(REPS.name in step for step in report.todo)
        assert any("Map Lead Fields" in step for step in report.todo)
        assert any("SurveyResponse" in step and "Outbound Message" in step for step in report.todo)

        # What describe now says to the integration user: every field, writable.
        for sobject in ("Lead", "Contact"):
            described = await sf.schema.fields(sf.rest, sobject)
            for name in API_NAMES.values():
                assert described[name.lower()].updateable, f"{sobject}.{name}"
            status = described["glengarry_status__c"]
            assert [v.value for v in status.picklistValues] == STATUSES

        # The reps' set reads seven and edits the override only.
        fields = org.store.records("FieldPermissions")
        reps_set = next(r.id for r in org.store.records("PermissionSet")
                        if r.get("Name") == "Glengarry_Reps")  # fmt: skip
        reps = {r.get("Field"): r for r in fields if r.get("ParentId") == reps_set}
        assert len(reps) == 18
        editable = {f for f, r in reps.items() if r.get("PermissionsEdit")}
        assert editable == {"Lead.Glengarry_Override__c", "Contact.Glengarry_Override__c"}
        assert all(r.get("PermissionsRead") for r in reps.values())

        # Again: nothing new is made, everything is kept.
        made = _posts(org)
        again = await sf.install(STATUSES)
        assert {f.state for f in again.fields} == {FieldState.KEPT}
        assert {s.state for s in again.permission_sets} == {FieldState.KEPT}
        assert _posts(org) == made
        assert {f.state for f in await sf.verify_fields()} == {FieldState.KEPT}
    finally:
        await sf.aclose()


async def test_a_field_of_another_type_is_a_conflict_and_left_alone(org: SandboxServer) -> None:
    sf = connector(org)
    try:
        await sf.rest.tooling_create(
            "CustomField",
            {"FullName": "Lead.Glengarry_Score__c",
             "Metadata": {"label": "Score (ours)", "type": "Text", "length": 20}},
        )  # fmt: skip
        report = await sf.install(STATUSES)
    finally:
        await sf.aclose()
    states = {f.name: f for f in report.fields}
    conflict = states["Lead.Glengarry_Score__c"]
    assert conflict.state is FieldState.CONFLICT
    assert "exists as Text, Glengarry needs Number" in conflict.detail
    assert not report.ok
    assert states["Contact.Glengarry_Score__c"].state is FieldState.CREATED
    assert sum(f.state is FieldState.CONFLICT for f in report.fields) == 1
    custom = org.store.objects["Lead"].fields["Glengarry_Score__c"]
    assert custom.label == "Score (ours)"  # unchanged
    granted = {r.get("Field") for r in org.store.records("FieldPermissions")}
    assert "Lead.Glengarry_Score__c" not in granted  # no permission on someone else's field
    assert any("Lead.Glengarry_Score__c" in step for step in report.todo)


@pytest.mark.parametrize("jwt_flow", [True, False])
async def test_install_fields_is_the_protocol_s_view_of_it(
    org: SandboxServer, jwt_flow: bool
) -> None:
    sf = connector(org, jwt=jwt_flow)
    try:
        statuses = await sf.install_fields(STATUSES)
    finally:
        await sf.aclose()
    assert len(statuses) == 18
    assert all(s.state is FieldState.CREATED for s in statuses)
