"""What the integration user may see and change, and Salesforce's rules for permission records.

The user's profile grants read and edit on the standard objects and their standard fields
(as a System Administrator's does). A custom field is visible only through a `FieldPermissions`
row with `PermissionsRead` in a permission set assigned to the user (`PermissionSetAssignment`),
and writable only with `PermissionsEdit`: a field made through the Tooling API starts invisible
to everyone, as in a real org ("FieldPermissions", "ObjectPermissions", "PermissionSet",
"PermissionSetAssignment", Object Reference; "Field-Level Security", Salesforce Help).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.salesforce.sandbox.schema import SETUP_OBJECTS, FieldDef
from connectors.salesforce.sandbox.store import Store, StoreError

_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
# Each object permission and what it depends on (Salesforce refuses the record otherwise).
_OBJECT_DEPENDS = {
    "PermissionsCreate": ("PermissionsRead",),
    "PermissionsEdit": ("PermissionsRead",),
    "PermissionsDelete": ("PermissionsRead", "PermissionsEdit"),
    "PermissionsViewAllRecords": ("PermissionsRead",),
    "PermissionsModifyAllRecords": (
        "PermissionsRead",
        "PermissionsEdit",
        "PermissionsDelete",
        "PermissionsViewAllRecords",
    ),
}
_LABELS = {
    "PermissionsRead": "Read",
    "PermissionsCreate": "Create",
    "PermissionsEdit": "Edit",
    "PermissionsDelete": "Delete",
    "PermissionsViewAllRecords": "View All",
    "PermissionsModifyAllRecords": "Modify All",
}


@dataclass(frozen=True, slots=True)
class Grants:
    readable: frozenset[str]  # "Lead.Glengarry_Score__c"
    editable: frozenset[str]


class Access:
    """The integration user's field-level security, recomputed when the store changes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cached: tuple[int, Grants] | None = None

    def _grants(self) -> Grants:
        store = self.store
        with store.locked():
            if self._cached is not None and self._cached[0] == store.revision:
                return self._cached[1]
            assigned = {
                r.get("PermissionSetId")
                for r in store.records("PermissionSetAssignment")
                if r.get("AssigneeId") == store.actor
            }
            readable: set[str] = set()
            editable: set[str] = set()
            for row in store.records("FieldPermissions"):
                if row.get("ParentId") not in assigned:
                    continue
                if row.get("PermissionsRead"):
                    readable.add(str(row.get("Field")).lower())
                if row.get("PermissionsEdit"):
                    editable.add(str(row.get("Field")).lower())
            grants = Grants(frozenset(readable), frozenset(editable))
            self._cached = (store.revision, grants)
            return grants

    def readable(self, sobject: str, definition: FieldDef) -> bool:
        if not definition.custom or sobject in SETUP_OBJECTS:
            return True
        return f"{sobject}.{definition.name}".lower() in self._grants().readable

    def editable(self, sobject: str, definition: FieldDef) -> bool:
        """May the user set this field (FLS and describe's createable/updateable aside)?"""
        if not definition.custom or sobject in SETUP_OBJECTS:
            return True
        key = f"{sobject}.{definition.name}".lower()
        grants = self._grants()
        return key in grants.readable and key in grants.editable


def check_permission_record(
    store: Store, sobject: str, values: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> None:
    """Salesforce's rules for the permission objects; StoreError names the broken one."""
    merged = {**(existing or {}), **values}
    if sobject == "PermissionSet":
        name = str(merged.get("Name") or "")
        if not _API_NAME.match(name):
            raise StoreError(
                "FIELD_INTEGRITY_EXCEPTION",
                "The API name can only contain underscores and alphanumeric characters. It "
                "must be unique, begin with a letter, not include spaces, not end with an "
                "underscore, and not contain two consecutive underscores.",
                ["Name"],
            )
        for other in store.records("PermissionSet"):
            if (
                str(other.get("Name") or "").lower() == name.lower()
                and other.values is not existing
            ):
                raise StoreError(
                    "DUPLICATE_DEVELOPER_NAME",
                    f"The name '{name}' is already in use. Please specify a unique name.",
                    ["Name"],
                )
        return
    if sobject in ("ObjectPermissions", "FieldPermissions"):
        parent = _permission_set(store, merged.get("ParentId"))
        if sobject == "ObjectPermissions":
            _check_object_permission(store, merged, existing)
        else:
            _check_field_permission(store, parent.id, merged, existing)
        return
    if sobject == "PermissionSetAssignment":
        permission_set = _permission_set(store, merged.get("PermissionSetId"), "PermissionSetId")
        assignee = store.get("User", str(merged.get("AssigneeId") or ""))
        if assignee is None:
            raise StoreError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["AssigneeId"]
            )
        for other in store.records("PermissionSetAssignment"):
            if other.get("AssigneeId") == assignee.id and (
                other.get("PermissionSetId") == permission_set.id
            ):
                raise StoreError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: PermissionSetId duplicates value on record with "
                    f"id: {other.id}",
                    [],
                )


def _permission_set(store: Store, value: Any, name: str = "ParentId") -> Any:
    found = store.get("PermissionSet", str(value or ""))
    if found is None:
        raise StoreError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
    return found


def _depends(merged: Mapping[str, Any], table: Mapping[str, tuple[str, ...]]) -> None:
    for permission, needs in table.items():
        missing = [_LABELS[n] for n in needs if merged.get(permission) and not merged.get(n)]
        if missing:
            raise StoreError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission {_LABELS[permission]} depends on permission(s): " + ", ".join(missing),
                [],
            )


def _check_object_permission(
    store: Store, merged: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> None:
    sobject = store.sobject(str(merged.get("SobjectType") or ""))
    if sobject is None or sobject.name in SETUP_OBJECTS:
        raise StoreError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Sobject Type Name: bad value for restricted picklist field: "
            f"{merged.get('SobjectType')}",
            ["SobjectType"],
        )
    _depends(merged, _OBJECT_DEPENDS)
    if existing is None:
        for other in store.records("ObjectPermissions"):
            if other.get("ParentId") == merged.get("ParentId") and (
                other.get("SobjectType") == sobject.name
            ):
                raise StoreError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: <unknown> duplicates value on record with id: "
                    f"{other.id}",
                    [],
                )


def _check_field_permission(
    store: Store, parent_id: str, merged: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> None:
    text = str(merged.get("Field") or "")
    sobject_name, _, field_name = text.partition(".")
    sobject = store.sobject(sobject_name)
    definition = sobject.field(field_name) if sobject is not None else None
    if sobject is None or definition is None or sobject.name != merged.get("SobjectType"):
        raise StoreError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Field Name: bad value for restricted picklist field: {text}",
            ["Field"],
        )
    if not definition.custom or definition.required:
        # Standard and required fields are not permissionable: FLS does not apply to them.
        raise StoreError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"Field {text} is not permissionable. Choose another field.",
            ["Field"],
        )
    _depends(merged, {"PermissionsEdit": ("PermissionsRead",)})
    needed = ["PermissionsRead"] + (["PermissionsEdit"] if merged.get("PermissionsEdit") else [])
    if merged.get("PermissionsRead"):
        held = next(
            (
                o
                for o in store.records("ObjectPermissions")
                if o.get("ParentId") == parent_id and o.get("SobjectType") == sobject.name
            ),
            None,
        )
        lacking = [p for p in needed if held is None or not held.get(p)]
        if lacking:
            raise StoreError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission {' and '.join(_LABELS[p] for p in needed)} on field {text} depends "
                f"on permission(s): {' '.join(_LABELS[p] for p in lacking)} {sobject.name}",
                [],
            )
    if existing is None:
        for other in store.records("FieldPermissions"):
            if other.get("ParentId") == parent_id and str(other.get("Field")).lower() == (
                text.lower()
            ):
                raise StoreError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: <unknown> duplicates value on record with id: "
                    f"{other.id}",
                    [],
                )
