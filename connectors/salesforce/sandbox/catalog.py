"""The SOQL engine's view of the org: its `Catalog` protocol over the schema and the
integration user's field-level security, and reading rows and answering records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.salesforce.sandbox.permissions import Access
from connectors.salesforce.sandbox.schema import ObjectDef
from connectors.salesforce.sandbox.soql import FieldInfo, FieldPath, Relationship, SelectedField
from connectors.salesforce.sandbox.store import Record, Store
from connectors.salesforce.sandbox.values import to_json

API_VERSION = "62.0"
DATA = f"/services/data/v{API_VERSION}"


class OrgCatalog:
    """Objects and fields as the integration user sees them (`Catalog` of the SOQL engine)."""

    def __init__(self, store: Store, access: Access, objects: Sequence[str] | None = None) -> None:
        self.store = store
        self.access = access
        self.objects = objects  # the queryable ones (None: every object of the store)

    def _object(self, name: str) -> ObjectDef | None:
        found = self.store.sobject(name)
        if found is None or (self.objects is not None and found.name not in self.objects):
            return None
        return found

    def sobject(self, name: str) -> str | None:
        found = self._object(name)
        return found.name if found is not None else None

    def field(self, sobject: str, name: str) -> FieldInfo | None:
        found = self._object(sobject)
        definition = found.field(name) if found is not None else None
        if found is None or definition is None:
            return None
        return FieldInfo(
            definition.name,
            definition.type,
            readable=self.access.readable(found.name, definition),
            filterable=definition.filterable,
            sortable=definition.sortable,
            picklist_values=definition.picklist,
        )

    def relationship(self, sobject: str, name: str) -> Relationship | None:
        found = self._object(sobject)
        definition = found.relationship(name) if found is not None else None
        if (
            definition is None
            or not definition.reference_to
            or definition.relationship_name is None
        ):
            return None
        return Relationship(definition.relationship_name, definition.reference_to[0])


def parent_of(store: Store, record: Record, relationship: str) -> Record | None:
    obj = store.objects[record.type]
    definition = obj.relationship(relationship)
    if definition is None:
        return None
    target = record.get(definition.name)
    # A polymorphic reference (Task.WhoId) names its object by its id's prefix.
    return store.find(target, deleted=True) if isinstance(target, str) else None


def read_path(store: Store, record: Record, path: FieldPath) -> object:
    current: Record | None = record
    for relationship in path[:-1]:
        if current is None:
            return None
        current = parent_of(store, current, relationship)
    return current.get(path[-1]) if current is not None else None


def attributes(record: Record) -> dict[str, str]:
    return {"type": record.type, "url": f"{DATA}/sobjects/{record.type}/{record.id}"}


def record_json(store: Store, record: Record, fields: Sequence[SelectedField]) -> dict[str, Any]:
    """A query row: attributes, then each selected field in order, parents nested."""
    body: dict[str, Any] = {"attributes": attributes(record)}
    for selected in fields:
        _place(store, record, body, selected.path)
    return body


def _place(store: Store, record: Record, body: dict[str, Any], path: FieldPath) -> None:
    if len(path) == 1:
        body[path[0]] = to_json(record.get(path[0]))
        return
    parent = parent_of(store, record, path[0])
    if parent is None:
        body.setdefault(path[0], None)
        return
    nested = body.get(path[0])
    if not isinstance(nested, dict):
        nested = {"attributes": attributes(parent)}
        body[path[0]] = nested
    _place(store, parent, nested, path[1:])
