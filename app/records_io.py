"""Contacts, activities and outcomes to and from JSON Lines or CSV files, chosen by extension.

JSON Lines hold one object per line: `{"id", "properties": {...}}` for contacts,
`{"contact_id", "type", "occurred_at", "properties": {...}}` for activities and
`{"contact_id", "converted_at"}` for outcomes. CSV files hold the same fields as columns, with
nested properties as `properties.NAME` columns; an empty cell is a missing value.

Rows are validated by pydantic models at this edge and turned into the engine's plain records.
A malformed row stops the read with an InputError naming the file, the line and the problem.
Times must carry a timezone (`Z` for UTC): a file without one is ambiguous, so it is refused.
Keys these formats do not define (a CRM export's `createdAt`, `archived`, ...) are ignored and
counted in a `ReadReport`, so the caller can say once what it skipped. An activity's optional
`id` drops repeated copies of one CRM record (the same contact, type and id): the first is kept.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
)

from app.errors import InputError
from connectors.payload import PayloadError, finite, no_constant
from qualification.records import Activity, Contact, Outcome
from qualification.times import parse_instant

__all__ = [
    "FileFormat",
    "ReadReport",
    "RecordWriter",
    "activity_dict",
    "contact_dict",
    "format_of",
    "outcome_dict",
    "read_activities",
    "read_contacts",
    "read_outcomes",
    "writer",
]

PROPERTIES_PREFIX = "properties."
# A contact's properties are flat and an activity's nest a level or two; deeper is no export.
MAX_DEPTH = 16


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


_EXTENSIONS = {".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL, ".csv": FileFormat.CSV}


def format_of(path: Path) -> FileFormat:
    try:
        return _EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; use .jsonl or .csv"
        ) from None


# --- The edge models ----------------------------------------------------------------------------


def _crm_string(value: object) -> object:
    """CRMs send every property as a string; accept JSON numbers and booleans as they would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _instant(value: object) -> object:
    """Times go through the one ISO 8601 parser (qualification.times): an offset is required."""
    return parse_instant(value) if isinstance(value, str) else value


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
PropertyValue = Annotated[str | None, BeforeValidator(_crm_string)]


class _Row(BaseModel):
    # Unknown keys are counted by `_read` before validation, then dropped here.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ContactRow(_Row):
    id: NonEmpty
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    def to_record(self) -> Contact:
        return Contact(self.id, self.properties)


class ActivityRow(_Row):
    id: Annotated[NonEmpty | None, BeforeValidator(_crm_string)] = None
    contact_id: NonEmpty
    type: NonEmpty
    occurred_at: Instant
    properties: dict[str, JsonValue] = Field(default_factory=dict)

    def to_record(self) -> Activity:
        return Activity(
            self.contact_id, self.type, self.occurred_at.astimezone(UTC), self.properties
        )


class OutcomeRow(_Row):
    contact_id: NonEmpty
    converted_at: Instant | None = None
    churned_at: Instant | None = None

    def to_record(self) -> Outcome:
        converted = self.converted_at.astimezone(UTC) if self.converted_at else None
        churned = self.churned_at.astimezone(UTC) if self.churned_at else None
        return Outcome(self.contact_id, converted, churned)


# --- Reading ------------------------------------------------------------------------------------


@dataclass
class ReadReport:
    """What a read left out: unknown keys (by name, once per row) and repeated activities."""

    unknown_keys: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0

    def warnings(self, path: Path) -> list[str]:
        """One line per kind of thing left out, for the user (empty when nothing was)."""
        lines = []
        if self.unknown_keys:
            total = sum(self.unknown_keys.values())
            names = ", ".join(
                f"{name} ({count})" for name, count in sorted(self.unknown_keys.items())
            )
            lines.append(
                f"{path}: ignored {total} values of keys this format does not read: {names}"
            )
        if self.duplicates:
            lines.append(
                f"{path}: dropped {self.duplicates} repeated activities (same contact, type and id)"
            )
        return lines


def read_contacts(path: Path, report: ReadReport | None = None) -> Iterator[Contact]:
    for row in _read(path, ContactRow, report):
        yield row.to_record()


def read_activities(path: Path, report: ReadReport | None = None) -> Iterator[Activity]:
    seen: set[tuple[str, str, str]] = set()
    for row in _read(path, ActivityRow, report):
        if row.id is not None:
            key = (row.contact_id, row.type, row.id)
            if key in seen:
                if report is not None:
                    report.duplicates += 1
                continue
            seen.add(key)
        yield row.to_record()


def read_outcomes(path: Path, report: ReadReport | None = None) -> Iterator[Outcome]:
    for row in _read(path, OutcomeRow, report):
        yield row.to_record()


RowT = TypeVar("RowT", bound=_Row)


def _read(path: Path, model: type[RowT], report: ReadReport | None) -> Iterator[RowT]:
    file_format = format_of(path)
    known = frozenset(model.model_fields)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        raw_rows = (
            _jsonl_rows(path, handle)
            if file_format is FileFormat.JSONL
            else _csv_rows(path, handle)
        )
        try:
            for line, raw in raw_rows:
                if report is not None:
                    # an empty cell or a null drops nothing: only values are counted
                    report.unknown_keys.update(
                        key for key, value in raw.items() if key not in known and value is not None
                    )
                try:
                    yield model.model_validate(raw)
                except ValidationError as exc:
                    raise InputError(f"{path}:{line}: {_problems(exc)}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None


def _jsonl_rows(path: Path, handle: IO[str]) -> Iterator[tuple[int, Any]]:
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_constant=no_constant, parse_float=finite)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{line}: invalid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        except PayloadError as exc:
            raise InputError(f"{path}:{line}: {exc}") from None
        except RecursionError:
            raise InputError(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as exc:  # an int of more than 4,300 digits
            raise InputError(f"{path}:{line}: invalid JSON ({exc})"[:300]) from None
        if _deeper_than(value, MAX_DEPTH):
            raise InputError(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels")
        if not isinstance(value, dict):
            raise InputError(f"{path}:{line}: expected a JSON object, got {type(value).__name__}")
        yield line, value


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _csv_rows(path: Path, handle: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"{path}:1: {exc}") from None
    if len(set(header)) != len(header):
        raise InputError(f"{path}:1: duplicate column names")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: {exc}") from None
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise InputError(
                f"{path}:{reader.line_num}: {len(cells)} fields, the header has {len(header)}"
            )
        yield reader.line_num, _nest(header, cells)


def _nest(header: list[str], cells: list[str]) -> dict[str, Any]:
    """`properties.NAME` columns become a nested mapping; empty cells are missing values."""
    row: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, cell in zip(header, cells, strict=True):
        if name.startswith(PROPERTIES_PREFIX):
            if cell != "":
                properties[name.removeprefix(PROPERTIES_PREFIX)] = cell
        else:
            row[name] = cell if cell != "" else None
    if properties:
        row["properties"] = properties
    return row


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# --- Writing ------------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contact_dict(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, "properties": dict(contact.properties)}


def activity_dict(activity: Activity) -> dict[str, Any]:
    return {
        "contact_id": activity.contact_id,
        "type": activity.type,
        "occurred_at": _iso(activity.occurred_at),
        "properties": dict(activity.properties),
    }


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    converted, churned = outcome.converted_at, outcome.churned_at
    data: dict[str, Any] = {
        "contact_id": outcome.contact_id,
        "converted_at": _iso(converted) if converted else None,
    }
    if churned is not None:  # customers only: lead lines stay as they were
        data["churned_at"] = _iso(churned)
    return data


_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {
    Contact: contact_dict,
    Activity: activity_dict,
    Outcome: outcome_dict,
}

T = TypeVar("T", Contact, Activity, Outcome)


class RecordWriter(Generic[T]):
    """Writes records of one kind; CSV rows are spooled until the set of columns is known.

    CSV needs its header first but the property names are only known at the end, so rows go to
    a temporary JSON Lines spool and are copied out on close: memory stays flat however many
    records are written.
    """

    def __init__(self, path: Path, kind: type[T]) -> None:
        self.path = path
        self.count = 0
        self._to_dict = _TO_DICT[kind]
        self._format = format_of(path)
        self._columns: dict[str, None] = {}  # insertion-ordered set
        self._properties: dict[str, None] = {}
        try:
            self._out: IO[str] = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._spool: IO[str] | None = (
            tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by close())
            if self._format is FileFormat.CSV
            else None
        )

    def write(self, record: T) -> None:
        data = self._to_dict(record)
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self.count += 1
        if self._spool is None:
            self._out.write(line + "\n")
            return
        for key in data:
            if key != "properties":
                self._columns.setdefault(key)
        for key in data.get("properties", {}):
            self._properties.setdefault(key)
        self._spool.write(line + "\n")

    def close(self) -> None:
        if self._spool is not None:
            self._copy_spool_as_csv(self._spool)
            self._spool.close()
            self._spool = None
        self._out.close()

    def _copy_spool_as_csv(self, spool: IO[str]) -> None:
        header = [*self._columns, *(PROPERTIES_PREFIX + name for name in self._properties)]
        writer = csv.writer(self._out, lineterminator="\n")
        writer.writerow(header)
        spool.seek(0)
        for line in spool:
            data = json.loads(line)
            properties = data.pop("properties", {}) or {}
            writer.writerow(
                [_cell(data.get(name)) for name in self._columns]
                + [_cell(properties.get(name)) for name in self._properties]
            )

    def __enter__(self) -> RecordWriter[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def writer(path: Path, kind: type[T]) -> RecordWriter[T]:
    return RecordWriter(path, kind)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
