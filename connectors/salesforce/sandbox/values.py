"""Field values between JSON and the store: checking what a client writes (Salesforce's
per-field errors) and answering with Salesforce's JSON forms (dates `YYYY-MM-DD`, date-times
`2024-05-01T12:00:00.000+0000`, numbers as numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.salesforce.sandbox.clock import parse_datetime, sf_datetime
from connectors.salesforce.sandbox.ids import to18
from connectors.salesforce.sandbox.schema import FieldDef
from connectors.salesforce.sandbox.soql import FieldType

T = FieldType
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_TEXT = frozenset({T.STRING, T.TEXTAREA, T.PICKLIST, T.EMAIL, T.PHONE, T.URL})
_NUMBERS = frozenset({T.INT, T.DOUBLE, T.CURRENCY, T.PERCENT})


@dataclass(frozen=True, slots=True)
class Problem:
    """A value Salesforce refuses: its status code, message and field."""

    code: str
    message: str
    field: str


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def is_id(text: object) -> bool:
    return isinstance(text, str) and _ID.match(text) is not None


def coerce(definition: FieldDef, raw: Any) -> Any:
    """The stored form of a written value, or a Problem."""
    name, kind = definition.name, definition.type
    if raw is None or (raw == "" and kind in _TEXT | {T.REFERENCE}):
        if not definition.nillable and kind is not T.BOOLEAN:
            return Problem("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", name)
        return False if kind is T.BOOLEAN else None
    if kind in _TEXT:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            return _wrong_type(definition, raw)
        text = str(raw)
        if definition.length and len(text) > definition.length:
            return Problem(
                "STRING_TOO_LONG",
                f"{definition.label}: data value too large: {text[:40]} "
                f"(max length={definition.length})",
                name,
            )
        if kind is T.EMAIL and not _EMAIL.match(text):
            return Problem("INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {text}", name)
        if kind is T.PICKLIST and definition.restricted and text not in definition.picklist:
            return Problem(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{definition.label}: bad value for restricted picklist field: {text}",
                name,
            )
        return text
    if kind is T.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        return _wrong_type(definition, raw)
    if kind in _NUMBERS:
        try:
            number = float(raw) if not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            return _wrong_type(definition, raw)
        limit = (
            10 ** max(definition.precision - definition.scale, 1) if definition.precision else None
        )
        if limit is not None and abs(number) >= limit:
            return Problem(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{definition.label}: value outside of valid range on numeric field: {raw}",
                name,
            )
        if kind is T.INT:
            return int(number) if number == int(number) else _wrong_type(definition, raw)
        return round(number, definition.scale) if definition.scale else number
    if kind is T.DATE:
        try:
            return (
                date.fromisoformat(str(raw)[:10])
                if isinstance(raw, str)
                else _wrong_type(definition, raw)
            )
        except ValueError:
            return _wrong_type(definition, raw)
    if kind is T.DATETIME:
        moment = parse_datetime(raw) if isinstance(raw, str) else None
        return moment if moment is not None else _wrong_type(definition, raw)
    if kind in (T.REFERENCE, T.ID):
        if not is_id(raw):
            return Problem(
                "MALFORMED_ID",
                f"{definition.label}: id value of incorrect type: {raw}",
                name,
            )
        return to18(str(raw))
    return _wrong_type(definition, raw)


def _wrong_type(definition: FieldDef, raw: Any) -> Problem:
    return Problem(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{definition.label}: value not of required type: {raw}",
        definition.name,
    )
