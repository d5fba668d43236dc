"""CRM search: `POST /crm/v3/objects/{contacts|tickets|deals|feedback_submissions}/search` over
the (possibly lagging, for contacts) index."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from connectors.hubspot.sandbox import search
from connectors.hubspot.sandbox.errors import HubSpotError
from connectors.hubspot.sandbox.properties import RECORD_TYPES
from connectors.hubspot.sandbox.routes.common import json_body
from connectors.hubspot.sandbox.runtime import Runtime, RuntimeDep
from connectors.hubspot.sandbox.serialize import object_json

router = APIRouter()


def _ordered(
    runtime: Runtime, body: dict[str, Any], parsed: search.SearchRequest, object_type: str
) -> list[Any]:
    """Paging one query asks the same question page after page: answered once per revision."""
    store = runtime.store
    if store.search_lag_seconds > 0:  # what the index shows moves with time: no reuse
        return search.ordered_matches(parsed, store.search_view(object_type))
    asked = {k: v for k, v in body.items() if k not in ("after", "limit")}
    key = json.dumps({"type": object_type, **asked}, sort_keys=True)
    cached = runtime.search_cache.get(key)
    if cached is not None and cached[0] == store.revision:
        return cached[1]
    ordered = search.ordered_matches(parsed, store.search_view(object_type))
    runtime.search_cache.clear()  # one query at a time is what paging needs
    runtime.search_cache[key] = (store.revision, ordered)
    return ordered


@router.post("/crm/v3/objects/contacts/search")
async def search_contacts(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    return await _search(request, runtime, "contacts")


@router.post("/crm/v3/objects/{objectType}/search")
async def search_records(objectType: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Tickets, deals and feedback submissions (the engagement types are not searched here)."""
    if objectType not in RECORD_TYPES:
        raise HubSpotError(404, f"Unknown object type {objectType!r}", "OBJECT_NOT_FOUND")
    runtime.require_read(objectType)
    return await _search(request, runtime, objectType)


async def _search(request: Request, runtime: Runtime, object_type: str) -> dict[str, Any]:
    body = await json_body(request)
    store = runtime.store
    with store.locked():
        try:
            parsed = search.parse_request(body, store.definitions[object_type])
        except search.SearchError as exc:
            raise HubSpotError(
                400, f"There was a problem with the request. {exc}", "VALIDATION_ERROR"
            ) from None
        ordered = _ordered(runtime, body, parsed, object_type)
        page = ordered[parsed.offset : parsed.offset + parsed.limit]
        total = len(ordered)
        results = [object_json(obj, list(parsed.properties or ()) or None) for obj in page]
    answer: dict[str, Any] = {"total": total, "results": results}
    following = parsed.offset + len(page)
    if page and following < total:
        answer["paging"] = {"next": {"after": str(following), "link": f"?after={following}"}}
    return answer
