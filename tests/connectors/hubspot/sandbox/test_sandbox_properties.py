"""Properties v3: defaults, creation, 409 on a taken name, groups, enumeration validation."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.hubspot.sandbox import SandboxServer

PROPERTY: dict[str, Any] = {
    "name": "glengarry_tier",
    "label": "Glengarry tier",
    "type": "enumeration",
    "fieldType": "select",
    "groupName": "glengarry",
    "options": [
        {"label": "Hot", "value": "hot", "hidden": False},
        {"label": "Cold", "value": "cold", "hidden": False},
    ],
}


def test_default_contact_properties_are_there(api: httpx.Client) -> None:
    names = {p["name"] for p in api.get("/crm/v3/properties/contacts").json()["results"]}
    assert {
        "email",
        "lifecyclestage",
        "hs_lead_status",
        "hs_analytics_last_visit_timestamp",
        "recent_conversion_event_name",
        "hs_email_optout",
        "numemployees",
    } <= names
    stage = api.get("/crm/v3/properties/contacts/lifecyclestage").json()
    assert stage["type"] == "enumeration"
    assert "customer" in {option["value"] for option in stage["options"]}
    assert api.get("/crm/v3/properties/contacts/nosuch").status_code == 404
    assert api.get("/crm/v3/properties/widgets").status_code == 400


def test_create_group_and_property_then_409(api: httpx.Client, sandbox: SandboxServer) -> None:
    assert api.post("/crm/v3/properties/contacts", json=PROPERTY).status_code == 400  # no group
    group = api.post(
        "/crm/v3/properties/contacts/groups", json={"name": "glengarry", "label": "Glengarry"}
    )
    assert group.status_code == 201
    assert (
        api.post(
            "/crm/v3/properties/contacts/groups", json={"name": "glengarry", "label": "Again"}
        ).status_code
        == 409
    )
    groups = api.get("/crm/v3/properties/contacts/groups").json()["results"]
    assert "glengarry" in {g["name"] for g in groups}
    assert api.get("/crm/v3/properties/contacts/groups/glengarry").json()["label"] == "Glengarry"

    created = api.post("/crm/v3/properties/contacts", json=PROPERTY)
    assert created.status_code == 201
    assert created.json()["hubspotDefined"] is False
    conflict = api.post("/crm/v3/properties/contacts", json={**PROPERTY, "type": "string"})
    assert conflict.status_code == 409
    assert conflict.json()["category"] == "OBJECT_ALREADY_EXISTS"
    assert sandbox.store.definition("contacts", "glengarry_tier") is not None

    ok = api.patch("/crm/v3/objects/contacts/1", json={"properties": {"glengarry_tier": "hot"}})
    assert ok.status_code == 200
    bad = api.patch("/crm/v3/objects/contacts/1", json={"properties": {"glengarry_tier": "warm"}})
    assert bad.status_code == 400
    assert "INVALID_OPTION" in bad.json()["message"]


def test_property_creation_is_validated(api: httpx.Client) -> None:
    missing = api.post("/crm/v3/properties/contacts", json={"name": "x"})
    assert missing.status_code == 400
    bad_name = api.post(
        "/crm/v3/properties/contacts",
        json={**PROPERTY, "name": "Bad Name", "groupName": "contactinformation"},
    )
    assert bad_name.status_code == 400
    no_options = api.post(
        "/crm/v3/properties/contacts",
        json={**PROPERTY, "groupName": "contactinformation", "options": []},
    )
    assert no_options.status_code == 400
