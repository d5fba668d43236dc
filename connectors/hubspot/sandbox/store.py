"""The sandbox's state: CRM objects, associations, property definitions, a change log, and a
search index that may lag behind writes. One re-entrant lock guards everything, so the app (in
a uvicorn thread) and a test poking the store never see half a write.

Values are stored as HubSpot returns them: strings, timestamps in ISO 8601 with ms and Z. A
property without a value is absent from `properties` (HubSpot returns null for it when asked;
the sandbox leaves it out, see README). Every write bumps `lastmodifieddate` (contacts) or
`hs_lastmodifieddate` (engagements) from a non-decreasing millisecond clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from connectors.hubspot.sandbox.properties import (
    CREATED_PROPERTY,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    InvalidValue,
    PropertyDefinition,
    PropertyGroup,
    default_definitions,
    default_groups,
    iso,
    normalise,
)

# First id handed out per object type (HubSpot ids are numeric strings, unique per type).
_FIRST_ID = {
    "contacts": 101,
    "emails": 30_000_001,
    "calls": 40_000_001,
    "meetings": 50_000_001,
    "notes": 60_000_001,
    "tasks": 70_000_001,
    "tickets": 80_000_001,
    "deals": 90_000_001,
    "feedback_submissions": 95_000_001,
}
_MODIFIED = MODIFIED_PROPERTY
_CREATED = CREATED_PROPERTY
# System properties that change on every write: never reported as property changes.
SYSTEM_PROPERTIES = frozenset(
    {"lastmodifieddate", "hs_lastmodifieddate", "hs_object_id", "createdate", "hs_createdate"}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChangeKind(StrEnum):
    CREATION = "creation"
    DELETION = "deletion"
    PROPERTY_CHANGE = "propertyChange"
    MERGE = "merge"
    RESTORE = "restore"
    PRIVACY_DELETION = "privacyDeletion"
    ASSOCIATION_CHANGE = "associationChange"


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: what webhooks are made of."""

    kind: ChangeKind
    object_type: str
    object_id: str
    occurred_at: datetime
    source: str
    property_name: str | None = None
    property_value: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CrmObject:
    object_type: str
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None
    merged_into: str | None = None

    def snapshot(self) -> CrmObject:
        return replace(self, properties=dict(self.properties))


class StoreError(Exception):
    """A write the CRM would refuse; `category` is HubSpot's error category."""

    def __init__(self, message: str, *, category: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.status = status


class InvalidProperties(StoreError):
    def __init__(self, errors: list[InvalidValue]) -> None:
        super().__init__(
            "Property values were not valid: "
            + "; ".join(f"{error.name}: {error.message}" for error in errors),
            category="VALIDATION_ERROR",
        )
        self.errors = errors


Listener = Callable[[Change], None]


class Store:
    """In-memory CRM. Public methods take the lock; `locked()` holds it across several calls."""

    def __init__(
        self,
        *,
        search_lag_seconds: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.monotonic = monotonic
        self.search_lag_seconds = search_lag_seconds
        self.definitions: dict[str, dict[str, PropertyDefinition]] = default_definitions()
        self.groups: dict[str, dict[str, PropertyGroup]] = default_groups()
        self._objects: dict[str, dict[str, CrmObject]] = {t: {} for t in OBJECT_TYPES}
        self._next_id = dict(_FIRST_ID)
        # (object type, id) -> other object type -> ids, kept in both directions.
        self._links: dict[tuple[str, str], dict[str, set[str]]] = {}
        self.changes: list[Change] = []
        # Bumped by every write: reads may reuse what they computed at the same revision.
        self.revision = 0
        self._listing: dict[tuple[str, bool], tuple[int, list[CrmObject]]] = {}
        self._listeners: list[Listener] = []
        self._versions: dict[str, list[tuple[float, CrmObject | None]]] = {}
        self._last_tick: datetime | None = None
        self._emails: dict[str, str] = {}  # lower-cased email -> contact id (unique property)

    # --- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[Store]:
        with self._lock:
            yield self

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def tick(self) -> datetime:
        """Now, to the millisecond, never before the previous tick."""
        with self._lock:
            self.revision += 1
            now = self.clock().astimezone(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_tick is not None and now < self._last_tick:
                now = self._last_tick
            self._last_tick = now
            return now

    def _emit(self, changes: Iterable[Change], emit: bool) -> None:
        if not emit:
            return
        for change in changes:
            self.changes.append(change)
            for listener in list(self._listeners):
                listener(change)

    def _record(self, obj: CrmObject | None, object_id: str, object_type: str) -> None:
        """Keep the versions the lagging search index may still serve."""
        self.revision += 1
        if object_type != "contacts":
            return
        now = self.monotonic()
        versions = self._versions.setdefault(object_id, [])
        versions.append((now, obj.snapshot() if obj is not None else None))
        cutoff = now - max(self.search_lag_seconds, 0.0)
        while len(versions) > 1 and versions[1][0] <= cutoff:
            versions.pop(0)

    def _new_id(self, object_type: str) -> str:
        value = self._next_id[object_type]
        self._next_id[object_type] = value + 1
        return str(value)

    def _touch(self, obj: CrmObject, at: datetime) -> None:
        obj.updated_at = at
        obj.properties[_MODIFIED[obj.object_type]] = iso(at)
        email = obj.properties.get("email") if obj.object_type == "contacts" else None
        if email and not obj.archived:
            self._emails[email.lower()] = obj.id

    # --- property definitions ---------------------------------------------------------------

    def definition(self, object_type: str, name: str) -> PropertyDefinition | None:
        with self._lock:
            return self.definitions.get(object_type, {}).get(name)

    def check(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        *,
        allow_read_only: bool = False,
    ) -> tuple[dict[str, str], list[InvalidValue]]:
        """Normalised values, and every value HubSpot would refuse (unknown, read-only, bad)."""
        values: dict[str, str] = {}
        errors: list[InvalidValue] = []
        with self._lock:
            known = self.definitions[object_type]
            for name, raw in properties.items():
                definition = known.get(name)
                if definition is None:
                    errors.append(
                        InvalidValue(
                            name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
                        )
                    )
                    continue
                if definition.read_only and not allow_read_only:
                    errors.append(
                        InvalidValue(
                            name,
                            "READ_ONLY_VALUE",
                            f'"{name}" is a read only property; its value cannot be set.',
                        )
                    )
                    continue
                text = (
                    "" if raw is None else (str(raw).lower() if isinstance(raw, bool) else str(raw))
                )
                result = normalise(definition, text)
                if isinstance(result, InvalidValue):
                    errors.append(result)
                else:
                    values[name] = result
        return values, errors

    def add_property(self, object_type: str, definition: PropertyDefinition) -> None:
        with self._lock:
            if definition.name in self.definitions[object_type]:
                raise StoreError(
                    f"A property named '{definition.name}' already exists.",
                    category="OBJECT_ALREADY_EXISTS",
                    status=409,
                )
            if definition.group_name not in self.groups[object_type]:
                raise StoreError(
                    f"Property group '{definition.group_name}' does not exist.",
                    category="VALIDATION_ERROR",
                )
            self.definitions[object_type][definition.name] = definition

    def add_group(self, object_type: str, group: PropertyGroup) -> None:
        with self._lock:
            if group.name in self.groups[object_type]:
                raise StoreError(
                    f"A property group named '{group.name}' already exists.",
                    category="OBJECT_ALREADY_EXISTS",
                    status=409,
                )
            self.groups[object_type][group.name] = group

    # --- reads ------------------------------------------------------------------------------

    def resolve(self, object_type: str, object_id: str) -> CrmObject | None:
        """The object by id, following merges to the surviving record."""
        with self._lock:
            objects = self._objects[object_type]
            obj = objects.get(object_id)
            seen = set()
            while obj is not None and obj.merged_into is not None and obj.id not in seen:
                seen.add(obj.id)
                obj = objects.get(obj.merged_into)
            return obj

    def get(self, object_type: str, object_id: str, *, archived: bool = False) -> CrmObject | None:
        """A live (or, with archived=True, an archived) object; merged ids lead to the survivor."""
        with self._lock:
            obj = self.resolve(object_type, object_id)
            if obj is None or obj.archived != archived:
                return None
            return obj

    def find_by(self, object_type: str, name: str, value: str) -> CrmObject | None:
        with self._lock:
            if name == "hs_object_id":
                return self.get(object_type, value)
            folded = value.lower()
            if object_type == "contacts" and name == "email":
                found = self._objects["contacts"].get(self._emails.get(folded, ""))
                if found is None or found.archived:
                    return None
                return found if found.properties.get("email", "").lower() == folded else None
            for obj in self._objects[object_type].values():
                if not obj.archived and obj.properties.get(name, "").lower() == folded:
                    return obj
            return None

    def all(self, object_type: str, *, archived: bool = False) -> list[CrmObject]:
        """Objects in id order: live ones, or archived ones (merged-away records excluded).

        Paging a large store asks for this once per page: it is kept until the next write."""
        with self._lock:
            cached = self._listing.get((object_type, archived))
            if cached is not None and cached[0] == self.revision:
                return list(cached[1])
            chosen = sorted(
                (
                    obj
                    for obj in self._objects[object_type].values()
                    if obj.archived == archived and obj.merged_into is None
                ),
                key=lambda obj: int(obj.id),
            )
            self._listing[(object_type, archived)] = (self.revision, chosen)
            return list(chosen)

    def count(self, object_type: str) -> int:
        with self._lock:
            return sum(1 for obj in self._objects[object_type].values() if not obj.archived)

    def search_view(self, object_type: str) -> list[CrmObject]:
        """What the search index holds: live objects as they were `search_lag_seconds` ago."""
        with self._lock:
            if object_type != "contacts" or self.search_lag_seconds <= 0:
                return self.all(object_type)
            cutoff = self.monotonic() - self.search_lag_seconds
            visible: list[CrmObject] = []
            for versions in self._versions.values():
                seen: CrmObject | None = None
                for stamp, version in versions:
                    if stamp > cutoff:
                        break
                    seen = version
                if seen is not None and not seen.archived and seen.merged_into is None:
                    visible.append(seen)
            return sorted(visible, key=lambda obj: int(obj.id))

    def associated(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        with self._lock:
            ids = self._links.get((object_type, object_id), {}).get(to_type, set())
            return sorted(ids, key=int)

    # --- writes -----------------------------------------------------------------------------

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str],
        *,
        source: str = "API",
        emit: bool = True,
        object_id: str | None = None,
        created_at: datetime | None = None,
        modified_at: datetime | None = None,
    ) -> CrmObject:
        """A new object from normalised values (`check` them first); refuses duplicate emails."""
        with self._lock:
            email = properties.get("email", "") if object_type == "contacts" else ""
            if email:
                existing = self.find_by("contacts", "email", email)
                if existing is not None:
                    raise StoreError(
                        f"Contact already exists. Existing ID: {existing.id}",
                        category="CONFLICT",
                        status=409,
                    )
            if object_id is None:
                object_id = self._new_id(object_type)
            else:
                if object_id in self._objects[object_type]:
                    raise StoreError(
                        f"Object {object_id} already exists", category="CONFLICT", status=409
                    )
                if object_id.isdigit():
                    self._next_id[object_type] = max(self._next_id[object_type], int(object_id) + 1)
            now = self.tick()
            created = created_at or now
            values = {k: v for k, v in properties.items() if v != ""}
            values[_CREATED[object_type]] = iso(created)
            values["hs_object_id"] = object_id
            obj = CrmObject(object_type, object_id, values, created, created)
            self._touch(obj, modified_at or now)
            self._objects[object_type][object_id] = obj
            self._record(obj, object_id, object_type)
            changes = [Change(ChangeKind.CREATION, object_type, object_id, now, source)]
            changes += [
                Change(ChangeKind.PROPERTY_CHANGE, object_type, object_id, now, source, name, v)
                for name, v in sorted(values.items())
                if name not in SYSTEM_PROPERTIES
            ]
            self._emit(changes, emit)
            return obj

    def update(
        self,
        object_type: str,
        object_id: str,
        properties: Mapping[str, str],
        *,
        source: str = "API",
        emit: bool = True,
        at: datetime | None = None,
    ) -> CrmObject:
        """Apply normalised values ("" clears); the live object, or StoreError 404."""
        with self._lock:
            obj = self.get(object_type, object_id)
            if obj is None:
                raise StoreError(
                    f"Object not found. objectId are usually numeric. ({object_id})",
                    category="OBJECT_NOT_FOUND",
                    status=404,
                )
            if object_type == "contacts" and properties.get("email"):
                other = self.find_by("contacts", "email", properties["email"])
                if other is not None and other.id != obj.id:
                    raise StoreError(
                        f"Contact already exists. Existing ID: {other.id}",
                        category="CONFLICT",
                        status=409,
                    )
            now = self.tick()
            changes: list[Change] = []
            for name, value in properties.items():
                if obj.properties.get(name, "") == value:
                    continue
                if value == "":
                    obj.properties.pop(name, None)
                else:
                    obj.properties[name] = value
                changes.append(
                    Change(
                        ChangeKind.PROPERTY_CHANGE, object_type, obj.id, now, source, name, value
                    )
                )
            self._touch(obj, at or now)
            self._record(obj, obj.id, object_type)
            self._emit(changes, emit)
            return obj

    def archive(self, object_type: str, object_id: str, *, source: str = "API") -> bool:
        with self._lock:
            obj = self._objects[object_type].get(object_id)
            if obj is None or obj.archived:
                return False
            now = self.tick()
            obj.archived, obj.archived_at = True, now
            self._touch(obj, now)
            self._record(obj, obj.id, object_type)
            self._emit([Change(ChangeKind.DELETION, object_type, obj.id, now, source)], True)
            return True

    def restore(self, object_type: str, object_id: str, *, source: str = "CRM_UI") -> CrmObject:
        with self._lock:
            obj = self._objects[object_type].get(object_id)
            if obj is None or not obj.archived or obj.merged_into is not None:
                raise StoreError(
                    f"No archived object {object_id} to restore"
                    + (" (it was merged)" if obj is not None and obj.merged_into else ""),
                    category="OBJECT_NOT_FOUND",
                    status=404,
                )
            now = self.tick()
            obj.archived, obj.archived_at = False, None
            self._touch(obj, now)
            self._record(obj, obj.id, object_type)
            self._emit([Change(ChangeKind.RESTORE, object_type, obj.id, now, source)], True)
            return obj

    def merge(self, primary_id: str, merged_id: str, *, source: str = "API") -> CrmObject:
        """Merge contact `merged_id` into `primary_id`: the primary keeps its id and its values,
        gains the values it lacked and the other's associations; the other is archived and its
        id resolves to the primary from then on."""
        with self._lock:
            primary = self.get("contacts", primary_id)
            merged = self.get("contacts", merged_id)
            if primary is None or merged is None:
                missing = primary_id if primary is None else merged_id
                raise StoreError(
                    f"Object not found. objectId are usually numeric. ({missing})",
                    category="OBJECT_NOT_FOUND",
                    status=404,
                )
            if primary.id == merged.id:
                raise StoreError("Cannot merge an object with itself", category="VALIDATION_ERROR")
            now = self.tick()
            moved: list[Change] = []
            for name, value in merged.properties.items():
                if name in SYSTEM_PROPERTIES or name == "hs_merged_object_ids":
                    continue
                if value and not primary.properties.get(name):
                    primary.properties[name] = value
                    moved.append(
                        Change(
                            ChangeKind.PROPERTY_CHANGE,
                            "contacts",
                            primary.id,
                            now,
                            source,
                            name,
                            value,
                        )
                    )
            earlier = [
                part
                for text in (
                    primary.properties.get("hs_merged_object_ids", ""),
                    merged.properties.get("hs_merged_object_ids", ""),
                )
                for part in text.split(";")
                if part
            ]
            merged_ids = list(dict.fromkeys([*earlier, merged.id]))
            primary.properties["hs_merged_object_ids"] = ";".join(merged_ids)
            for to_type, ids in self._links.pop(("contacts", merged.id), {}).items():
                for other in ids:
                    back = self._links.get((to_type, other), {}).get("contacts", set())
                    back.discard(merged.id)
                    back.add(primary.id)
                    self._links.setdefault(("contacts", primary.id), {}).setdefault(
                        to_type, set()
                    ).add(other)
            merged.archived, merged.archived_at, merged.merged_into = True, now, primary.id
            self._touch(merged, now)
            self._touch(primary, now)
            self._record(primary, primary.id, "contacts")
            self._record(merged, merged.id, "contacts")
            merge = Change(
                ChangeKind.MERGE,
                "contacts",
                primary.id,
                now,
                source,
                details={
                    "primaryObjectId": primary.id,
                    "mergedObjectIds": [merged.id],
                    "newObjectId": primary.id,
                    "numberOfPropertiesMoved": len(moved),
                },
            )
            self._emit([merge, *moved], True)
            return primary

    def privacy_delete(self, object_id: str, *, source: str = "API") -> bool:
        """Permanently delete a contact (GDPR): gone from every read, its links removed."""
        with self._lock:
            obj = self.resolve("contacts", object_id)
            if obj is None:
                return False
            now = self.tick()
            for merged_id in [
                o.id for o in self._objects["contacts"].values() if o.merged_into == obj.id
            ]:
                self._objects["contacts"].pop(merged_id, None)
                self._record(None, merged_id, "contacts")
            self._objects["contacts"].pop(obj.id, None)
            for to_type, ids in self._links.pop(("contacts", obj.id), {}).items():
                for other in ids:
                    self._links.get((to_type, other), {}).get("contacts", set()).discard(obj.id)
            self._record(None, obj.id, "contacts")
            self._emit([Change(ChangeKind.PRIVACY_DELETION, "contacts", obj.id, now, source)], True)
            return True

    def associate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        *,
        source: str = "API",
        emit: bool = True,
    ) -> None:
        with self._lock:
            self._links.setdefault((from_type, from_id), {}).setdefault(to_type, set()).add(to_id)
            self._links.setdefault((to_type, to_id), {}).setdefault(from_type, set()).add(from_id)
            contact_side = (from_type, from_id, to_type, to_id)
            if to_type == "contacts":
                contact_side = (to_type, to_id, from_type, from_id)
            if contact_side[0] == "contacts":
                now = self.tick()
                self._emit(
                    [
                        Change(
                            ChangeKind.ASSOCIATION_CHANGE,
                            "contacts",
                            contact_side[1],
                            now,
                            source,
                            details={
                                "associationType": f"CONTACT_TO_{contact_side[2][:-1].upper()}",
                                "fromObjectId": contact_side[1],
                                "toObjectId": contact_side[3],
                                "associationRemoved": False,
                                "isPrimaryAssociation": False,
                            },
                        )
                    ],
                    emit,
                )

    def create_engagement(
        self,
        object_type: str,
        properties: Mapping[str, str],
        contact_id: str,
        *,
        source: str = "API",
        emit: bool = True,
        at: datetime | None = None,
    ) -> CrmObject:
        with self._lock:
            obj = self.create(
                object_type, properties, source=source, emit=emit, created_at=at, modified_at=at
            )
            self.associate("contacts", contact_id, object_type, obj.id, source=source, emit=emit)
            return obj
