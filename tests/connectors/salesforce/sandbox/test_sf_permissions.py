"""A custom field made through the Tooling API is invisible until a permission set grants it;
the permission objects follow Salesforce's rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxServer

FIELD = "Glengarry_Score__c"
SCORE = {
    "FullName": f"Lead.{FIELD}",
    "Metadata": {"label": "Glengarry score", "type": "Number", "precision": 3, "scale": 0},
}


def _create(http: httpx.Client, sobject: str, body: dict[str, Any]) -> str:
    answer = http.post(f"/sobjects/{sobject}", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _grant(http: httpx.Client, org: SandboxServer, *, assign: bool = True) -> str:
    permission_set = _create(http, "PermissionSet", {"Name": "Glengarry", "Label": "Glengarry"})
    _create(
        http,
        "ObjectPermissions",
        {"ParentId": permission_set, "SobjectType": "Lead", "PermissionsRead": True,
         "PermissionsEdit": True},
    )  # fmt: skip
    _create(
        http,
        "FieldPermissions",
        {"ParentId": permission_set, "SobjectType": "Lead", "Field": f"Lead.{FIELD}",
         "PermissionsRead": True, "PermissionsEdit": True},
    )  # fmt: skip
    if assign:
        _create(
            http,
            "PermissionSetAssignment",
            {"AssigneeId": org.user.id, "PermissionSetId": permission_set},
        )
    return permission_set


def _described(http: httpx.Client) -> dict[str, Any]:
    fields = http.get("/sobjects/Lead/describe").json()["fields"]
    return {f["name"]: f for f in fields}


def test_field_level_security_before_and_after_the_assignment(
    org: SandboxServer, http: httpx.Client
) -> None:
    created = http.post("/tooling/sobjects/CustomField", json=SCORE)
    assert created.status_code == 201
    assert created.json()["success"] is True
    assert created.json()["id"].startswith("00N")
    lead = org.store.records("Lead")[0].id
    update = {"records": [{"attributes": {"type": "Lead"}, "id": lead, FIELD: 80}]}

    # Before: neither read nor written, and describe leaves it out.
    refused = http.get("/query", params={"q": f"SELECT Id, {FIELD} FROM Lead"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD"
    assert f"No such column '{FIELD}'" in refused.json()[0]["message"]
    assert FIELD not in _described(http)
    unwritable = http.patch("/composite/sobjects", json=update).json()
    assert unwritable[0]["success"] is False
    assert unwritable[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert unwritable[0]["errors"][0]["fields"] == [FIELD]
    assert org.store.get("Lead", lead).get(FIELD) is None
    _grant(http, org, assign=False)  # granted, but not to the user yet: still invisible
    assert http.get("/query", params={"q": f"SELECT {FIELD} FROM Lead"}).status_code == 400

    # After the assignment: both work, and describe says it is readable and updateable.
    permission_set = org.store.records("PermissionSet")[-1].id
    _create(
        http,
        "PermissionSetAssignment",
        {"AssigneeId": org.user.id, "PermissionSetId": permission_set},
    )
    described = _described(http)[FIELD]
    assert (described["type"], described["custom"], described["updateable"]) == (
        "double",
        True,
        True,
    )
    saved = http.patch("/composite/sobjects", json=update).json()
    assert saved == [{"id": lead, "success": True, "errors": []}]
    rows = http.get("/query", params={"q": f"SELECT Id, {FIELD} FROM Lead WHERE {FIELD} > 50"})
    assert rows.json()["records"] == [
        {"attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead}"},
         "Id": lead, FIELD: 80.0}
    ]  # fmt: skip


def test_a_readable_but_not_editable_field_is_a_per_record_error(
    org: SandboxServer, http: httpx.Client
) -> None:
    http.post("/tooling/sobjects/CustomField", json=SCORE)
    permission_set = _grant(http, org)
    grant = next(
        r for r in org.store.records("FieldPermissions") if r.get("ParentId") == permission_set
    )
    assert (
        http.patch(
            f"/sobjects/FieldPermissions/{grant.id}", json={"PermissionsEdit": False}
        ).status_code
        == 204
    )
    leads = [r.id for r in org.store.records("Lead")[:2]]
    saved = http.patch(
        "/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "id": leads[0], FIELD: 10},
                {"attributes": {"type": "Lead"}, "id": leads[1], "Title": "CEO"},
            ]
        },
    ).json()
    assert saved[0]["success"] is False
    assert saved[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert saved[0]["errors"][0]["fields"] == [FIELD]
    assert saved[1]["success"] is True
    assert _described(http)[FIELD]["updateable"] is False


@pytest.mark.parametrize(
    ("sobject", "body", "code", "message"),
    [
        ("ObjectPermissions", {"SobjectType": "Lead", "PermissionsEdit": True},
         "FIELD_INTEGRITY_EXCEPTION", "Permission Edit depends on permission(s): Read"),
        ("FieldPermissions", {"SobjectType": "Lead", "Field": f"Lead.{FIELD}",
         "PermissionsRead": False, "PermissionsEdit": True},
         "FIELD_INTEGRITY_EXCEPTION", "Permission Edit depends on permission(s): Read"),
        ("FieldPermissions", {"SobjectType": "Lead", "Field": f"Lead.{FIELD}",
         "PermissionsRead": True}, "FIELD_INTEGRITY_EXCEPTION", "depends on permission(s): Read Lead"),  # noqa: E501
        ("FieldPermissions", {"SobjectType": "Lead", "Field": "Lead.LastName",
         "PermissionsRead": True}, "FIELD_INTEGRITY_EXCEPTION", "is not permissionable"),
        ("FieldPermissions", {"SobjectType": "Lead", "Field": "Lead.Nope__c",
         "PermissionsRead": True}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Lead.Nope__c"),
    ],
)  # fmt: skip
def test_permission_rules(
    http: httpx.Client, sobject: str, body: dict[str, Any], code: str, message: str
) -> None:
    http.post("/tooling/sobjects/CustomField", json=SCORE)
    parent = _create(http, "PermissionSet", {"Name": "Rules", "Label": "Rules"})
    refused = http.post(f"/sobjects/{sobject}", json={"ParentId": parent, **body})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == code
    assert message in refused.json()[0]["message"]


def test_duplicates_are_refused(org: SandboxServer, http: httpx.Client) -> None:
    assert http.post("/tooling/sobjects/CustomField", json=SCORE).status_code == 201
    again = http.post("/tooling/sobjects/CustomField", json=SCORE)
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    permission_set = _grant(http, org)
    twice = http.post(
        "/sobjects/PermissionSetAssignment",
        json={"AssigneeId": org.user.id, "PermissionSetId": permission_set},
    )
    assert twice.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    named = http.post("/sobjects/PermissionSet", json={"Name": "Glengarry", "Label": "Again"})
    assert named.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"FullName": "Lead.No_Suffix", "Metadata": {"label": "x", "type": "Text", "length": 10}},
         "FIELD_INTEGRITY_EXCEPTION"),
        ({"FullName": "Lead.Bad__c", "Metadata": {"label": "x", "type": "Text", "length": 999}},
         "FIELD_INTEGRITY_EXCEPTION"),
        ({"FullName": "Lead.Kind__c", "Metadata": {"label": "x", "type": "Hologram"}},
         "INVALID_TYPE"),
        ({"FullName": "Nowhere.X__c", "Metadata": {"label": "x", "type": "Checkbox",
          "defaultValue": "false"}}, "INVALID_TYPE"),
        ({"FullName": "Lead.Pick__c", "Metadata": {"label": "x", "type": "Picklist"}},
         "FIELD_INTEGRITY_EXCEPTION"),
    ],
)  # fmt: skip
def test_custom_field_metadata_is_checked(
    http: httpx.Client, body: dict[str, Any], code: str
) -> None:
    refused = http.post("/tooling/sobjects/CustomField", json=body)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == code


def test_tooling_query_finds_installed_fields(http: httpx.Client) -> None:
    http.post("/tooling/sobjects/CustomField", json=SCORE)
    found = http.get(
        "/tooling/query",
        params={"q": "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Lead'"},
    ).json()
    assert [r["DeveloperName"] for r in found["records"]] == ["Glengarry_Score"]
