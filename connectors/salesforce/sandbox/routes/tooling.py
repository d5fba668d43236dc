"""The Tooling API: create a `CustomField`, read it back, and query `CustomField` (`Id`,
`DeveloperName`, `TableEnumOrId`, `NamespacePrefix`) to find what is installed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.errors import SalesforceError, not_found
from connectors.salesforce.sandbox.routes.common import json_object
from connectors.salesforce.sandbox.runtime import RuntimeDep
from connectors.salesforce.sandbox.soql import (
    FieldInfo,
    FieldType,
    SObjectSchema,
    SoqlError,
    StaticCatalog,
    compile_query,
)
from connectors.salesforce.sandbox.store import CustomField
from connectors.salesforce.sandbox.tooling import create_custom_field as create
from connectors.salesforce.sandbox.values import to_json

router = APIRouter(prefix=f"{DATA}/tooling")
_CUSTOM_FIELD = "CustomField"
_CATALOG = StaticCatalog(
    [
        SObjectSchema(
            _CUSTOM_FIELD,
            (
                FieldInfo("Id", FieldType.ID),
                FieldInfo("DeveloperName", FieldType.STRING),
                FieldInfo("TableEnumOrId", FieldType.STRING),
                FieldInfo("NamespacePrefix", FieldType.STRING),
                FieldInfo("CreatedDate", FieldType.DATETIME),
            ),
        )
    ]
)


def _values(custom: CustomField) -> dict[str, Any]:
    return {
        "Id": custom.id,
        "DeveloperName": custom.developer_name,
        "TableEnumOrId": custom.sobject,
        "NamespacePrefix": None,
        "CreatedDate": custom.created_at,
    }


def _attributes(custom: CustomField) -> dict[str, str]:
    return {"type": _CUSTOM_FIELD, "url": f"{DATA}/tooling/sobjects/CustomField/{custom.id}"}


@router.post("/sobjects/CustomField", status_code=201)
async def create_custom_field(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    custom = create(runtime.store, await json_object(request))
    return {"id": custom.id, "success": True, "errors": [], "warnings": [], "infos": []}


@router.get("/sobjects/CustomField/{field_id}")
def read_custom_field(field_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    custom = next(
        (c for c in runtime.store.custom_fields.values() if c.id[:15] == field_id[:15]), None
    )
    if custom is None:
        raise not_found()
    values = {k: to_json(v) for k, v in _values(custom).items()}
    return {
        "attributes": _attributes(custom),
        **values,
        "FullName": custom.full_name,
        "Metadata": custom.metadata,
    }


@router.get("/query")
def tooling_query(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    text = request.query_params.get("q")
    if not text:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        query = compile_query(text, _CATALOG)
    except SoqlError as exc:
        raise SalesforceError(400, str(exc.error_code), exc.message) from None
    rows = [_values(c) for c in runtime.store.custom_fields.values()]
    matched = query.run(rows, lambda row, path: row.get(path[-1]))
    if query.is_count:
        return {"size": len(matched), "totalSize": len(matched), "done": True, "records": []}
    by_id = {c.id: c for c in runtime.store.custom_fields.values()}
    records = [
        {
            "attributes": _attributes(by_id[row["Id"]]),
            **{f.name: to_json(row.get(f.path[-1])) for f in query.fields},
        }
        for row in matched
    ]
    return {
        "size": len(records),
        "totalSize": len(records),
        "done": True,
        "entityTypeName": _CUSTOM_FIELD,
        "records": records,
    }
