"""`GET /_sandbox/dump`: the values Glengarry wrote, record by record, for drift checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DumpRecord:
    type: str  # the CRM's name for the object ("contacts", "Lead", "Contact")
    id: str
    fields: Mapping[str, Any]


def dump_body(records: Iterable[DumpRecord]) -> dict[str, Any]:
    return {
        "records": [
            {"type": record.type, "id": record.id, "fields": dict(record.fields)}
            for record in records
        ]
    }
