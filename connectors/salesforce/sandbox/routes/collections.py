"""sObject Collections: `PATCH composite/sobjects` (up to 200 records, a SaveResult each, in
order) and retrieving up to 2,000 records of one object by id (`POST composite/sobjects/{type}`
with `{"ids", "fields"}`; the GET form with query parameters) ("sObject Collections", "Update
Records Using sObject Collections", "Retrieve Records Using sObject Collections", REST API
Developer Guide). A retrieved id that names no live record answers null in its place."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.salesforce.sandbox.catalog import DATA, attributes
from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.routes.common import json_object, sobject_of
from connectors.salesforce.sandbox.runtime import Runtime, RuntimeDep
from connectors.salesforce.sandbox.values import is_id, to_json

router = APIRouter(prefix=f"{DATA}/composite/sobjects")

MAX_RETRIEVE = 2_000
MAX_RETRIEVE_GET = 800


@router.patch("")
async def update_records(request: Request, runtime: RuntimeDep) -> list[dict[str, Any]]:
    results = runtime.writer.update_collection(await json_object(request))
    return [result.to_json() for result in results]


def _retrieve(
    runtime: Runtime, sobject: str, ids: object, fields: object, maximum: int
) -> list[dict[str, Any] | None]:
    obj = sobject_of(runtime, sobject)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise SalesforceError(400, "MISSING_ARGUMENT", "ids: a list of record ids is required")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or not fields:
        raise SalesforceError(400, "MISSING_ARGUMENT", "fields: a list of field names is required")
    if len(ids) > maximum:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {maximum} records into this call",
        )
    definitions = []
    for name in fields:
        definition = obj.field(name)
        if definition is None or not runtime.access.readable(obj.name, definition):
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'."
            )
        definitions.append(definition)
    for record_id in ids:
        if not is_id(record_id):
            raise SalesforceError(
                400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}"
            )
    answer: list[dict[str, Any] | None] = []
    with runtime.store.locked():
        for record_id in ids:
            record = runtime.store.get(obj.name, record_id)
            if record is None:
                answer.append(None)
                continue
            body: dict[str, Any] = {"attributes": attributes(record)}
            body |= {d.name: to_json(record.get(d.name)) for d in definitions}
            answer.append(body)
    return answer


@router.post("/{sobject}")
async def retrieve(
    sobject: str, request: Request, runtime: RuntimeDep
) -> list[dict[str, Any] | None]:
    body = await json_object(request)
    return _retrieve(runtime, sobject, body.get("ids"), body.get("fields"), MAX_RETRIEVE)


@router.get("/{sobject}")
def retrieve_by_query(
    sobject: str, request: Request, runtime: RuntimeDep
) -> list[dict[str, Any] | None]:
    params = request.query_params

    def split(name: str) -> list[str]:
        return [part.strip() for part in params.get(name, "").split(",") if part.strip()]

    return _retrieve(runtime, sobject, split("ids"), split("fields"), MAX_RETRIEVE_GET)
