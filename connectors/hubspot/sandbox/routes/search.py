"""CRM search: `POST /crm/v3/objects/contacts/search` over the (possibly lagging) index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.hubspot.sandbox import search
from connectors.hubspot.sandbox.errors import HubSpotError
from connectors.hubspot.sandbox.routes.common import json_body
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.serialize import object_json

router = APIRouter()


@router.post("/crm/v3/objects/contacts/search")
async def search_contacts(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_body(request)
    store = runtime.store
    with store.locked():
        try:
            parsed = search.parse_request(body, store.definitions["contacts"])
        except search.SearchError as exc:
            raise HubSpotError(
                400, f"There was a problem with the request. {exc}", "VALIDATION_ERROR"
            ) from None
        page, total = search.run(parsed, store.search_view("contacts"))
        results = [object_json(obj, list(parsed.properties or ()) or None) for obj in page]
    answer: dict[str, Any] = {"total": total, "results": results}
    following = parsed.offset + len(page)
    if page and following < total:
        answer["paging"] = {"next": {"after": str(following), "link": f"?after={following}"}}
    return answer
