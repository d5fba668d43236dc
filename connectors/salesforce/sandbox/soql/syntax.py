"""The parsed form of a query, before any name is checked against a catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from connectors.salesforce.sandbox.soql.errors import Span


@dataclass(frozen=True, slots=True)
class Name:
    """A field path (`Account.Industry`) or object name, as written."""

    text: str
    span: Span

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.text.split("."))


class LiteralKind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    NULL = "null"
    DATE = "date"
    DATETIME = "datetime"


LiteralValue = str | int | float | bool | date | datetime | None


@dataclass(frozen=True, slots=True)
class Literal:
    kind: LiteralKind
    value: LiteralValue
    span: Span


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op value` for one of = != < <= > >=."""

    field: Name
    operator: str
    value: Literal


@dataclass(frozen=True, slots=True)
class Membership:
    """`field IN (...)` or `field NOT IN (...)`."""

    field: Name
    negated: bool
    values: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Like:
    """`field LIKE 'pattern'`; `pattern` is set when the value is a string."""

    field: Name
    value: Literal
    pattern: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


Condition = Comparison | Membership | Like | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: Name
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Select:
    text: str
    count: bool  # SELECT COUNT()
    fields: tuple[Name, ...]
    sobject: Name
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    spans: tuple[Span, ...]  # of every token, to quote them in error messages
