"""Associations v4 batch read: which engagement objects (or contacts) an object is linked to.

Results list every target at once: HubSpot pages a `from` object's targets past 500 with a
per-result `paging`, which the sandbox does not do (no demo contact gets near 500 activities).
Inputs without any association come back as errors in a 207, as HubSpot answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.hubspot.sandbox.errors import HubSpotError, standard_error
from connectors.hubspot.sandbox.routes.common import inputs_of, json_body
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.serialize import batch_json

router = APIRouter()

MAX_INPUTS = 1_000
# Accepted spellings of each object type: plural, singular, and HubSpot's type id.
_TYPE_NAMES = {
    "contacts": ("contacts", "contact", "0-1"),
    "emails": ("emails", "email", "0-49"),
    "calls": ("calls", "call", "0-48"),
    "meetings": ("meetings", "meeting", "0-47"),
    "notes": ("notes", "note", "0-46"),
    "tasks": ("tasks", "task", "0-27"),
    "tickets": ("tickets", "ticket", "0-5"),
    "deals": ("deals", "deal", "0-3"),
    "feedback_submissions": ("feedback_submissions", "feedback_submission", "0-19"),
}
_ALIASES = {alias: name for name, aliases in _TYPE_NAMES.items() for alias in aliases}
# HubSpot-defined association type ids: (from, to) -> typeId.
TYPE_IDS = {
    ("contacts", "calls"): 193,
    ("calls", "contacts"): 194,
    ("contacts", "emails"): 197,
    ("emails", "contacts"): 198,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201,
    ("notes", "contacts"): 202,
    ("contacts", "tasks"): 203,
    ("tasks", "contacts"): 204,
    ("contacts", "tickets"): 15,
    ("tickets", "contacts"): 16,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    # Not confirmed in HubSpot's docs (they list the pair, the ids vary by portal setup).
    ("contacts", "feedback_submissions"): 97,
    ("feedback_submissions", "contacts"): 98,
}


def _object_type(name: str) -> str:
    object_type = _ALIASES.get(name.lower())
    if object_type is None:
        raise HubSpotError(400, f"Unknown object type {name!r}", "VALIDATION_ERROR")
    return object_type


@router.post("/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read")
async def batch_read_associations(
    fromObjectType: str,
    toObjectType: str,
    request: Request,
    runtime: RuntimeDep,
) -> Response:
    from_type, to_type = _object_type(fromObjectType), _object_type(toObjectType)
    type_id = TYPE_IDS.get((from_type, to_type))
    if type_id is None:
        raise HubSpotError(
            400, f"No association is defined from {from_type} to {to_type}", "VALIDATION_ERROR"
        )
    runtime.require_read(from_type, to_type)
    inputs = inputs_of(await json_body(request), MAX_INPUTS)
    store = runtime.store
    started = store.clock()
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with store.locked():
        for item in inputs:
            from_id = str(item.get("id", ""))
            source = store.resolve(from_type, from_id)
            targets = store.associated(from_type, source.id, to_type) if source else []
            if not targets:
                errors.append(
                    standard_error(
                        f"No {to_type} is associated with {from_type[:-1]} {from_id}.",
                        "OBJECT_NOT_FOUND",
                        context={"fromObjectId": [from_id]},
                    )
                )
                continue
            results.append(
                {
                    "from": {"id": from_id},
                    "to": [
                        {
                            "toObjectId": target,
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id}
                            ],
                        }
                        for target in targets
                    ],
                }
            )
    return JSONResponse(
        batch_json(results, started, store.clock(), errors), status_code=207 if errors else 200
    )
