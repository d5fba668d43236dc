"""Bulk API 2.0 query jobs, read as a stream of typed rows (Bulk API 2.0 and Bulk API Developer
Guide: "Create a Query Job", "Get Information About a Query Job", "Get Results for a Query
Job", "Abort a Query Job", "Delete a Query Job").

    reader = BulkReader(api.request)  # any `Send`: ApiClient.request, SalesforceRest.call...
    async with reader.query(soql, types, include_deleted=True) as rows:
        async for row in rows:  # {"Id": "00Q...", "IsDeleted": False, "Account.Industry": ...}
            store(row)
    # rows.resume: how far it got (also on every BulkError)

One job per `query`: created (`query`, or `queryAll` with `include_deleted`), polled with
exponential backoff until it ends (the sleep is injectable: tests never wait), then its results
are read one page (`maxRecords` rows, `Sforce-Locator` until the string `null`) at a time and
parsed as they are handed out: at most one page is held, never the whole result. CSV loses
types, so each column is converted back by its describe type (`types`: the header's names, as
selected, `Account.Industry` for a parent's field): `boolean`, `int`, `double` / `currency` /
`percent` (float), `date`, `datetime` (aware, UTC); anything else stays text; an empty field is
None (CSV cannot tell null from an empty text, and Salesforce stores no empty texts).
`as_rest_record` turns a row into the record `query` would have answered (parents nested,
dates and date-times as REST writes them), so one mapping serves both paths.

A job that fails, is aborted by someone else, outlasts `Polling.timeout`, or whose results can
no longer be read raises `BulkJobFailed`; a query Salesforce refuses when the job is created
(a field the user cannot see is `INVALID_FIELD`, as in `query`) raises `BulkQueryRefused`. Both
carry `resume`: the rows handed out and the last one's `Id` and `SystemModstamp` (when
selected), so the caller can go on through REST from there: `WHERE Id > last_id` for a query
left in Bulk's own order (by Id), `WHERE SystemModstamp >= ...` for one ordered by it. Other
failures of `send` (time-outs after its retries, a spent allocation) propagate as they are;
`BulkQuery.resume` says how far it got then too. Leaving the `async with` block early (or on
any error) aborts a job that still runs and deletes it; a job read to the end is deleted too
(unless `delete_jobs=False`), since Salesforce keeps results for seven days.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.errors import ConnectorError, CrmRequestError, CrmResponseError

API_VERSION = "62.0"
DEFAULT_MAX_RECORDS = 50_000
NO_MORE = "null"  # Sforce-Locator after the last set of results
NUMBER_TYPES = frozenset({"double", "currency", "percent"})

Sleep = Callable[[float], Awaitable[None]]
FieldTypes = Mapping[str, str]  # column (as selected) -> describe type


class Send(Protocol):
    """What the reader needs of an HTTP client: one request, answered (or raised) after the
    client's own retries. `ApiClient.request` and `SalesforceRest.call` fit; a 4xx may come back
    as a response or be raised as `CrmRequestError` (with the body), either is understood."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Awaitable[httpx.Response]: ...


class JobState(StrEnum):
    UPLOAD_COMPLETE = "UploadComplete"
    IN_PROGRESS = "InProgress"
    JOB_COMPLETE = "JobComplete"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def ended(self) -> bool:
        return self in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED)


@dataclass(frozen=True, slots=True)
class Polling:
    """Waiting for a job: `initial` seconds before the first look, times `factor` after each
    (at most `maximum`); after `timeout` seconds of waiting in all, the job is given up."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    timeout: float = 7_200.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1 or self.timeout < 0:
            raise ValueError("polling needs 0 <= initial <= maximum, factor >= 1, timeout >= 0")


@dataclass(frozen=True, slots=True)
class Resume:
    """How far a read got: rows handed out, and the last one's Id and SystemModstamp."""

    rows: int = 0
    last_id: str | None = None
    last_system_modstamp: datetime | None = None


class BulkError(ConnectorError):
    """A Bulk read that did not finish; `resume` says where REST can take over."""

    def __init__(self, message: str, *, job_id: str | None, resume: Resume) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.resume = resume


class BulkQueryRefused(BulkError):
    """Salesforce refused to create the job: `code` and `message` are its error's."""

    def __init__(self, code: str, message: str, *, status: int) -> None:
        super().__init__(
            f"query job refused ({status} {code}): {message}", job_id=None, resume=Resume()
        )
        self.code = code
        self.status = status
        self.detail = message


class BulkJobFailed(BulkError):
    """The job failed, was aborted, timed out, or its results could not be read to the end;
    `state` is the job's last known state, `processed` its numberRecordsProcessed."""

    def __init__(
        self,
        reason: str,
        *,
        job_id: str | None,
        resume: Resume,
        state: JobState | None,
        processed: int,
    ) -> None:
        super().__init__(f"query job {job_id} ({state}): {reason}", job_id=job_id, resume=resume)
        self.reason = reason
        self.state = state
        self.processed = processed


# -- values ---------------------------------------------------------------------------------


def convert(text: str, kind: str) -> Any:
    """A Bulk CSV value as the Python value of its describe type; ValueError if it is not one."""
    if text == "":
        return None
    if kind == "boolean":
        folded = text.lower()
        if folded not in ("true", "false"):
            raise ValueError(f"not a boolean: {text!r}")
        return folded == "true"
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            number = float(text)  # "5.0": an integer written as a decimal
            if not number.is_integer():
                raise ValueError(f"not an integer: {text!r}") from None
            return int(number)
    if kind in NUMBER_TYPES:
        return float(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "datetime":
        return parse_datetime(text)
    return text


def parse_datetime(text: str) -> datetime:
    """`2024-05-01T12:00:00.000Z` (Bulk's CSV) or `...+0000` (REST's JSON), as UTC."""
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a date-time without an offset: {text!r}")
    return moment.astimezone(UTC)


def rest_value(value: Any) -> Any:
    """A row's value as REST's JSON writes it (2024-05-01, 2024-05-01T12:00:00.000+0000)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value


def as_rest_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record `query` answers for the same SELECT, without `attributes`: parents nested
    (`Account.Industry` is `{"Account": {"Industry": ...}}`) and null when every field read
    from them is empty (CSV cannot tell a missing parent from one whose fields are all null)."""
    record: dict[str, Any] = {}
    for name, value in row.items():
        *parents, leaf = name.split(".")
        place = record
        for parent in parents:
            nested = place.get(parent)
            if not isinstance(nested, dict):
                nested = {}
                place[parent] = nested
            place = nested
        place[leaf] = rest_value(value)
    return _nulled(record)


def _nulled(record: dict[str, Any]) -> dict[str, Any]:
    for name, value in record.items():
        if isinstance(value, dict):
            inner = _nulled(value)
            record[name] = None if all(v is None for v in inner.values()) else inner
    return record


# -- the reader -----------------------------------------------------------------------------


class _JobInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    state: JobState
    numberRecordsProcessed: int = 0  # Salesforce's names
    errorMessage: str | None = None


class BulkReader:
    """Query jobs through `send`, at API `version`, results `max_records` per page."""

    def __init__(
        self,
        send: Send,
        *,
        version: str = API_VERSION,
        max_records: int = DEFAULT_MAX_RECORDS,
        polling: Polling | None = None,
        sleep: Sleep = asyncio.sleep,
        delete_jobs: bool = True,
    ) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.send = send
        self.jobs = f"/services/data/v{version}/jobs/query"
        self.max_records = max_records
        self.polling = polling or Polling()
        self.sleep = sleep
        self.delete_jobs = delete_jobs

    def query(self, soql: str, types: FieldTypes, *, include_deleted: bool = False) -> BulkQuery:
        """One job for `soql` (`queryAll` with include_deleted); nothing is sent until its rows
        are iterated. Use it as `async with`, so that an early exit aborts and deletes it."""
        return BulkQuery(self, soql, types, "queryAll" if include_deleted else "query")


class BulkQuery:
    """One query job's rows. `job_id`, `state`, `pages`, `columns` and `resume` say where it is;
    `untyped` names the columns `types` did not know (read as text); `cleanup_error` is what
    aborting or deleting the job raised, if anything (it never hides the read's own error)."""

    def __init__(self, reader: BulkReader, soql: str, types: FieldTypes, operation: str) -> None:
        self.reader = reader
        self.soql = soql
        self.types = types
        self.operation = operation
        self.job_id: str | None = None
        self.state: JobState | None = None
        self.processed = 0
        self.pages = 0
        self.resume = Resume()
        self.columns: list[str] | None = None  # the results' header, once a page has come
        self.untyped: set[str] = set()
        self.cleanup_error: Exception | None = None
        self._rows: AsyncGenerator[dict[str, Any], None] | None = None
        self._cleaned = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._rows is None:
            self._rows = self._generate()
        return self._rows

    async def __aenter__(self) -> BulkQuery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: a job still running is aborted, and the job deleted."""
        if self._rows is not None:
            await self._rows.aclose()
        await self._cleanup()

    # -- the job ---------------------------------------------------------------------------

    async def _generate(self) -> AsyncGenerator[dict[str, Any], None]:
        try:
            await self._create()
            await self._wait()
            locator: str | None = None
            while True:
                text, count, following = await self._page(locator)
                rows = 0
                for row in self._parse(text):
                    rows += 1
                    self._advance(row)
                    yield row
                del text  # the page is done with before the next one is asked for
                if rows != count:
                    raise self._failed(f"a page had {rows} rows, Sforce-NumberOfRecords {count}")
                if following == NO_MORE:
                    break
                locator = following
            if self.resume.rows != self.processed:
                raise self._failed(
                    f"{self.resume.rows} rows read, the job processed {self.processed}"
                )
        finally:
            await self._cleanup()

    async def _call(
        self, method: str, path: str, endpoint: str, **kwargs: Any
    ) -> tuple[httpx.Response | None, CrmRequestError | None]:
        """The response, or the 4xx the client raised instead (with its body)."""
        try:
            response = await self.reader.send(method, path, endpoint=endpoint, **kwargs)
        except CrmRequestError as refused:
            return None, refused
        return response, None

    async def _create(self) -> None:
        body = {
            "operation": self.operation,
            "query": self.soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        jobs = self.reader.jobs
        response, refused = await self._call("POST", jobs, f"POST {jobs}", json=body)
        if response is None or not response.is_success:
            status, code, message = _error_of(response, refused)
            raise BulkQueryRefused(code, message, status=status)
        info = self._info_of(response)
        self.job_id = info.id
        self.state = info.state

    async def _wait(self) -> None:
        polling = self.reader.polling
        delay, waited = polling.initial, 0.0
        while True:
            await self.reader.sleep(delay)
            waited += delay
            delay = min(delay * polling.factor, polling.maximum)
            jobs = self.reader.jobs
            response, refused = await self._call(
                "GET", f"{jobs}/{self.job_id}", f"GET {jobs}/{{id}}"
            )
            if response is None or not response.is_success:
                raise self._failed(_describe(response, refused))
            info = self._info_of(response)
            self.state, self.processed = info.state, info.numberRecordsProcessed
            if info.state is JobState.JOB_COMPLETE:
                return
            if info.state.ended:
                raise self._failed(info.errorMessage or f"the job was {info.state}")
            if waited >= polling.timeout:
                raise self._failed(f"still {info.state} after {waited:g} s of waiting")

    async def _page(self, locator: str | None) -> tuple[str, int, str]:
        params: dict[str, Any] = {"maxRecords": self.reader.max_records}
        if locator is not None:
            params["locator"] = locator
        jobs = self.reader.jobs
        response, refused = await self._call(
            "GET", f"{jobs}/{self.job_id}/results", f"GET {jobs}/{{id}}/results", params=params
        )
        if response is None or not response.is_success:
            raise self._failed(_describe(response, refused))
        count = response.headers.get("Sforce-NumberOfRecords", "")
        following = response.headers.get("Sforce-Locator")
        if not count.isdigit() or not following:
            raise self._failed("a results page without Sforce-NumberOfRecords or Sforce-Locator")
        self.pages += 1
        text = response.text
        # An httpx client ties a response to its stream, a reference cycle: the page would stay
        # in memory until the cyclic collector ran (pages pile up in a busy process). Untied,
        # it goes as soon as it has been read.
        response.stream = httpx.ByteStream(b"")
        return text, int(count), following

    def _parse(self, text: str) -> Iterator[dict[str, Any]]:
        """A page's rows, typed, as they are read (each page starts with the header row)."""
        lines = csv.reader(_lines(text))
        columns = next(lines, None)
        if columns is None:
            return
        if self.columns is None:
            self.columns = columns
        elif columns != self.columns:
            raise self._failed(f"a page's columns {columns} are not the first's {self.columns}")
        kinds = [self.types.get(name, "string") for name in columns]
        self.untyped.update(name for name in columns if name not in self.types)
        for values in lines:
            if len(values) != len(columns):
                raise self._failed(f"a row of {len(values)} fields under {len(columns)} columns")
            row: dict[str, Any] = {}
            for name, kind, value in zip(columns, kinds, values, strict=True):
                try:
                    row[name] = convert(value, kind)
                except ValueError as exc:
                    raise CrmResponseError(f"{name} ({kind}): {exc}") from None
            yield row

    def _advance(self, row: Mapping[str, Any]) -> None:
        modstamp = row.get("SystemModstamp")
        identifier = row.get("Id")
        self.resume = Resume(
            self.resume.rows + 1,
            identifier if isinstance(identifier, str) else self.resume.last_id,
            modstamp if isinstance(modstamp, datetime) else self.resume.last_system_modstamp,
        )

    def _info_of(self, response: httpx.Response) -> _JobInfo:
        try:
            return _JobInfo.model_validate_json(response.content)
        except ValidationError as exc:
            raise CrmResponseError(f"a query job answer that is not one: {exc}") from None

    def _failed(self, reason: str) -> BulkJobFailed:
        return BulkJobFailed(
            reason,
            job_id=self.job_id,
            resume=self.resume,
            state=self.state,
            processed=self.processed,
        )

    async def _cleanup(self) -> None:
        if self.job_id is None or self._cleaned:
            return
        self._cleaned = True
        jobs = self.reader.jobs
        path = f"{jobs}/{self.job_id}"
        try:
            if self.state is None or not self.state.ended:
                # Refused (INVALIDJOBSTATE) when it has just ended: deleting it still works.
                await self._call(
                    "PATCH", path, f"PATCH {jobs}/{{id}}", json={"state": JobState.ABORTED.value}
                )
            if self.reader.delete_jobs:
                response, refused = await self._call("DELETE", path, f"DELETE {jobs}/{{id}}")
                if response is None or not response.is_success:
                    self.cleanup_error = self._failed(
                        f"not deleted: {_describe(response, refused)}"
                    )
        except (ConnectorError, httpx.HTTPError) as exc:
            self.cleanup_error = exc  # kept for the caller; the read's own outcome stands


def _lines(text: str) -> Iterator[str]:
    """The page's lines with their endings, one at a time (csv joins a quoted value's lines
    again); no copy of the whole page is made."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _error_of(
    response: httpx.Response | None, refused: CrmRequestError | None
) -> tuple[int, str, str]:
    """Status, errorCode and message of a Salesforce error array (or whatever came instead)."""
    if response is not None:
        status = response.status_code
        try:
            body: object = response.json()
        except ValueError:
            body = response.text[:500]
    else:
        assert refused is not None
        status, body = refused.status, refused.body
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        return status, str(first.get("errorCode", "")), str(first.get("message", ""))
    return status, "", str(first)


def _describe(response: httpx.Response | None, refused: CrmRequestError | None) -> str:
    status, code, message = _error_of(response, refused)
    return f"{status} {code}: {message}".strip()


__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_RECORDS",
    "BulkError",
    "BulkJobFailed",
    "BulkQuery",
    "BulkQueryRefused",
    "BulkReader",
    "FieldTypes",
    "JobState",
    "Polling",
    "Resume",
    "Send",
    "Sleep",
    "as_rest_record",
    "convert",
    "parse_datetime",
    "rest_value",
]
