"""The import files of `glengarry evaluate` and `calibrate` (contacts, activities, outcomes, as
JSON Lines or CSV) under hypothesis: a file is read whole, its unknown keys counted in the
warning by name, or refused with an InputError naming the file and the first bad line (every
line before it read); never another exception. Derandomized and bounded."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import InputError
from app.records_io import ReadReport, read_activities, read_contacts, read_outcomes

EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Reader = Callable[[Path, ReadReport], Iterator[Any]]
READERS: dict[str, Reader] = {
    "contacts": read_contacts,
    "activities": read_activities,
    "outcomes": read_outcomes,
}
KNOWN = {
    "contacts": {"id", "properties"},
    "activities": {"id", "contact_id", "type", "occurred_at", "properties"},
    "outcomes": {"contact_id", "converted_at", "churned_at"},
}

texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12).filter(
    lambda t: t.strip() != ""
)
instants = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z"))
wrong = st.one_of(
    st.none(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            " ",
            "2024-01-01T00:00:00",  # no offset
            "yesterday",
            "\ud800",
            [],
            {},
            {"a": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]},
        ]
    ),
    st.text(max_size=8),
)
properties = st.dictionaries(
    st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6),
    st.one_of(texts, st.integers(), st.booleans()),
    max_size=3,
)


def _valid(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "contacts":
        return st.fixed_dictionaries({"id": texts, "properties": properties})
    if kind == "activities":
        return st.fixed_dictionaries(
            {"contact_id": texts, "type": texts, "occurred_at": instants},
            optional={"id": texts, "properties": properties},
        )
    return st.fixed_dictionaries(
        {"contact_id": texts}, optional={"converted_at": instants, "churned_at": instants}
    )


@st.composite
def files(draw: st.DrawFn) -> tuple[str, str, list[dict[str, Any]], set[int]]:
    """(kind, format, rows, the numbers of the rows given a wrong or unknown value)."""
    kind = draw(st.sampled_from(sorted(READERS)))
    rows = draw(st.lists(_valid(kind), min_size=1, max_size=5))
    touched: set[int] = set()
    for number, row in enumerate(rows):
        what = draw(st.sampled_from(["keep", "keep", "unknown", "wrong", "drop"]))
        if what == "unknown":
            row[draw(st.sampled_from(["createdAt", "archived", "x"]))] = draw(texts)
        elif what == "wrong":
            row[draw(st.sampled_from(sorted(row)))] = draw(wrong)
            touched.add(number)
        elif what == "drop":
            del row[draw(st.sampled_from(sorted(row)))]
            touched.add(number)
    return kind, draw(st.sampled_from(["jsonl", "csv"])), rows, touched


def _jsonl(rows: list[dict[str, Any]]) -> tuple[str, list[int]]:
    lines = [json.dumps(row) for row in rows]
    return "\n".join(lines) + "\n", list(range(1, len(rows) + 1))


def _csv(rows: list[dict[str, Any]]) -> tuple[str, list[int]]:
    """Flat columns, `properties.NAME` for properties; a value that is no text is written as
    its JSON (what a spreadsheet export would hold); line numbers, the header being line 1."""
    columns: dict[str, None] = {}
    flat = []
    for row in rows:
        cells: dict[str, str] = {}
        for key, value in row.items():
            if key == "properties" and isinstance(value, dict):
                for name, inner in value.items():
                    cells[f"properties.{name}"] = str(inner)
            elif value is not None:
                text = value if isinstance(value, str) else json.dumps(value)
                cells[key] = text.encode("utf-8", "replace").decode()
        columns.update(dict.fromkeys(cells))
        flat.append(cells)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(columns) or ["contact_id"])
    lines = []
    for cells in flat:
        # A row with no cell is a blank line, skipped as one: it gets no line number.
        lines.append(out.getvalue().count("\n") + 1 if cells else 0)
        writer.writerow([cells.get(column, "") for column in columns] or [""])
    return out.getvalue(), lines


def _read(reader: Reader, path: Path, report: ReadReport) -> tuple[list[Any], InputError | None]:
    read: list[Any] = []
    try:
        for record in reader(path, report):
            read.append(record)
    except InputError as exc:  # any other exception fails the test
        return read, exc
    return read, None


@EXAMPLES
@given(drawn=files())
def test_an_import_file_is_read_or_refused_naming_the_line(
    drawn: tuple[str, str, list[dict[str, Any]], set[int]],
) -> None:
    kind, file_format, rows, touched = drawn
    text, lines = _jsonl(rows) if file_format == "jsonl" else _csv(rows)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{kind}.{file_format}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        report = ReadReport()
        read, refusal = _read(READERS[kind], path, report)
    if refusal is not None:
        named = re.match(rf"{re.escape(str(path))}:(\d+): \S", str(refusal))
        assert named, str(refusal)
        line = int(named.group(1))
        assert line in lines, (line, lines)
        number = lines.index(line)
        assert number in touched, (str(refusal), rows[number])
        assert len(read) <= number  # the rows before it (less repeated activities) were read
        return
    blank = {n for n, line in enumerate(lines) if line == 0}
    assert not (touched - blank - {n for n in touched if _still_valid(kind, rows[n])}), rows
    unknown = Counter(
        key
        for row in rows
        for key, value in row.items()
        if key not in KNOWN[kind] and value is not None
    )
    assert report.unknown_keys == unknown
    if unknown:
        warning = " ".join(report.warnings(path))
        for key, count in unknown.items():
            assert f"{key} ({count})" in warning


def _still_valid(kind: str, row: dict[str, Any]) -> bool:
    """A changed row the reader may rightly accept: every required key still there (a CSV
    cell of "1" is the text "1", and an optional key dropped is no error)."""
    required = {"contacts": {"id"}, "activities": {"contact_id", "type", "occurred_at"}}
    return required.get(kind, {"contact_id"}) <= set(row)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"id": "1", "properties": {"a": ' + "9" * 5000 + "}}", "invalid JSON (Exceeds"),
        ('{"id": "1", "properties": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}", "deeper"),
        ('{"id": "1", "properties": {"a": NaN}}', "NaN is not a JSON number"),
        ('{"id": "1", "properties": {"a": 1e999}}', "out of range"),
    ],
    ids=["5000-digit-int", "deep-nesting", "nan", "infinity"],
)
def test_what_fuzzing_found_is_refused_naming_the_line(
    tmp_path: Path, line: str, words: str
) -> None:
    """These escaped as ValueError and RecursionError, or were read as the text "nan"."""
    path = tmp_path / "contacts.jsonl"
    path.write_text('{"id": "0"}\n' + line + "\n")
    with pytest.raises(InputError) as caught:
        list(read_contacts(path))
    assert str(caught.value).startswith(f"{path}:2: ")
    assert words in str(caught.value)
