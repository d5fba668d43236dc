"""Properties v3: definitions and groups, read and created (409 when the name is taken)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from connectors.hubspot.sandbox.errors import HubSpotError, not_found
from connectors.hubspot.sandbox.properties import (
    OBJECT_TYPES,
    PropertyGroup,
    definition_from_create,
)
from connectors.hubspot.sandbox.routes.common import json_body
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.store import StoreError

router = APIRouter()

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
_FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)


def _object_type(name: str) -> str:
    if name not in OBJECT_TYPES:
        raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    return name


def _conflict(exc: StoreError, kind: str, name: str) -> HubSpotError:
    if exc.status == 409:
        return HubSpotError(
            409,
            exc.message,
            "OBJECT_ALREADY_EXISTS",
            sub_category=f"{kind}.OBJECT_ALREADY_EXISTS",
            context={"name": [name]},
        )
    return HubSpotError(exc.status, exc.message, exc.category)


@router.get("/crm/v3/properties/{objectType}")
def list_properties(objectType: str, runtime: RuntimeDep) -> dict[str, Any]:
    object_type = _object_type(objectType)
    with runtime.store.locked():
        definitions = list(runtime.store.definitions[object_type].values())
        return {"results": [definition.to_json() for definition in definitions]}


@router.post("/crm/v3/properties/{objectType}", status_code=201)
async def create_property(
    objectType: str,
    request: Request,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    object_type = _object_type(objectType)
    body = await json_body(request)
    missing = [
        key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)
    ]
    if missing:
        raise HubSpotError(400, f"Invalid input: missing {', '.join(missing)}")
    name = str(body["name"])
    if not _NAME.match(name):
        raise HubSpotError(400, f"Invalid property name {name!r}: use lower case, digits and _")
    if body["type"] not in _TYPES or body["fieldType"] not in _FIELD_TYPES:
        raise HubSpotError(400, f"Invalid type/fieldType: {body['type']!r}/{body['fieldType']!r}")
    if body["type"] == "enumeration" and not body.get("options"):
        raise HubSpotError(400, "Enumeration properties need at least one option")
    store = runtime.store
    definition = definition_from_create(body, store.clock())
    try:
        store.add_property(object_type, definition)
    except StoreError as exc:
        raise _conflict(exc, "Properties", name) from None
    return definition.to_json()


@router.get("/crm/v3/properties/{objectType}/groups")
def list_groups(objectType: str, runtime: RuntimeDep) -> dict[str, Any]:
    object_type = _object_type(objectType)
    with runtime.store.locked():
        return {"results": [g.to_json() for g in runtime.store.groups[object_type].values()]}


@router.post("/crm/v3/properties/{objectType}/groups", status_code=201)
async def create_group(
    objectType: str,
    request: Request,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    object_type = _object_type(objectType)
    body = await json_body(request)
    if not body.get("name") or not body.get("label"):
        raise HubSpotError(400, "Invalid input: name and label are required")
    name = str(body["name"])
    if not _NAME.match(name):
        raise HubSpotError(400, f"Invalid group name {name!r}: use lower case, digits and _")
    group = PropertyGroup(name, str(body["label"]), int(body.get("displayOrder", -1) or -1))
    try:
        runtime.store.add_group(object_type, group)
    except StoreError as exc:
        raise _conflict(exc, "PropertyGroups", name) from None
    return group.to_json()


@router.get("/crm/v3/properties/{objectType}/groups/{groupName}")
def get_group(objectType: str, groupName: str, runtime: RuntimeDep) -> dict[str, Any]:
    object_type = _object_type(objectType)
    with runtime.store.locked():
        group = runtime.store.groups[object_type].get(groupName)
        if group is None:
            raise not_found(f"Property group {groupName}")
        return group.to_json()


@router.get("/crm/v3/properties/{objectType}/{propertyName}")
def get_property(objectType: str, propertyName: str, runtime: RuntimeDep) -> dict[str, Any]:
    object_type = _object_type(objectType)
    definition = runtime.store.definition(object_type, propertyName)
    if definition is None:
        raise not_found(f"Property {propertyName}")
    return definition.to_json()
