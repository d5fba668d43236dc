"""The CRM search API's semantics: filterGroups (OR of ANDed filters), sorts, paging, the cap.

Values compare by the property's type: numbers as numbers, datetimes and dates as epoch
milliseconds (filter values may be epoch ms or ISO 8601), everything else as case-insensitive
text. A record without a value matches only NEQ, NOT_IN, NOT_HAS_PROPERTY and
NOT_CONTAINS_TOKEN. Records sort by the requested properties (missing values last), then by id.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.sandbox.properties import PropertyDefinition, epoch_ms, parse_moment
from connectors.hubspot.sandbox.store import CrmObject

SEARCH_CAP = 10_000
MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
QUERY_PROPERTIES = ("firstname", "lastname", "email", "phone", "company", "website")


class SearchError(ValueError):
    """An invalid search request (HubSpot answers 400)."""


Key = tuple[int, Any]  # (kind, value): comparable within one property's type


def _key(definition: PropertyDefinition | None, value: str) -> Key | None:
    kind = definition.type if definition is not None else "string"
    if kind == "number":
        try:
            return (0, float(value))
        except ValueError:
            return None
    if kind in ("datetime", "date"):
        moment = parse_moment(value)
        return (0, epoch_ms(moment)) if moment is not None else None
    return (1, value.lower())


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    operator: str
    value: str | None
    high: str | None
    values: tuple[str, ...]
    definition: PropertyDefinition | None

    def matches(self, obj: CrmObject) -> bool:
        raw = obj.properties.get(self.name, "")
        op = self.operator
        if op == "HAS_PROPERTY":
            return raw != ""
        if op == "NOT_HAS_PROPERTY":
            return raw == ""
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            found = raw != "" and _contains_token(raw, self.value or "")
            return found if op == "CONTAINS_TOKEN" else not found
        if op in ("IN", "NOT_IN"):
            own = _key(self.definition, raw) if raw else None
            inside = own is not None and any(_key(self.definition, v) == own for v in self.values)
            return inside if op == "IN" else not inside
        own = _key(self.definition, raw) if raw else None
        wanted = _key(self.definition, self.value or "")
        if op == "NEQ":
            return own is None or own != wanted
        if own is None or wanted is None or own[0] != wanted[0]:
            return False
        if op == "EQ":
            return own == wanted
        if op == "BETWEEN":
            high = _key(self.definition, self.high or "")
            return high is not None and high[0] == own[0] and wanted <= own <= high
        compare: dict[str, Callable[[Key, Key], bool]] = {
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
        }
        return compare[op](own, wanted)


def _contains_token(raw: str, pattern: str) -> bool:
    pattern = pattern.lower()
    text = raw.lower()
    if fnmatch.fnmatchcase(text, pattern):
        return True
    return any(
        fnmatch.fnmatchcase(token, pattern) for token in re.split(r"[^\w@.*-]+", text) if token
    )


@dataclass(frozen=True, slots=True)
class Sort:
    name: str
    descending: bool
    definition: PropertyDefinition | None


@dataclass(frozen=True, slots=True)
class SearchRequest:
    groups: tuple[tuple[Filter, ...], ...]
    sorts: tuple[Sort, ...]
    properties: tuple[str, ...] | None
    limit: int
    offset: int
    query: str | None


def parse_request(
    body: Mapping[str, Any], definitions: Mapping[str, PropertyDefinition]
) -> SearchRequest:
    groups_raw = body.get("filterGroups") or []
    if not isinstance(groups_raw, list):
        raise SearchError("filterGroups must be a list")
    if len(groups_raw) > MAX_GROUPS:
        raise SearchError(
            f"Too many filter groups ({len(groups_raw)}); the maximum is {MAX_GROUPS}"
        )
    groups: list[tuple[Filter, ...]] = []
    total = 0
    for group in groups_raw:
        filters_raw = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters_raw, list):
            raise SearchError("each filter group needs a list of filters")
        if len(filters_raw) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a group ({len(filters_raw)}); "
                f"the maximum is {MAX_FILTERS_PER_GROUP}"
            )
        total += len(filters_raw)
        groups.append(tuple(_filter(item, definitions) for item in filters_raw))
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters ({total}); the maximum is {MAX_FILTERS}")
    limit = _integer(body.get("limit", 10), "limit")
    if limit < 0 or limit > MAX_LIMIT:
        raise SearchError(f"limit must be between 0 and {MAX_LIMIT}, not {limit}")
    offset = _integer(body.get("after") or 0, "after")
    if offset < 0:
        raise SearchError("after must not be negative")
    if offset + limit > SEARCH_CAP:
        raise SearchError(
            f"The search API returns at most {SEARCH_CAP} results per query: "
            f"after ({offset}) + limit ({limit}) is past it"
        )
    properties = body.get("properties")
    names = (
        tuple(str(p) for p in properties) if isinstance(properties, list) and properties else None
    )
    query = body.get("query")
    return SearchRequest(
        groups=tuple(groups),
        sorts=tuple(_sort(item, definitions) for item in body.get("sorts") or []),
        properties=names,
        limit=limit,
        offset=offset,
        query=str(query) if query else None,
    )


def _integer(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SearchError(f"{name} must be an integer, not {value!r}") from None


def _filter(item: Any, definitions: Mapping[str, PropertyDefinition]) -> Filter:
    if not isinstance(item, dict):
        raise SearchError("a filter must be an object")
    name = str(item.get("propertyName") or "")
    operator = str(item.get("operator") or "EQ")
    if operator not in OPERATORS:
        raise SearchError(f"Unknown operator {operator!r}")
    if name not in definitions:
        raise SearchError(f"Property {name!r} does not exist")
    if operator in ("IN", "NOT_IN"):
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(f"{operator} needs a non-empty 'values' list")
    elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and item.get("value") is None:
        raise SearchError(f"{operator} needs a 'value'")
    if operator == "BETWEEN" and item.get("highValue") is None:
        raise SearchError("BETWEEN needs a 'highValue'")
    value = item.get("value")
    high = item.get("highValue")
    return Filter(
        name,
        operator,
        None if value is None else str(value),
        None if high is None else str(high),
        tuple(str(v) for v in item.get("values") or ()),
        definitions[name],
    )


def _sort(item: Any, definitions: Mapping[str, PropertyDefinition]) -> Sort:
    """A sort: {"propertyName", "direction"} (what the API documents) or a bare string
    ("createdate", "-createdate" descending), which the specs' schema declares."""
    if isinstance(item, str):
        name, descending = item.lstrip("-"), item.startswith("-")
    elif isinstance(item, dict):
        name = str(item.get("propertyName") or "")
        descending = str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise SearchError("a sort must be an object or a property name")
    if name not in definitions:
        raise SearchError(f"Cannot sort by unknown property {name!r}")
    return Sort(name, descending, definitions[name])


def _matches_query(obj: CrmObject, query: str) -> bool:
    words = query.lower().split()
    haystack = " ".join(obj.properties.get(name, "") for name in QUERY_PROPERTIES).lower()
    return all(word.strip("*") in haystack for word in words)


def run(request: SearchRequest, objects: Sequence[CrmObject]) -> tuple[list[CrmObject], int]:
    """The page of matching objects, and how many match in all."""
    ordered = ordered_matches(request, objects)
    return ordered[request.offset : request.offset + request.limit], len(ordered)


def ordered_matches(request: SearchRequest, objects: Sequence[CrmObject]) -> list[CrmObject]:
    """Every matching object, in the request's order (paging slices this)."""
    matched = [
        obj
        for obj in objects
        if (not request.groups or any(all(f.matches(obj) for f in g) for g in request.groups))
        and (request.query is None or _matches_query(obj, request.query))
    ]
    ordered = sorted(matched, key=lambda obj: int(obj.id))
    for sort in reversed(request.sorts):

        def has(obj: CrmObject, sort: Sort = sort) -> bool:
            raw = obj.properties.get(sort.name, "")
            return raw != "" and _key(sort.definition, raw) is not None

        present = [o for o in ordered if has(o)]
        absent = [o for o in ordered if not has(o)]
        present.sort(
            key=lambda o: _key(sort.definition, o.properties[sort.name]) or (0, 0),
            reverse=sort.descending,
        )
        ordered = present + absent
    return ordered
