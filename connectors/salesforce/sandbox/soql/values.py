"""How values of each field type compare: one normaliser per type turns a stored value (or a
literal) into something Python compares as Salesforce does, None standing for null."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from connectors.salesforce.sandbox.soql.catalog import (
    DECIMAL_TYPES,
    ID_TYPES,
    TEXT_TYPES,
    FieldInfo,
    FieldType,
)

Normaliser = Callable[[object], object]

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def is_record_id(text: str) -> bool:
    """15 or 18 letters and digits: the shapes of a Salesforce record id."""
    return _ID.fullmatch(text) is not None


def _text(value: object) -> object:
    # Salesforce keeps no empty strings: a blank text field is null. English-locale comparisons
    # and sorts use the upper-case value (case-insensitive).
    if value is None:
        return None
    text = str(value)
    return text.upper() if text else None


def _record_id(value: object) -> object:
    # A 15-character id and its 18-character form name the same record; ids are case-sensitive.
    if value is None or value == "":
        return None
    return str(value)[:15]


def _boolean(value: object) -> object:
    # A boolean field is never null: null matches false.
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value) if value is not None else False


def _integer(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def _decimal(value: object) -> object:
    # Compared as floats on both sides, so that a Decimal 0.1 equals the literal 0.1.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _date(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _datetime(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value)
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    # Stored date-times are UTC; a naive one is taken as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def normaliser(info: FieldInfo) -> Normaliser:
    """The comparison form of a value of this field."""
    kind = info.type
    if kind in TEXT_TYPES:
        return _text
    if kind in ID_TYPES:
        return _record_id
    if kind is FieldType.BOOLEAN:
        return _boolean
    if kind is FieldType.INT:
        return _integer
    if kind in DECIMAL_TYPES:
        return _decimal
    if kind is FieldType.DATE:
        return _date
    return _datetime


def sort_normaliser(info: FieldInfo) -> Normaliser:
    """The ORDER BY form: a picklist sorts in the order set up for it (values it does not list
    after those it does, alphabetically); everything else as it compares."""
    if info.type is not FieldType.PICKLIST or not info.picklist_values:
        return normaliser(info)
    rank = {value.upper(): index for index, value in enumerate(info.picklist_values)}
    unlisted = len(rank)

    def picklist(value: object) -> object:
        if value is None or value == "":
            return None
        text = str(value).upper()
        return (rank.get(text, unlisted), text)

    return picklist
