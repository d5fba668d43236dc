"""The Tooling API's `CustomField`: one field per `POST tooling/sobjects/CustomField`, with
`FullName` ("Lead.Glengarry_Score__c") and its `Metadata` ("CustomField", Tooling API Developer
Guide; "CustomField", Metadata API Developer Guide). The new field is invisible to every user
until a permission set grants it (see permissions.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.schema import SETUP_OBJECTS, FieldDef
from connectors.salesforce.sandbox.soql import FieldType
from connectors.salesforce.sandbox.store import CustomField, Store

T = FieldType
_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)__c$")
_TYPES = {
    "Text": T.STRING,
    "TextArea": T.TEXTAREA,
    "LongTextArea": T.TEXTAREA,
    "Number": T.DOUBLE,
    "Percent": T.PERCENT,
    "Currency": T.CURRENCY,
    "Checkbox": T.BOOLEAN,
    "Date": T.DATE,
    "DateTime": T.DATETIME,
    "Picklist": T.PICKLIST,
    "Email": T.EMAIL,
    "Phone": T.PHONE,
    "Url": T.URL,
}


def _refuse(message: str, code: str = "FIELD_INTEGRITY_EXCEPTION") -> SalesforceError:
    return SalesforceError(400, code, message, [])


def _integer(metadata: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = metadata.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _refuse(f"{name}: value must be a number between {low} and {high}")
    try:
        number = int(value)
    except ValueError:
        raise _refuse(f"{name}: value must be a number between {low} and {high}") from None
    if not low <= number <= high:
        raise _refuse(f"{name}: value must be a number between {low} and {high}")
    return number


def _definition(name: str, metadata: Mapping[str, Any]) -> FieldDef:
    kind_name = metadata.get("type")
    if kind_name not in _TYPES:
        raise _refuse(
            f"Metadata.type must be one of {', '.join(_TYPES)}, not {kind_name!r}",
            "INVALID_TYPE",
        )
    label = metadata.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _refuse(
            "Metadata.label: Required fields are missing: [Label]", "REQUIRED_FIELD_MISSING"
        )
    kind = _TYPES[str(kind_name)]
    extra: dict[str, Any] = {}
    if kind_name == "Text":
        extra["length"] = _integer(metadata, "length", 1, 255)
    elif kind_name == "TextArea":
        extra["length"] = 255
    elif kind_name == "LongTextArea":
        extra["length"] = _integer(metadata, "length", 256, 131_072)
        _integer(metadata, "visibleLines", 2, 50)
    elif kind_name in ("Number", "Percent", "Currency"):
        precision = _integer(metadata, "precision", 1, 18)
        scale = _integer(metadata, "scale", 0, precision)
        extra |= {"precision": precision, "scale": scale}
    elif kind_name == "Checkbox":
        default = str(metadata.get("defaultValue", "")).lower()
        if default not in ("true", "false"):
            raise _refuse("Checkbox fields require a defaultValue of true or false")
        extra |= {"default": default == "true", "nillable": False}
    elif kind_name == "Picklist":
        values, restricted = _picklist(metadata)
        extra |= {"picklist": values, "restricted": restricted, "length": 255}
    elif kind in (T.EMAIL, T.PHONE, T.URL):
        extra["length"] = {T.EMAIL: 80, T.PHONE: 40, T.URL: 255}[kind]
    if metadata.get("required") and kind is not T.BOOLEAN:
        extra["nillable"] = False
    return FieldDef(
        name,
        kind,
        label.strip(),
        custom=True,
        description=str(metadata.get("description") or ""),
        **extra,
    )


def _picklist(metadata: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    value_set = metadata.get("valueSet")
    definition = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
    entries = definition.get("value") if isinstance(definition, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _refuse("Picklist fields require valueSet.valueSetDefinition.value")
    names = [e.get("fullName") if isinstance(e, dict) else None for e in entries]
    if not all(isinstance(n, str) and n for n in names):
        raise _refuse("Every picklist value needs a fullName")
    if len({str(n).lower() for n in names}) != len(names):
        raise _refuse("Picklist values must be unique", "DUPLICATE_VALUE")
    assert isinstance(value_set, dict)
    return tuple(str(n) for n in names), bool(value_set.get("restricted", False))


def create_custom_field(store: Store, body: Mapping[str, Any]) -> CustomField:
    full_name = body.get("FullName")
    metadata = body.get("Metadata")
    if not isinstance(full_name, str) or "." not in full_name:
        raise _refuse("FullName must be Object.Field__c", "INVALID_FIELD")
    if not isinstance(metadata, dict):
        raise _refuse("Metadata must be an object", "JSON_PARSER_ERROR")
    object_name, _, field_name = full_name.partition(".")
    with store.locked():
        obj = store.sobject(object_name)
        if obj is None or obj.name in SETUP_OBJECTS:
            raise _refuse(f"Cannot create a field on {object_name}", "INVALID_TYPE")
        if not _NAME.match(field_name) or len(field_name) > 43:
            raise _refuse(
                "The Field Name can only contain underscores and alphanumeric characters, must "
                "begin with a letter, not end with an underscore, not contain two consecutive "
                "underscores, and end in __c."
            )
        if obj.field(field_name) is not None:
            raise _refuse(
                "duplicate value found: <unknown> duplicates value on record with id: <unknown>",
                "DUPLICATE_VALUE",
            )
        definition = _definition(field_name, metadata)
        custom = CustomField(
            store.ids.new("00N"), obj.name, definition, dict(metadata), store.clock.now()
        )
        store.add_custom_field(custom)
        return custom
