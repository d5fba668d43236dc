"""Saving records as Salesforce does: sObject rows (create, update, delete) and sObject
Collections updates, each record answered with a SaveResult ("sObject Collections", "Update
Records Using sObject Collections", "sObject Rows", REST API Developer Guide; "SaveResult" and
"StatusCode", SOAP API Developer Guide).

A field that does not exist refuses the whole request (`400 INVALID_FIELD`, as when Salesforce
cannot deserialise the body); every other problem is the record's own: a field the user may
not edit (`INVALID_FIELD_FOR_INSERT_UPDATE`, field-level security included), a converted Lead
(`CANNOT_UPDATE_CONVERTED_LEAD`), a deleted record (`ENTITY_IS_DELETED`), a value of the wrong
type or shape, a validation rule (`FIELD_CUSTOM_VALIDATION_EXCEPTION`), a locked row
(`UNABLE_TO_LOCK_ROW`). With `allOrNone` one failure rolls every record back
(`ALL_OR_NONE_OPERATION_ROLLED_BACK` on the others).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.permissions import Access, check_permission_record
from connectors.salesforce.sandbox.schema import ObjectDef
from connectors.salesforce.sandbox.store import Record, Store, StoreError
from connectors.salesforce.sandbox.values import Problem, coerce, is_id

MAX_COLLECTION = 200
_PERMISSION_OBJECTS = frozenset(
    {"PermissionSet", "ObjectPermissions", "FieldPermissions", "PermissionSetAssignment"}
)
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


def error(code: str, message: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": list(fields)}


@dataclass(slots=True)
class SaveResult:
    id: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        return {**body, "success": self.success, "errors": self.errors}


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-record faults the sandbox may inject (drawn from the seeded generator)."""

    lock_row: Callable[[], bool] = lambda: False
    validation: Callable[[], bool] = lambda: False


class Writer:
    def __init__(self, store: Store, access: Access, faults: Faults | None = None) -> None:
        self.store = store
        self.access = access
        self.faults = faults or Faults()

    def sobject(self, name: object) -> ObjectDef:
        found = self.store.sobject(name) if isinstance(name, str) and name else None
        if found is None:
            if not name:
                raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return found

    def fields_of(self, obj: ObjectDef, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Payload values by canonical field name (attributes and Id left out); a field that
        does not exist refuses the whole request (one the user cannot see is the record's
        own error, found by `_check`)."""
        values: dict[str, Any] = {}
        for name, value in payload.items():
            if name in ("attributes",) or name.lower() == "id":
                continue
            definition = obj.field(name)
            if definition is None:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {obj.name}",
                )
            values[definition.name] = value
        return values

    def _check(
        self, obj: ObjectDef, values: Mapping[str, Any], *, creating: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Stored values, and the record's errors."""
        denied: list[str] = []
        checked: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, raw in values.items():
            definition = obj.fields[name]
            allowed = definition.createable if creating else definition.updateable
            if not allowed or not self.access.editable(obj.name, definition):
                denied.append(name)
                continue
            result = coerce(definition, raw)
            if isinstance(result, Problem):
                problems.append(result)
            else:
                checked[name] = result
        errors: list[dict[str, Any]] = []
        if denied:
            errors.append(
                error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(denied)}. Please check the "
                    "security settings of this field and verify that it is read/write for your "
                    "profile or permission set.",
                    denied,
                )
            )
        errors += [error(p.code, p.message, [p.field]) for p in problems]
        if creating and not errors:
            missing = [
                d.name for d in obj.fields.values() if d.required and checked.get(d.name) is None
            ]
            if missing:
                errors.append(
                    error(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(missing)}]",
                        missing,
                    )
                )
        return checked, errors

    def _injected(self, record_id: str) -> list[dict[str, Any]]:
        if self.faults.lock_row():
            return [
                error(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {record_id}",
                )
            ]
        if self.faults.validation():
            return [
                error(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "Glengarry sandbox validation rule: this record is locked for review",
                )
            ]
        return []

    def _target(self, obj: ObjectDef, record_id: object) -> Record | list[dict[str, Any]]:
        if not is_id(record_id) or self.store.type_of(str(record_id)) != obj.name:
            return [
                error(
                    "MALFORMED_ID",
                    f"{obj.label} ID: id value of incorrect type: {record_id}",
                    ["Id"],
                )
            ]
        record = self.store.get(obj.name, str(record_id), deleted=True)
        if record is None:
            return [error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        if record.deleted:
            return [error("ENTITY_IS_DELETED", "entity is deleted")]
        if obj.name == "Lead" and record.get("IsConverted"):
            return [error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")]
        return record

    def _plan_update(
        self, obj: ObjectDef, record_id: object, values: Mapping[str, Any]
    ) -> tuple[Record | None, dict[str, Any], list[dict[str, Any]]]:
        target = self._target(obj, record_id)
        if not isinstance(target, Record):
            return None, {}, target
        checked, errors = self._check(obj, values, creating=False)
        if not errors and obj.name in _PERMISSION_OBJECTS:
            try:
                check_permission_record(self.store, obj.name, checked, target.values)
            except StoreError as exc:
                errors.append(error(exc.code, exc.message, exc.fields))
        if not errors:
            errors = self._injected(target.id)
        return target, checked, errors

    # --- sObject Collections ------------------------------------------------------------

    def update_collection(self, body: Mapping[str, Any]) -> list[SaveResult]:
        records = body.get("records")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a list of objects")
        if not isinstance(all_or_none, bool):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
        if len(records) > MAX_COLLECTION:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into "
                "this call",
            )
        with self.store.locked():
            parsed = []
            for item in records:
                attributes = item.get("attributes")
                kind = attributes.get("type") if isinstance(attributes, dict) else None
                obj = self.sobject(kind)
                record_id = next((v for k, v in item.items() if k.lower() == "id"), None)
                parsed.append((obj, record_id, self.fields_of(obj, item)))
            plans = [self._plan_update(obj, rid, values) for obj, rid, values in parsed]
            results = [
                SaveResult(
                    target.id if target is not None else _plain_id(rid),
                    errors,
                )
                for (target, _, errors), (_, rid, _) in zip(plans, parsed, strict=True)
            ]
            failed = any(not r.success for r in results)
            if all_or_none and failed:
                for result in results:
                    if result.success:
                        result.errors = [dict(ROLLED_BACK)]
                return results
            for (target, checked, errors), _ in zip(plans, results, strict=True):
                if target is not None and not errors:
                    self.store.update(target, checked)
            return results

    # --- sObject rows -------------------------------------------------------------------

    def create(self, obj: ObjectDef, payload: Mapping[str, Any]) -> Record:
        if not obj.createable:
            raise SalesforceError(
                400, "INSUFFICIENT_ACCESS_OR_READONLY", f"cannot create {obj.name} records"
            )
        with self.store.locked():
            checked, errors = self._check(obj, self.fields_of(obj, payload), creating=True)
            if not errors and obj.name in _PERMISSION_OBJECTS:
                try:
                    check_permission_record(self.store, obj.name, checked, None)
                except StoreError as exc:
                    errors.append(error(exc.code, exc.message, exc.fields))
            if errors:
                raise _row_error(errors)
            return self.store.create(obj.name, checked)

    def update(self, obj: ObjectDef, record_id: str, payload: Mapping[str, Any]) -> None:
        with self.store.locked():
            target, checked, errors = self._plan_update(
                obj, record_id, self.fields_of(obj, payload)
            )
            if errors or target is None:
                first = errors[0] if errors else error("NOT_FOUND", "not found")
                if first["statusCode"] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"):
                    raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
                raise _row_error(errors)
            self.store.update(target, checked)

    def delete(self, obj: ObjectDef, record_id: str) -> None:
        with self.store.locked():
            record = self.store.get(obj.name, record_id, deleted=True)
            if record is None:
                raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
            if record.deleted:
                raise SalesforceError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
            if not obj.deletable:
                raise SalesforceError(
                    400,
                    "INSUFFICIENT_ACCESS_OR_READONLY",
                    "insufficient access rights on object id",
                )
            self.store.delete(record)


def _plain_id(record_id: object) -> str | None:
    return str(record_id) if is_id(record_id) else None


def _row_error(errors: list[dict[str, Any]]) -> SalesforceError:
    first = errors[0]
    return SalesforceError(400, first["statusCode"], first["message"], first["fields"])
