"""Request parsing shared by the routes: malformed JSON is Salesforce's `JSON_PARSER_ERROR`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from connectors.salesforce.sandbox.errors import SalesforceError, not_found
from connectors.salesforce.sandbox.runtime import Runtime
from connectors.salesforce.sandbox.schema import ObjectDef


async def json_body(request: Request, *, default: Any = None) -> Any:
    raw = await request.body()
    if not raw.strip():
        if default is not None:
            return default
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body is empty")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


async def json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    body = await json_body(request, default={} if optional else None)
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


def sobject_of(runtime: Runtime, name: str) -> ObjectDef:
    found = runtime.store.sobject(name)
    if found is None:
        raise not_found()
    return found
