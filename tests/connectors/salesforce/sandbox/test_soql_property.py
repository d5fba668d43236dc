"""By property: generated WHERE clauses over a generated schema and generated records return
exactly the rows a plain Python filter returns, and ORDER BY sorts them as a plain comparator
does. The reference below is written from the SOQL semantics alone: it shares no code with the
engine (no regular expressions for LIKE, its own null and case rules)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.sandbox.soql import (
    FieldInfo,
    FieldType,
    SObjectSchema,
    StaticCatalog,
    compile_query,
)

TEXT = {
    FieldType.STRING,
    FieldType.TEXTAREA,
    FieldType.PICKLIST,
    FieldType.EMAIL,
    FieldType.PHONE,
    FieldType.URL,
}
IDS = {FieldType.ID, FieldType.REFERENCE}
NUMBERS = {FieldType.INT, FieldType.DOUBLE, FieldType.CURRENCY, FieldType.PERCENT}

# -- the generated schema -----------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    path: tuple[str, ...]  # canonical
    type: FieldType


@st.composite
def schemas(draw: st.DrawFn) -> tuple[StaticCatalog, list[Column]]:
    """Thing (a field of every type, and a Parent relationship) and Parent (text and int)."""
    fields = [FieldInfo("Id", FieldType.ID)]
    for kind in FieldType:
        if kind is FieldType.ID:
            continue
        # Unique by their middle part; written in random case in the queries.
        prefix = draw(st.sampled_from(["", "Glengarry_", "X", "lead"]))
        suffix = draw(st.sampled_from(["", "__c"]))
        fields.append(FieldInfo(f"{prefix}{kind.value.title()}{suffix}", kind))
    parent_fields = (FieldInfo("Name", FieldType.STRING), FieldInfo("Size", FieldType.INT))
    catalog = StaticCatalog(
        [
            SObjectSchema("Thing", tuple(fields), {"Parent": "Parent"}),
            SObjectSchema("Parent", parent_fields),
        ]
    )
    columns = [Column((info.name,), info.type) for info in fields]
    columns += [Column(("Parent", info.name), info.type) for info in parent_fields]
    return catalog, columns


# -- values -------------------------------------------------------------------------------

ID_POOL = [f"a0{n}00000000000{n}AA{n}" for n in range(3)]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
MOMENTS = [datetime(2024, 1, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=30 * n) for n in range(4)]
DAYS = [date(2024, 2, 27) + timedelta(days=n) for n in range(4)]
text_values = st.text(alphabet="ab%_' \\", max_size=3)


def _values(kind: FieldType) -> st.SearchStrategy[Any]:
    """Stored values of a type: small domains, so that filters often match."""
    if kind in TEXT:
        return text_values | st.none()
    if kind in IDS:
        return st.sampled_from(ID_POOL) | st.none()
    if kind is FieldType.BOOLEAN:
        return st.booleans() | st.none()
    if kind is FieldType.INT:
        return st.integers(-2, 2) | st.none()
    if kind in NUMBERS:
        return st.sampled_from([-1.5, 0.0, 0.5, 2.0]) | st.none()
    if kind is FieldType.DATE:
        return st.sampled_from(DAYS) | st.none()
    moments = st.builds(
        lambda m, z: m.astimezone(z), st.sampled_from(MOMENTS), st.sampled_from(ZONES)
    )
    return moments | st.none()


def _literals(kind: FieldType) -> st.SearchStrategy[Any]:
    """Filter values of a type: the stored domain, null, and for ids the 15-character form."""
    if kind in IDS:
        return st.sampled_from(ID_POOL + [i[:15] for i in ID_POOL]) | st.none()
    return _values(kind)


# Built once: building strategies anew for every example is what makes a property test slow.
VALUES = {kind: _values(kind) for kind in FieldType}
LITERALS = {kind: _literals(kind) for kind in FieldType}
CASES = st.integers(0, 2)
BOOLEANS = st.booleans()


def soql_literal(kind: FieldType, value: Any) -> str:
    """The literal as written in a query (independently of simple-salesforce)."""
    if value is None:
        return "null"
    if kind in TEXT or kind in IDS:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if kind is FieldType.BOOLEAN:
        return "TRUE" if value else "false"
    if kind is FieldType.DATE:
        return value.isoformat()
    if kind is FieldType.DATETIME:
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    return repr(value)


# -- conditions: generated, written as SOQL, evaluated by the reference ---------------------


@dataclass(frozen=True)
class Compare:
    slot: int  # the column's place in the schema's column list
    kind: FieldType
    operator: str
    value: Any


@dataclass(frozen=True)
class In:
    slot: int
    kind: FieldType
    negated: bool
    values: tuple[Any, ...]


@dataclass(frozen=True)
class LikeTest:
    slot: int
    kind: FieldType
    pattern: tuple[str, ...]  # "%" any run, "_" one character, otherwise a literal character


@dataclass(frozen=True)
class Logic:
    operator: str  # AND, OR, NOT
    operands: tuple[Any, ...]


# The types of the schema's columns, in order: Id, one field of every other type, then
# Parent.Name and Parent.Size. Names vary by example; types and places do not.
SLOT_TYPES = [
    FieldType.ID,
    *(kind for kind in FieldType if kind is not FieldType.ID),
    FieldType.STRING,
    FieldType.INT,
]


@st.composite
def leaves(draw: st.DrawFn) -> Any:
    slot = draw(st.integers(0, len(SLOT_TYPES) - 1))
    kind = SLOT_TYPES[slot]
    shapes = ["compare", "in"] + (["like"] if kind in TEXT else [])
    shape = draw(st.sampled_from(shapes))
    if shape == "like":
        pattern = draw(
            st.lists(st.sampled_from(["%", "_", "a", "B", "%lit", "_lit", "'"]), max_size=4)
        )
        return LikeTest(slot, kind, tuple(pattern))
    if shape == "in":
        members = draw(st.lists(LITERALS[kind], min_size=1, max_size=3))
        return In(slot, kind, draw(st.booleans()), tuple(members))
    operators = ["=", "!="] + ([] if kind is FieldType.BOOLEAN else ["<", "<=", ">", ">="])
    return Compare(slot, kind, draw(st.sampled_from(operators)), draw(LITERALS[kind]))


CONDITIONS = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(lambda x: Logic("NOT", (x,)), inner),
        st.builds(
            lambda op, xs: Logic(op, tuple(xs)),
            st.sampled_from(["AND", "OR"]),
            st.lists(inner, min_size=2, max_size=3),
        ),
    ),
    max_leaves=8,
)


def field_text(column: Column, draw: st.DrawFn) -> str:
    """The path as written, in a random case."""
    return ".".join([s, s.lower(), s.upper()][draw(CASES)] for s in column.path)


def write(node: Any, draw: st.DrawFn, columns: list[Column]) -> str:
    def nested(child: Any) -> str:
        text = write(child, draw, columns)
        return f"({text})" if isinstance(child, Logic) else text

    def keyword(word: str) -> str:
        return word.lower() if draw(BOOLEANS) else word

    if isinstance(node, Logic):
        if node.operator == "NOT":
            return f"{keyword('NOT')} {nested(node.operands[0])}"
        return f" {keyword(node.operator)} ".join(nested(child) for child in node.operands)
    name = field_text(columns[node.slot], draw)
    if isinstance(node, Compare):
        return f"{name} {node.operator} {soql_literal(node.kind, node.value)}"
    if isinstance(node, In):
        members = ", ".join(soql_literal(node.kind, v) for v in node.values)
        return f"{name} {keyword('NOT IN') if node.negated else keyword('IN')} ({members})"
    pieces = []
    for piece in node.pattern:
        if piece in ("%", "_"):
            pieces.append(piece)
        elif piece.endswith("lit"):
            pieces.append("\\" + piece[0])  # \% or \_: the character itself
        else:
            pieces.append("\\'" if piece == "'" else piece)
    return f"{name} {keyword('LIKE')} '{''.join(pieces)}'"


def read(record: dict[str, Any], column: Column) -> Any:
    value: Any = record
    for segment in column.path:
        if value is None:
            return None
        value = value.get(segment)
    return value


def comparable(kind: FieldType, value: Any) -> Any:
    """SOQL's view of a value: None for null, text by its upper case (English-locale
    comparison and sorting), ids by their first 15 characters."""
    if kind is FieldType.BOOLEAN:
        return bool(value)  # never null: null is false
    if value is None:
        return None
    if kind in TEXT:
        return value.upper() if value != "" else None
    if kind in IDS:
        return value[:15]
    if kind is FieldType.DATETIME:
        return value.timestamp()
    return value


def like(text: str, pattern: tuple[str, ...]) -> bool:
    """Wildcard matching by recursion over the pattern, case-insensitive."""
    if not pattern:
        return text == ""
    head, rest = pattern[0], pattern[1:]
    if head == "%":
        return any(like(text[cut:], rest) for cut in range(len(text) + 1))
    if head == "_":
        return text != "" and like(text[1:], rest)
    literal = head[0] if head.endswith("lit") else head
    return text[:1].lower() == literal.lower() and like(text[1:], rest)


def holds(node: Any, record: dict[str, Any], columns: list[Column]) -> bool:
    if isinstance(node, Logic):
        results = [holds(child, record, columns) for child in node.operands]
        if node.operator == "NOT":
            return not results[0]
        return all(results) if node.operator == "AND" else any(results)
    kind, column = node.kind, columns[node.slot]
    mine = comparable(kind, read(record, column))
    if isinstance(node, LikeTest):
        return mine is not None and like(read(record, column), node.pattern)
    if isinstance(node, In):
        found = any(mine == comparable(kind, value) for value in node.values)
        return found != node.negated
    theirs = comparable(kind, node.value)
    if node.operator == "=":
        return mine == theirs
    if node.operator == "!=":
        return mine != theirs
    if mine is None or theirs is None:
        return False
    return {
        "<": mine < theirs,
        "<=": mine <= theirs,
        ">": mine > theirs,
        ">=": mine >= theirs,
    }[node.operator]


def records(columns: list[Column]) -> st.SearchStrategy[list[dict[str, Any]]]:
    own = {c.path[0]: VALUES[c.type] for c in columns if len(c.path) == 1 and c.path != ("Id",)}
    parent = st.none() | st.fixed_dictionaries(
        {"Name": VALUES[FieldType.STRING], "Size": VALUES[FieldType.INT]}
    )
    rows = st.lists(st.fixed_dictionaries({**own, "Parent": parent}), max_size=12)
    return rows.map(
        lambda found: [{"Id": f"a0T00000000{n:04d}AAA", **row} for n, row in enumerate(found)]
    )


def get(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for segment in path:
        if value is None:
            return None
        value = value.get(segment)
    return value


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_where_returns_what_a_plain_filter_returns(data: st.DataObject) -> None:
    catalog, columns = data.draw(schemas())
    assert [column.type for column in columns] == SLOT_TYPES
    condition = data.draw(CONDITIONS)
    rows = data.draw(records(columns))
    text = "SELECT Id FROM thing WHERE " + write(condition, data.draw, columns)
    query = compile_query(text, catalog)
    expected = [row["Id"] for row in rows if holds(condition, row, columns)]
    assert [row["Id"] for row in query.run(rows, get)] == expected, text


# -- ORDER BY -----------------------------------------------------------------------------


def compare_rows(
    keys: list[tuple[Column, bool, bool]], a: dict[str, Any], b: dict[str, Any]
) -> int:
    for column, descending, nulls_last in keys:
        x, y = comparable(column.type, read(a, column)), comparable(column.type, read(b, column))
        if x == y:
            continue
        if x is None or y is None:
            return -1 if (x is None) != nulls_last else 1
        order = -1 if x < y else 1
        return -order if descending else order
    return 0


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_order_by_sorts_as_a_plain_comparator_and_limit_cuts(data: st.DataObject) -> None:
    catalog, columns = data.draw(schemas())
    rows = data.draw(records(columns))
    chosen = data.draw(st.lists(st.sampled_from(columns), min_size=1, max_size=3, unique=True))
    keys, written = [], []
    for column in chosen:
        direction = data.draw(st.sampled_from(["", " ASC", " DESC"]))
        nulls = data.draw(st.sampled_from(["", " NULLS FIRST", " NULLS LAST"]))
        descending = direction == " DESC"
        nulls_last = nulls == " NULLS LAST" or (descending and nulls == "")
        keys.append((column, descending, nulls_last))
        written.append(field_text(column, data.draw) + direction + nulls)
    limit = data.draw(st.none() | st.integers(0, 15))
    text = "SELECT Id FROM Thing ORDER BY " + ", ".join(written)
    if limit is not None:
        text += f" LIMIT {limit}"
    expected = sorted(rows, key=functools.cmp_to_key(lambda a, b: compare_rows(keys, a, b)))
    if limit is not None:
        expected = expected[:limit]
    got = compile_query(text, catalog).run(rows, get)
    assert [row["Id"] for row in got] == [row["Id"] for row in expected], text
