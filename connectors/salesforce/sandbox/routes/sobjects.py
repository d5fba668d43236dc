"""sObject resources: describe global and per object, rows (create, read, update, delete) and
replication (`deleted`, `updated`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.salesforce.sandbox.catalog import DATA, attributes
from connectors.salesforce.sandbox.describe import describe_json, global_json
from connectors.salesforce.sandbox.errors import SalesforceError, not_found
from connectors.salesforce.sandbox.replication import deleted, updated
from connectors.salesforce.sandbox.routes.common import json_object, sobject_of
from connectors.salesforce.sandbox.runtime import RuntimeDep
from connectors.salesforce.sandbox.values import to_json

router = APIRouter(prefix=f"{DATA}/sobjects")


@router.get("")
def describe_global(runtime: RuntimeDep) -> dict[str, Any]:
    return global_json(list(runtime.store.objects.values()))


@router.get("/{sobject}/describe")
def describe(sobject: str, runtime: RuntimeDep) -> dict[str, Any]:
    return describe_json(sobject_of(runtime, sobject), runtime.access)


@router.get("/{sobject}/deleted")
def get_deleted(sobject: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    obj = sobject_of(runtime, sobject)
    params = request.query_params
    return deleted(runtime.store, obj.name, params.get("start"), params.get("end"))


@router.get("/{sobject}/updated")
def get_updated(sobject: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    obj = sobject_of(runtime, sobject)
    params = request.query_params
    return updated(runtime.store, obj.name, params.get("start"), params.get("end"))


@router.get("/{sobject}")
def basic_information(sobject: str, runtime: RuntimeDep) -> dict[str, Any]:
    obj = sobject_of(runtime, sobject)
    recent = sorted(
        runtime.store.records(obj.name), key=lambda r: r.values["LastModifiedDate"], reverse=True
    )[:5]
    summary = global_json([obj])["sobjects"][0]
    return {
        "objectDescribe": summary,
        "recentItems": [{"attributes": attributes(r), "Id": r.id} for r in recent],
    }


@router.post("/{sobject}", status_code=201)
async def create(sobject: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    obj = sobject_of(runtime, sobject)
    record = runtime.writer.create(obj, await json_object(request))
    return {"id": record.id, "success": True, "errors": []}


@router.get("/{sobject}/{record_id}")
def read(sobject: str, record_id: str, request: Request, runtime: RuntimeDep) -> JSONResponse:
    obj = sobject_of(runtime, sobject)
    record = runtime.store.get(obj.name, record_id)
    if record is None:
        raise not_found()
    wanted = request.query_params.get("fields")
    visible = [d for d in obj.fields.values() if runtime.access.readable(obj.name, d)]
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        chosen = []
        for name in names:
            definition = obj.field(name)
            if definition is None or definition not in visible:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'."
                )
            chosen.append(definition)
        visible = chosen
    body: dict[str, Any] = {"attributes": attributes(record)}
    body |= {d.name: to_json(record.get(d.name)) for d in visible}
    return JSONResponse(body)


@router.patch("/{sobject}/{record_id}", status_code=204)
async def update(sobject: str, record_id: str, request: Request, runtime: RuntimeDep) -> Response:
    obj = sobject_of(runtime, sobject)
    runtime.writer.update(obj, record_id, await json_object(request))
    return Response(status_code=204)


@router.delete("/{sobject}/{record_id}", status_code=204)
def delete(sobject: str, record_id: str, runtime: RuntimeDep) -> Response:
    runtime.writer.delete(sobject_of(runtime, sobject), record_id)
    return Response(status_code=204)
