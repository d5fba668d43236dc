"""What a query is checked against: the objects, their fields (type and whether the querying
user may read them) and their parent relationships. The sandbox plugs its object model in by
implementing `Catalog`; `StaticCatalog` is a ready one over fixed object descriptions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class FieldType(StrEnum):
    """Field types as describe names them (the subset the engine compares)."""

    ID = "id"
    STRING = "string"
    TEXTAREA = "textarea"
    PICKLIST = "picklist"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    BOOLEAN = "boolean"
    INT = "int"
    DOUBLE = "double"
    CURRENCY = "currency"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    REFERENCE = "reference"


TEXT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXTAREA,
        FieldType.PICKLIST,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
    }
)
ID_TYPES = frozenset({FieldType.ID, FieldType.REFERENCE})
DECIMAL_TYPES = frozenset({FieldType.DOUBLE, FieldType.CURRENCY, FieldType.PERCENT})


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of an object. `readable` is field-level security for the querying user: a
    field they cannot read is reported exactly as one that does not exist. `filterable` and
    `sortable` are describe's flags (a long text area is neither). `picklist_values`, in the
    order set up for the picklist, is how ORDER BY sorts a picklist."""

    name: str
    type: FieldType
    readable: bool = True
    filterable: bool = True
    sortable: bool = True
    picklist_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Relationship:
    """A parent relationship (`Account` on Contact, through `AccountId`) and its target object."""

    name: str
    target: str


class Catalog(Protocol):
    """Name resolution, case-insensitive as in Salesforce; every answer carries the canonical
    spelling. None means "no such thing for this user"."""

    def sobject(self, name: str) -> str | None:
        """The canonical name of a queryable object, or None (INVALID_TYPE)."""
        ...

    def field(self, sobject: str, name: str) -> FieldInfo | None:
        """A field of the object (given canonically), or None (INVALID_FIELD)."""
        ...

    def relationship(self, sobject: str, name: str) -> Relationship | None:
        """A parent relationship of the object (given canonically), or None (INVALID_FIELD)."""
        ...


@dataclass(frozen=True, slots=True)
class SObjectSchema:
    """One object for `StaticCatalog`: its fields and its relationships (name -> target)."""

    name: str
    fields: tuple[FieldInfo, ...]
    relationships: Mapping[str, str] = field(default_factory=dict)


class StaticCatalog:
    """A `Catalog` over fixed object descriptions."""

    def __init__(self, objects: Iterable[SObjectSchema]) -> None:
        self._objects = {schema.name.lower(): schema for schema in objects}
        self._fields = {
            key: {info.name.lower(): info for info in schema.fields}
            for key, schema in self._objects.items()
        }
        self._relationships = {
            key: {name.lower(): Relationship(name, target) for name, target in rels.items()}
            for key, rels in ((k, s.relationships) for k, s in self._objects.items())
        }

    def sobject(self, name: str) -> str | None:
        schema = self._objects.get(name.lower())
        return schema.name if schema is not None else None

    def field(self, sobject: str, name: str) -> FieldInfo | None:
        return self._fields.get(sobject.lower(), {}).get(name.lower())

    def relationship(self, sobject: str, name: str) -> Relationship | None:
        return self._relationships.get(sobject.lower(), {}).get(name.lower())
