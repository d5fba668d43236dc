"""CRM objects v3: contacts (read, write, batch, merge, privacy deletion), the engagement
objects (emails, calls, meetings, notes, tasks) and tickets, deals and feedback submissions
(read only here; each read checks its scope).

Batch update and upsert: when every input carries `objectWriteTraceId`, bad inputs get
per-record errors in a 207 while good ones apply; otherwise one bad input fails the whole
batch with a 400 and nothing is written (HubSpot's documented partial-success rule).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.hubspot.sandbox.errors import HubSpotError, not_found, standard_error
from connectors.hubspot.sandbox.properties import OBJECT_TYPES, InvalidValue
from connectors.hubspot.sandbox.routes.common import (
    inputs_of,
    json_body,
    query_bool,
    query_int,
    query_list,
)
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.serialize import batch_json, names_from, object_json
from connectors.hubspot.sandbox.store import CrmObject, InvalidProperties, Store, StoreError

router = APIRouter()

MAX_PAGE = 100
MAX_BATCH = 100
_ASSOCIATION_NAMES = {
    "emails": "contact_to_email",
    "calls": "contact_to_call",
    "meetings": "contact_to_meeting",
    "notes": "contact_to_note",
    "tasks": "contact_to_task",
    "tickets": "contact_to_ticket",
    "deals": "contact_to_deal",
    "feedback_submissions": "contact_to_feedback_submission",
}
_TO_CONTACT_NAMES = {
    "tickets": "ticket_to_contact",
    "deals": "deal_to_contact",
    "feedback_submissions": "feedback_submission_to_contact",
}


def _object_type(name: str) -> str:
    if name not in OBJECT_TYPES:
        raise HubSpotError(404, f"Unknown object type {name!r}", "OBJECT_NOT_FOUND")
    return name


def _encode_after(object_id: str) -> str:
    return base64.urlsafe_b64encode(f"id:{object_id}".encode()).decode().rstrip("=")


def _decode_after(after: str) -> int:
    try:
        text = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id":
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HubSpotError(400, f"Invalid 'after' paging token {after!r}") from None


def _invalid_message(errors: list[InvalidValue]) -> str:
    return "Property values were not valid: " + json.dumps([e.to_json() for e in errors])


def _properties_error(errors: list[InvalidValue]) -> HubSpotError:
    return HubSpotError(
        400,
        _invalid_message(errors),
        "VALIDATION_ERROR",
        errors=[
            {"message": e.message, "code": e.error, "context": {"propertyName": [e.name]}}
            for e in errors
        ],
    )


def _store_error(exc: StoreError) -> HubSpotError:
    if isinstance(exc, InvalidProperties):
        return _properties_error(exc.errors)
    return HubSpotError(exc.status, exc.message, exc.category)


def _with_associations(
    store: Store, obj: CrmObject, body: dict[str, Any], types: list[str] | None
) -> dict[str, Any]:
    if not types:
        return body
    associations: dict[str, Any] = {}
    for to_type in types:
        if to_type not in OBJECT_TYPES or to_type == obj.object_type:
            continue
        ids = store.associated(obj.object_type, obj.id, to_type)
        if ids:
            if obj.object_type == "contacts":
                label = _ASSOCIATION_NAMES[to_type]
            else:
                label = _TO_CONTACT_NAMES.get(obj.object_type, "email_to_contact")
            associations[to_type] = {"results": [{"id": i, "type": label} for i in ids]}
    if associations:
        body["associations"] = associations
    return body


# --- reads: every object type ---------------------------------------------------------------


@router.get("/crm/v3/objects/{objectType}")
def list_objects(objectType: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    object_type = _object_type(objectType)
    runtime.require_read(object_type)
    limit = query_int(request, "limit", 10, MAX_PAGE)
    after = request.query_params.get("after")
    start = _decode_after(after) if after else None
    names = names_from(query_list(request, "properties"))
    associations = names_from(query_list(request, "associations"))
    archived = query_bool(request, "archived")
    store = runtime.store
    with store.locked():
        objects = [
            obj
            for obj in store.all(object_type, archived=archived)
            if start is None or int(obj.id) > start
        ]
        page = objects[:limit]
        results = [
            _with_associations(store, obj, object_json(obj, names), associations) for obj in page
        ]
    body: dict[str, Any] = {"results": results}
    if len(objects) > limit:
        token = _encode_after(page[-1].id)
        body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
    return body


@router.get("/crm/v3/objects/{objectType}/{objectId}")
def get_object(
    objectType: str,
    objectId: str,
    request: Request,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    object_type = _object_type(objectType)
    runtime.require_read(object_type)
    store = runtime.store
    id_property = request.query_params.get("idProperty")
    archived = query_bool(request, "archived")
    with store.locked():
        if id_property and id_property != "hs_object_id":
            obj = store.find_by(object_type, id_property, objectId)
        else:
            obj = store.get(object_type, objectId, archived=archived)
        if obj is None:
            raise not_found(f"{object_type[:-1].capitalize()} {objectId}")
        body = object_json(obj, names_from(query_list(request, "properties")))
        return _with_associations(store, obj, body, names_from(query_list(request, "associations")))


@router.post("/crm/v3/objects/{objectType}/batch/read")
async def batch_read(objectType: str, request: Request, runtime: RuntimeDep) -> Response:
    object_type = _object_type(objectType)
    runtime.require_read(object_type)
    body = await json_body(request)
    inputs = inputs_of(body, MAX_BATCH)
    names = names_from(body.get("properties") or None)
    id_property = body.get("idProperty")
    archived = query_bool(request, "archived")
    store = runtime.store
    started = store.clock()
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    with store.locked():
        for item in inputs:
            wanted = str(item.get("id", ""))
            if id_property and id_property != "hs_object_id":
                obj = store.find_by(object_type, str(id_property), wanted)
            else:
                obj = store.get(object_type, wanted, archived=archived)
            if obj is None:
                missing.append(wanted)
            elif all(result["id"] != obj.id for result in results):
                results.append(object_json(obj, names))
    errors = []
    if missing:
        errors.append(
            standard_error(
                f"Could not get some {object_type} objects, they may be deleted or not exist. "
                f"Check that ids are valid numbers: {', '.join(missing)}",
                "OBJECT_NOT_FOUND",
                context={"ids": missing},
            )
        )
    return JSONResponse(
        batch_json(results, started, store.clock(), errors), status_code=207 if errors else 200
    )


# --- contact writes --------------------------------------------------------------------------


@router.post("/crm/v3/objects/contacts", status_code=201)
async def create_contact(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_body(request)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise HubSpotError(400, "Invalid input: 'properties' must be an object")
    store = runtime.store
    with store.locked():
        values, errors = store.check("contacts", properties)
        if errors:
            raise _properties_error(errors)
        try:
            obj = store.create("contacts", values)
        except StoreError as exc:
            raise _store_error(exc) from None
        return object_json(obj, list(values) or None)


@router.patch("/crm/v3/objects/contacts/{contactId}")
async def update_contact(
    contactId: str,
    request: Request,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    body = await json_body(request)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise HubSpotError(400, "Invalid input: 'properties' must be an object")
    store = runtime.store
    id_property = request.query_params.get("idProperty")
    with store.locked():
        target = (
            store.find_by("contacts", id_property, contactId)
            if id_property and id_property != "hs_object_id"
            else store.get("contacts", contactId)
        )
        if target is None:
            raise not_found(f"Contact {contactId}")
        values, errors = store.check("contacts", properties)
        if errors:
            raise _properties_error(errors)
        try:
            obj = store.update("contacts", target.id, values)
        except StoreError as exc:
            raise _store_error(exc) from None
        return object_json(obj, list(values) or None)


@router.delete("/crm/v3/objects/contacts/{contactId}", status_code=204)
def archive_contact(contactId: str, runtime: RuntimeDep) -> Response:
    runtime.store.archive("contacts", contactId)
    return Response(status_code=204)


@router.post("/crm/v3/objects/contacts/batch/archive", status_code=204)
async def batch_archive(request: Request, runtime: RuntimeDep) -> Response:
    inputs = inputs_of(await json_body(request), MAX_BATCH)
    with runtime.store.locked():
        for item in inputs:
            runtime.store.archive("contacts", str(item.get("id", "")))
    return Response(status_code=204)


class _Planned:
    """One batch input, checked: where it goes and what it writes, or why it cannot."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.item = item
        self.trace_id = str(item["objectWriteTraceId"]) if item.get("objectWriteTraceId") else None
        self.id = str(item.get("id", ""))
        self.target: CrmObject | None = None
        self.values: dict[str, str] = {}
        self.create_with: dict[str, str] | None = None  # upsert of a new record
        self.error: dict[str, Any] | None = None

    def fail(
        self, message: str, category: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        context = {"ids": [self.id]}
        if self.trace_id:
            context["objectWriteTraceId"] = [self.trace_id]
        self.error = standard_error(message, category, context=context, errors=details or [])


def _plan(store: Store, item: Mapping[str, Any], *, upsert: bool) -> _Planned:
    planned = _Planned(item)
    properties = item.get("properties")
    if not isinstance(properties, dict):
        planned.fail("Invalid input: 'properties' must be an object", "VALIDATION_ERROR")
        return planned
    values, errors = store.check("contacts", properties)
    if errors:
        planned.fail(
            _invalid_message(errors),
            "VALIDATION_ERROR",
            [
                {"message": e.message, "code": e.error, "context": {"propertyName": [e.name]}}
                for e in errors
            ],
        )
        return planned
    planned.values = values
    id_property = str(item.get("idProperty") or "hs_object_id")
    if id_property != "hs_object_id":
        definition = store.definition("contacts", id_property)
        if definition is None or not definition.has_unique_value:
            planned.fail(f"{id_property} is not a unique property of contacts", "VALIDATION_ERROR")
            return planned
        planned.target = store.find_by("contacts", id_property, planned.id)
        if planned.target is None and upsert:
            planned.create_with = {**values, id_property: planned.id}
            return planned
    else:
        planned.target = store.get("contacts", planned.id)
    if planned.target is None:
        planned.fail(
            f"Object not found. objectId are usually numeric. ({planned.id})", "OBJECT_NOT_FOUND"
        )
    return planned


async def _batch_write(request: Request, runtime: RuntimeDep, *, upsert: bool) -> Response:
    inputs = inputs_of(await json_body(request), MAX_BATCH)
    store = runtime.store
    started = store.clock()
    traced = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
    with store.locked():
        plans = [_plan(store, item, upsert=upsert) for item in inputs]
        seen: set[str] = set()
        for plan in plans:
            key = plan.target.id if plan.target is not None else f"new:{plan.id}"
            if plan.error is None and key in seen:
                plan.fail(f"Duplicate IDs found in batch input: {plan.id}", "VALIDATION_ERROR")
            seen.add(key)
        failed = [plan for plan in plans if plan.error is not None]
        if failed and not traced:
            first = failed[0].error or {}
            raise HubSpotError(
                400,
                str(first.get("message", "Invalid input")),
                str(first.get("category", "VALIDATION_ERROR")),
                context={"ids": [plan.id for plan in failed]},
                errors=[e for plan in failed for e in (plan.error or {}).get("errors", [])],
            )
        results: list[dict[str, Any]] = []
        for plan in plans:
            if plan.error is not None:
                continue
            try:
                if plan.create_with is not None:
                    obj, new = store.create("contacts", plan.create_with), True
                else:
                    assert plan.target is not None
                    obj, new = store.update("contacts", plan.target.id, plan.values), False
            except StoreError as exc:
                if not traced:
                    raise _store_error(exc) from None
                plan.fail(exc.message, exc.category)
                continue
            result = object_json(obj, list(plan.values) or None, trace_id=plan.trace_id)
            if upsert:
                result["new"] = new
            results.append(result)
    errors = [plan.error for plan in plans if plan.error is not None]
    return JSONResponse(
        batch_json(results, started, store.clock(), errors), status_code=207 if errors else 200
    )


@router.post("/crm/v3/objects/contacts/batch/update")
async def batch_update(request: Request, runtime: RuntimeDep) -> Response:
    return await _batch_write(request, runtime, upsert=False)


@router.post("/crm/v3/objects/contacts/batch/upsert")
async def batch_upsert(request: Request, runtime: RuntimeDep) -> Response:
    return await _batch_write(request, runtime, upsert=True)


@router.post("/crm/v3/objects/contacts/merge")
async def merge_contacts(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_body(request)
    primary, other = body.get("primaryObjectId"), body.get("objectIdToMerge")
    if not primary or not other:
        raise HubSpotError(400, "Invalid input: primaryObjectId and objectIdToMerge are required")
    try:
        obj = runtime.store.merge(str(primary), str(other))
    except StoreError as exc:
        raise _store_error(exc) from None
    return object_json(obj)


@router.post("/crm/v3/objects/contacts/gdpr-delete", status_code=204)
async def gdpr_delete(request: Request, runtime: RuntimeDep) -> Response:
    body = await json_body(request)
    object_id = str(body.get("objectId") or "")
    if not object_id:
        raise HubSpotError(400, "Invalid input: objectId is required")
    store = runtime.store
    with store.locked():
        id_property = body.get("idProperty")
        target = (
            store.find_by("contacts", str(id_property), object_id)
            if id_property and id_property != "hs_object_id"
            else store.resolve("contacts", object_id)
        )
        if target is None or not store.privacy_delete(target.id):
            raise not_found(f"Contact {object_id}")
    return Response(status_code=204)
