"""Write-back: the pipeline's values in Salesforce's names and types, and each SaveResult of a
`PATCH composite/sobjects` told apart ("SaveResult" and "StatusCode", SOAP API Developer Guide).

A refusal that retrying cannot change is permanent (kept as failed at once, with Salesforce's
code and message); a lock held by another transaction, or trouble on Salesforce's side, is
transient. A code neither table names is treated as transient: it is retried up to the
outbox's attempts, then kept as failed with its code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from connectors.base import FieldWrite, WriteFailure
from connectors.salesforce import schemas
from connectors.salesforce.fields import API_NAMES, NUMBER_FIELDS
from connectors.salesforce.mapping import OBJECTS

log = structlog.stdlib.get_logger(__name__)

PERMANENT = frozenset(
    {
        "CANNOT_UPDATE_CONVERTED_LEAD",  # the Lead lives on as its Contact
        "ENTITY_IS_DELETED",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",  # the org's validation rule refuses the values
        "INVALID_FIELD_FOR_INSERT_UPDATE",  # field-level security: the user may not edit it
        "INVALID_CROSS_REFERENCE_KEY",  # no such record
        "MALFORMED_ID",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "STRING_TOO_LONG",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
    }
)
TRANSIENT = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})


def _value(logical: str, value: str) -> Any:
    if value == "":
        return None  # an empty value clears the field
    if logical in NUMBER_FIELDS:
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def record(write: FieldWrite) -> dict[str, Any] | WriteFailure:
    """One Collections record for a write, or why it cannot be one."""
    sobject = OBJECTS.get(write.kind)
    if sobject is None:
        return WriteFailure(
            f"kind {write.kind!r} is neither a lead nor a contact", "UNKNOWN_KIND", permanent=True
        )
    body: dict[str, Any] = {"attributes": {"type": sobject}, "Id": write.contact_crm_id}
    unknown = []
    for logical, value in write.values.items():
        api_name = API_NAMES.get(logical)
        if api_name is None:
            unknown.append(logical)
            continue
        try:
            body[api_name] = _value(logical, value)
        except ValueError:
            return WriteFailure(f"{logical}={value!r} is not a number", "BAD_VALUE", permanent=True)
    if unknown:
        log.warning("write-back values with no Salesforce field ignored", count=len(unknown))
    return body


def failure(result: schemas.SaveResult) -> WriteFailure:
    if not result.errors:
        return WriteFailure("refused without a reason", "UNKNOWN", permanent=False)
    first = result.errors[0]
    fields = f" ({', '.join(first.fields)})" if first.fields else ""
    return WriteFailure(
        f"{first.statusCode}: {first.message}{fields}",
        first.statusCode,
        permanent=first.statusCode in PERMANENT,
    )


def outcome_of(
    ids: Sequence[str], results: Sequence[schemas.SaveResult]
) -> tuple[list[str], dict[str, WriteFailure]]:
    """SaveResults come in the order the records went."""
    written: list[str] = []
    failed: dict[str, WriteFailure] = {}
    for crm_id, result in zip(ids, results, strict=True):
        if result.success:
            written.append(crm_id)
        else:
            failed[crm_id] = failure(result)
    return written, failed
