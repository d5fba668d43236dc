"""CRM objects as HubSpot's v3 JSON (`SimplePublicObject` and the batch envelopes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.hubspot.sandbox.properties import CREATED_PROPERTY, ENGAGEMENT_TYPES, iso
from connectors.hubspot.sandbox.store import CrmObject

# What HubSpot returns when no `properties` are asked for.
DEFAULT_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
} | dict.fromkeys(ENGAGEMENT_TYPES, ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")) | {
    "tickets": ("content", "createdate", "hs_lastmodifieddate", "hs_object_id",
                "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "subject"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"),
    "feedback_submissions": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}  # fmt: skip
# Returned whatever was asked for.
ALWAYS: Mapping[str, tuple[str, ...]] = {
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
} | {
    object_type: (CREATED_PROPERTY[object_type], "hs_lastmodifieddate", "hs_object_id")
    for object_type in ("tickets", "deals", "feedback_submissions", *ENGAGEMENT_TYPES)
}


def names_from(values: Iterable[str] | None) -> list[str] | None:
    """`properties` as sent: a list, comma lists, or repeated query parameters."""
    if values is None:
        return None
    names = [part.strip() for value in values for part in str(value).split(",")]
    names = [name for name in names if name]
    return names or None


def object_json(
    obj: CrmObject, names: Sequence[str] | None = None, *, trace_id: str | None = None
) -> dict[str, Any]:
    wanted = list(
        dict.fromkeys([*(names or DEFAULT_PROPERTIES[obj.object_type]), *ALWAYS[obj.object_type]])
    )
    body: dict[str, Any] = {
        "id": obj.id,
        "properties": {name: obj.properties[name] for name in wanted if name in obj.properties},
        "createdAt": iso(obj.created_at),
        "updatedAt": iso(obj.updated_at),
        "archived": obj.archived,
    }
    if obj.archived and obj.archived_at is not None:
        body["archivedAt"] = iso(obj.archived_at)
    if trace_id:
        body["objectWriteTraceId"] = trace_id
    return body


def batch_json(
    results: Sequence[Mapping[str, Any]],
    started: datetime,
    finished: datetime,
    errors: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": list(results),
        "startedAt": iso(started),
        "completedAt": iso(finished),
    }
    if errors:
        body["errors"] = list(errors)
        body["numErrors"] = len(errors)
    return body
