"""Checking a parsed query against a catalog, and what it compiles to: the canonical field
paths, a predicate and a sort key over rows, the limit.

Everything is checked before any row is read, in the order Salesforce reports it: the object,
then the selected fields, then the WHERE clause, then ORDER BY. A row is read through a getter
of canonical paths (`("Account", "Industry")`), so the sandbox resolves parents its own way; a
missing parent reads as null.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.salesforce.sandbox.soql.catalog import (
    DECIMAL_TYPES,
    ID_TYPES,
    TEXT_TYPES,
    Catalog,
    FieldInfo,
    FieldType,
)
from connectors.salesforce.sandbox.soql.errors import ErrorCode, SoqlError, positioned, unplaced
from connectors.salesforce.sandbox.soql.parser import parse
from connectors.salesforce.sandbox.soql.syntax import (
    And,
    Comparison,
    Condition,
    Like,
    Literal,
    LiteralKind,
    Membership,
    Name,
    Not,
    Or,
    Select,
)
from connectors.salesforce.sandbox.soql.values import (
    Normaliser,
    is_record_id,
    normaliser,
    sort_normaliser,
)

FieldPath = tuple[str, ...]
RowGetter = Callable[[FieldPath], object]
Predicate = Callable[[RowGetter], bool]
R = TypeVar("R")

_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_CUSTOM_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_CUSTOM_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)


def _type_word(kind: FieldType) -> str:
    """The type as Salesforce names it in filter errors."""
    if kind in TEXT_TYPES:
        return "string"
    if kind in ID_TYPES:
        return "id"
    return {
        FieldType.BOOLEAN: "boolean",
        FieldType.INT: "integer",
        FieldType.DATE: "date",
        FieldType.DATETIME: "dateTime",
    }.get(kind, "double")


_ACCEPTED: dict[FieldType, frozenset[LiteralKind]] = {
    **{kind: frozenset({LiteralKind.STRING}) for kind in TEXT_TYPES | ID_TYPES},
    FieldType.BOOLEAN: frozenset({LiteralKind.BOOLEAN}),
    FieldType.INT: frozenset({LiteralKind.INTEGER}),
    **{kind: frozenset({LiteralKind.INTEGER, LiteralKind.DECIMAL}) for kind in DECIMAL_TYPES},
    FieldType.DATE: frozenset({LiteralKind.DATE}),
    FieldType.DATETIME: frozenset({LiteralKind.DATETIME}),
}
_ORDERING = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class SelectedField:
    """A resolved field: its canonical path (relationship names, then the field) and describe."""

    path: FieldPath
    info: FieldInfo

    @property
    def name(self) -> str:
        """The dotted canonical name, e.g. `Account.Industry`."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class SortItem:
    field: SelectedField
    descending: bool
    nulls_last: bool
    key: Normaliser = dataclasses.field(compare=False, repr=False)  # the value's sort form


@dataclass(frozen=True, slots=True)
class SortKey:
    """A row's place in ORDER BY: `sorted(rows, key=lambda r: query.sort_key(getter(r)))`."""

    parts: tuple[Any, ...]  # None for null, otherwise the sort form of the value
    items: tuple[SortItem, ...]

    def __lt__(self, other: SortKey) -> bool:
        for mine, theirs, item in zip(self.parts, other.parts, self.items, strict=True):
            if mine is None and theirs is None:
                continue
            if mine is None or theirs is None:
                # A null comes first unless NULLS LAST (the default of DESC).
                return (mine is None) != item.nulls_last
            if mine == theirs:
                continue
            return bool(mine > theirs) if item.descending else bool(mine < theirs)
        return False


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A checked query. `fields` is empty for COUNT() (whose answer is the number of rows `run`
    returns: LIMIT caps it); `paths` lists every path the query reads, select list first.

    A row getter answers a canonical path with a Python value, None for null (and for a path
    through a missing parent): str for text, id and reference fields; bool; int; int, float or
    Decimal for double, currency and percent; a date (or "YYYY-MM-DD"); a datetime (aware; a
    naive one is taken as UTC) or its ISO 8601 text, such as "2024-01-01T00:00:00.000+0000".
    """

    text: str
    sobject: str
    fields: tuple[SelectedField, ...]
    is_count: bool
    order_by: tuple[SortItem, ...]
    limit: int | None
    paths: tuple[FieldPath, ...]
    predicate: Predicate

    def matches(self, row: RowGetter) -> bool:
        """Whether the row passes WHERE."""
        return self.predicate(row)

    def sort_key(self, row: RowGetter) -> SortKey:
        """The row's place in ORDER BY (all rows are equal without ORDER BY)."""
        return SortKey(
            tuple(item.key(row(item.field.path)) for item in self.order_by), self.order_by
        )

    def run(self, records: Iterable[R], get: Callable[[R, FieldPath], object]) -> list[R]:
        """WHERE, then ORDER BY (stable: ties keep the input order), then LIMIT."""
        kept = [record for record in records if self.predicate(_getter(record, get))]
        if self.order_by:
            kept.sort(key=lambda record: self.sort_key(_getter(record, get)))
        return kept if self.limit is None else kept[: self.limit]


def _getter(record: R, get: Callable[[R, FieldPath], object]) -> RowGetter:
    return lambda path: get(record, path)


def compile_query(text: str, catalog: Catalog) -> CompiledQuery:
    """Parse and check `text` against `catalog` (SoqlError if Salesforce would refuse it)."""
    return _Compiler(parse(text), catalog).compile()


class _Compiler:
    def __init__(self, select: Select, catalog: Catalog) -> None:
        self.select = select
        self.catalog = catalog
        self.sobject = ""
        self.paths: list[FieldPath] = []

    def error(self, code: ErrorCode, name: Name | Literal, detail: str) -> SoqlError:
        return positioned(code, self.select.text, name.span, detail, self.select.spans)

    def compile(self) -> CompiledQuery:
        select = self.select
        sobject = self.catalog.sobject(select.sobject.text)
        if sobject is None:
            raise self.error(
                ErrorCode.INVALID_TYPE,
                select.sobject,
                f"sObject type '{select.sobject.text}' is not supported. {_CUSTOM_OBJECT_HINT}",
            )
        self.sobject = sobject
        fields = tuple(self.resolve(name) for name in select.fields)
        seen: set[FieldPath] = set()
        for selected in fields:
            if selected.path in seen:
                raise unplaced(
                    ErrorCode.INVALID_FIELD, f"duplicate field selected: {selected.name}"
                )
            seen.add(selected.path)
        predicate: Predicate = _always
        if select.where is not None:
            predicate = self.condition(select.where)
        if select.count and select.order_by:
            raise self.error(
                ErrorCode.MALFORMED_QUERY,
                select.order_by[0].field,
                "COUNT() can't be used with ORDER BY",
            )
        order_by = []
        for item in select.order_by:
            resolved = self.resolve(item.field)
            if not resolved.info.sortable:
                raise self.error(
                    ErrorCode.INVALID_FIELD,
                    item.field,
                    f"field '{resolved.info.name}' can not be sorted in a query call",
                )
            key = sort_normaliser(resolved.info)
            order_by.append(SortItem(resolved, item.descending, item.nulls_last, key))
        return CompiledQuery(
            text=select.text,
            sobject=sobject,
            fields=fields,
            is_count=select.count,
            order_by=tuple(order_by),
            limit=select.limit,
            paths=tuple(dict.fromkeys(self.paths)),
            predicate=predicate,
        )

    def resolve(self, name: Name) -> SelectedField:
        segments = name.segments
        sobject = self.sobject
        # `SELECT Lead.Name FROM Lead`: a path may start with the queried object's name.
        if (
            len(segments) > 1
            and segments[0].lower() == sobject.lower()
            and self.catalog.relationship(sobject, segments[0]) is None
        ):
            segments = segments[1:]
        path: list[str] = []
        for segment in segments[:-1]:
            relationship = self.catalog.relationship(sobject, segment)
            if relationship is None:
                raise self.error(
                    ErrorCode.INVALID_FIELD,
                    name,
                    f"Didn't understand relationship '{segment}' in field path. "
                    f"{_CUSTOM_RELATIONSHIP_HINT}",
                )
            path.append(relationship.name)
            sobject = relationship.target
        info = self.catalog.field(sobject, segments[-1])
        if info is None or not info.readable:
            # Field-level security: a field the user cannot read does not exist for them.
            raise self.error(
                ErrorCode.INVALID_FIELD,
                name,
                f"No such column '{segments[-1]}' on entity '{sobject}'. {_CUSTOM_FIELD_HINT}",
            )
        path.append(info.name)
        resolved = SelectedField(tuple(path), info)
        self.paths.append(resolved.path)
        return resolved

    # -- WHERE ----------------------------------------------------------------------------

    def condition(self, node: Condition) -> Predicate:
        if isinstance(node, And):
            parts = tuple(self.condition(operand) for operand in node.operands)
            return lambda row: all(part(row) for part in parts)
        if isinstance(node, Or):
            parts = tuple(self.condition(operand) for operand in node.operands)
            return lambda row: any(part(row) for part in parts)
        if isinstance(node, Not):
            inner = self.condition(node.operand)
            return lambda row: not inner(row)
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Membership):
            return self.membership(node)
        return self.like(node)

    def filtered(self, name: Name, operator: str) -> SelectedField:
        """The field a filter reads, checked as filterable and as taking `operator`."""
        resolved = self.resolve(name)
        info = resolved.info
        if not info.filterable:
            raise self.error(
                ErrorCode.INVALID_FIELD,
                name,
                f"field '{info.name}' can not be filtered in a query call",
            )
        refused = (operator == "LIKE" and info.type not in TEXT_TYPES) or (
            operator in _ORDERING and info.type is FieldType.BOOLEAN
        )
        if refused:
            raise self.error(
                ErrorCode.INVALID_QUERY_FILTER_OPERATOR,
                name,
                f"invalid operator on {_type_word(info.type)} field",
            )
        return resolved

    def literal(self, name: Name, info: FieldInfo, literal: Literal) -> object:
        """The literal's comparison form, once checked against the field's type."""
        if literal.kind is not LiteralKind.NULL and literal.kind not in _ACCEPTED[info.type]:
            quoted = info.type in TEXT_TYPES or info.type in ID_TYPES
            raise self.error(
                ErrorCode.INVALID_FIELD,
                name,
                f"value of filter criterion for field '{info.name}' must be of type "
                f"{_type_word(info.type)} and should {'' if quoted else 'not '}be enclosed "
                "in quotes",
            )
        if (
            info.type in ID_TYPES
            and isinstance(literal.value, str)
            and not is_record_id(literal.value)
        ):
            raise self.error(
                ErrorCode.INVALID_QUERY_FILTER_OPERATOR,
                name,
                f"invalid ID field: {literal.value}",
            )
        return normaliser(info)(literal.value)

    def comparison(self, node: Comparison) -> Predicate:
        resolved = self.filtered(node.field, node.operator)
        path, norm = resolved.path, normaliser(resolved.info)
        expected: Any = self.literal(node.field, resolved.info, node.value)
        operator = node.operator
        if operator == "=":
            if expected is None:
                return lambda row: norm(row(path)) is None
            return lambda row: norm(row(path)) == expected
        if operator == "!=":
            # Unlike SQL, != keeps the rows where the field is null.
            if expected is None:
                return lambda row: norm(row(path)) is not None
            return lambda row: norm(row(path)) != expected
        if expected is None:
            return _never  # nothing is less or greater than null
        compare = _ORDER_TESTS[operator]
        return lambda row: _ordered(norm(row(path)), expected, compare)

    def membership(self, node: Membership) -> Predicate:
        resolved = self.filtered(node.field, "NOT IN" if node.negated else "IN")
        path, norm = resolved.path, normaliser(resolved.info)
        # Every value is checked against the field's type, so a list of mixed types is refused.
        accepted = frozenset(self.literal(node.field, resolved.info, v) for v in node.values)
        if node.negated:
            return lambda row: norm(row(path)) not in accepted
        return lambda row: norm(row(path)) in accepted

    def like(self, node: Like) -> Predicate:
        resolved = self.filtered(node.field, "LIKE")
        if node.pattern is None:
            raise self.error(
                ErrorCode.INVALID_FIELD,
                node.field,
                f"value of filter criterion for field '{resolved.info.name}' must be of type "
                "string and should be enclosed in quotes",
            )
        path, pattern = resolved.path, node.pattern
        return lambda row: _like(row(path), pattern)


def _always(row: RowGetter) -> bool:
    return True


def _never(row: RowGetter) -> bool:
    return False


def _like(value: object, pattern: re.Pattern[str]) -> bool:
    if value is None or value == "":
        return False
    return pattern.fullmatch(str(value)) is not None


_ORDER_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _ordered(value: object, expected: object, compare: Callable[[Any, Any], bool]) -> bool:
    return value is not None and compare(value, expected)
