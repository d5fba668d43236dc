"""Bulk API 2.0 query jobs ("Create a Query Job", "Get Information About a Query Job", "Get
Results for a Query Job", "Abort a Query Job", "Delete a Query Job", Bulk API 2.0 and Bulk API
Developer Guide).

A job is created `UploadComplete` once its SOQL has been checked exactly as `query` checks it
(the same engine, catalog and field-level security), and moves on when it is looked at, so tests
never wait on a clock: the first `GET jobs/query/{id}` runs the query (which records, in which
order, is fixed then) and answers `InProgress`; after `Plan.steps` such answers the job ends,
`JobComplete` with `numberRecordsProcessed`, or `Failed` / `Aborted` part way when the plan
(`POST /_sandbox/bulk`) says so. Results are CSV pages (`maxRecords`, `locator`): every page
has the header row and at most `maxRecords` rows, `Sforce-NumberOfRecords` counts them,
`Sforce-Locator` names the next page or is the string `null` after the last. A page is written
as it is sent, a thousand rows at a time, from the job's list of matched records: nothing builds
a whole result. Values are read when their page is served.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from connectors.salesforce.sandbox.catalog import API_VERSION, OrgCatalog, read_path
from connectors.salesforce.sandbox.clock import sf_datetime
from connectors.salesforce.sandbox.errors import SalesforceError, not_found
from connectors.salesforce.sandbox.soql import CompiledQuery, SelectedField, SoqlError
from connectors.salesforce.sandbox.soql import compile_query as compile_soql
from connectors.salesforce.sandbox.store import Record, Store

DELIMITERS: Mapping[str, str] = {
    "BACKQUOTE": "`",
    "CARET": "^",
    "COMMA": ",",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS: Mapping[str, str] = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("query", "queryAll")
DEFAULT_MAX_RECORDS = 50_000  # "a default value based on the service": the sandbox's choice
CHUNK_ROWS = 1_000  # rows written (and read from the store, under its lock) at a time
JOB_PREFIX = "750"  # Bulk job ids' key prefix
LOG_JOBS = 1_000  # jobs kept in the log (`/_sandbox/bulk` `log`), deleted ones included


class JobState(StrEnum):
    UPLOAD_COMPLETE = "UploadComplete"
    IN_PROGRESS = "InProgress"
    JOB_COMPLETE = "JobComplete"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED)

    @property
    def shouted(self) -> str:
        """As Salesforce names states in JOB_NOT_COMPLETE messages (IN_PROGRESS)."""
        return {
            JobState.UPLOAD_COMPLETE: "UPLOAD_COMPLETE",
            JobState.IN_PROGRESS: "IN_PROGRESS",
            JobState.JOB_COMPLETE: "JOB_COMPLETE",
            JobState.FAILED: "FAILED",
            JobState.ABORTED: "ABORTED",
        }[self]


FAILED_MESSAGE = "InternalServerError : the sandbox failed this job (POST /_sandbox/bulk)"


@dataclass(frozen=True, slots=True)
class Plan:
    """How the jobs created from now on behave (`POST /_sandbox/bulk` changes any field)."""

    steps: int = 1  # `InProgress` answers before a job ends
    end: JobState = JobState.JOB_COMPLETE  # JobComplete, Failed, or Aborted (as if from Setup)
    after_records: int = 0  # what a Failed or Aborted job has processed when it stops
    error_message: str = FAILED_MESSAGE  # a Failed job's errorMessage
    delete_after_pages: int | None = None  # a complete job is deleted (as from Setup) then

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if self.end not in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED):
            raise ValueError("end must be JobComplete, Failed or Aborted")
        object.__setattr__(self, "end", JobState(self.end))  # a JSON string becomes the state
        if self.after_records < 0:
            raise ValueError("after_records must not be negative")
        if self.delete_after_pages is not None and self.delete_after_pages < 1:
            raise ValueError("delete_after_pages must be at least 1 (or null)")

    def changed(self, changes: Mapping[str, Any]) -> Plan:
        """A plan with some fields changed; ValueError names an unknown or invalid one."""
        known = {item.name for item in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown bulk setting(s) {', '.join(unknown)}: use {sorted(known)}")
        for name in ("steps", "after_records", "delete_after_pages"):
            value = changes.get(name)
            if name in changes and not (
                (isinstance(value, int) and not isinstance(value, bool))
                or (value is None and name == "delete_after_pages")
            ):
                raise ValueError(f"{name} must be an integer")
        for name in ("end", "error_message"):
            if name in changes and not isinstance(changes[name], str):
                raise ValueError(f"{name} must be a string")
        return replace(self, **changes)


@dataclass(slots=True)
class QueryJob:
    id: str
    operation: str
    query: CompiledQuery
    created_by: str
    created_at: datetime
    modified_at: datetime
    delimiter: str  # the enum's name (COMMA)
    line_ending: str  # LF or CRLF
    plan: Plan
    state: JobState = JobState.UPLOAD_COMPLETE
    matched: list[Record] = field(default_factory=list)
    processed: int = 0
    polls: int = 0  # InProgress answers given
    pages: int = 0  # result pages served
    error: str | None = None
    # Wall-clock seconds (monotonic) of the create and of each `GET jobs/query/{id}`: the
    # org's clock is moved by tests, a client's polling schedule is measured in real time.
    created_wall: float = field(default_factory=time.monotonic)
    looked_at: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.query.sobject,
            "state": str(self.state),
            "numberRecordsProcessed": self.processed,
            "pagesServed": self.pages,
            "statusChecks": [round(t - self.created_wall, 4) for t in self.looked_at],
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One set of results: its count and next locator (headers), and its body's chunks."""

    count: int
    locator: str  # "null" after the last set
    chunks: Iterator[str]


def encode_locator(offset: int) -> str:
    """Salesforce's locators look like base64 of the next offset ("MTAwMDA" is 10000)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int | None:
    padded = locator + "=" * (-len(locator) % 4)
    try:
        text = base64.b64decode(padded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def csv_value(value: object) -> str:
    """A stored value as Bulk API CSV writes it: date-times in UTC with `Z`, booleans as
    `true`/`false`, null as an empty field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _bad_job(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALIDJOB", message)


class QueryJobs:
    """The org's query jobs and the sandbox's plan for new ones; thread-safe."""

    def __init__(self, store: Store, catalog: OrgCatalog, plan: Plan | None = None) -> None:
        self._lock = threading.Lock()
        self.store = store
        self.catalog = catalog
        self.plan = plan or Plan()
        self._jobs: dict[str, QueryJob] = {}
        self._log: list[QueryJob] = []  # the newest LOG_JOBS jobs created, oldest first

    # -- the API ---------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        """`POST jobs/query`: the job, `UploadComplete`, or the query's refusal (400)."""
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise _bad_job(f"operation must be query or queryAll, not {operation!r}")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise _bad_job("query: a SOQL query is required")
        content = body.get("contentType", "CSV")
        if content != "CSV":
            raise _bad_job(f"contentType must be CSV, not {content!r}")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise _bad_job(f"columnDelimiter must be one of {', '.join(DELIMITERS)}")
        line_ending = body.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            raise _bad_job("lineEnding must be LF or CRLF")
        query = self._compile(text)
        now = self.store.clock.now()
        job = QueryJob(
            id=self._new_id(),
            operation=operation,
            query=query,
            created_by=user_id,
            created_at=now,
            modified_at=now,
            delimiter=delimiter,
            line_ending=line_ending,
            plan=self.plan,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._log.append(job)
            del self._log[:-LOG_JOBS]
        return self._created_json(job)

    def info(self, job_id: str) -> dict[str, Any]:
        """`GET jobs/query/{id}`: the job, moved on one step (see the module docstring)."""
        with self._lock:
            job = self._get(job_id)
            job.looked_at.append(time.monotonic())
            if job.state is JobState.UPLOAD_COMPLETE:
                self._run(job)
            elif job.state is JobState.IN_PROGRESS:
                self._progress(job)
            return self._info_json(job)

    def abort(self, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`PATCH jobs/query/{id}` with `{"state": "Aborted"}`: only while it runs."""
        with self._lock:
            job = self._get(job_id)
            if body.get("state") != JobState.ABORTED:
                raise SalesforceError(
                    400, "INVALIDJOBSTATE", f"Invalid state for a query job: {body.get('state')!r}"
                )
            if job.state.terminal:
                raise SalesforceError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Aborting already {_ended_word(job.state)} Job not allowed",
                )
            self._end(job, JobState.ABORTED, job.processed)
            return self._created_json(job)

    def delete(self, job_id: str) -> None:
        """`DELETE jobs/query/{id}`: only once it has ended."""
        with self._lock:
            job = self._get(job_id)
            if not job.state.terminal:
                raise SalesforceError(
                    400,
                    "API_ERROR",
                    "Error encountered when deleting the job because the job is not terminated",
                )
            self._forget(job)

    def results(self, job_id: str, locator: str | None, max_records: str | None) -> Page:
        """`GET jobs/query/{id}/results`: one set of results, written lazily."""
        size = DEFAULT_MAX_RECORDS
        if max_records is not None:
            if not max_records.isdigit() or int(max_records) < 1:
                raise SalesforceError(
                    400, "INVALIDQUERYPARAMETER", "maxRecords must be a positive integer"
                )
            size = int(max_records)
        with self._lock:
            job = self._get(job_id)
            if job.state is not JobState.JOB_COMPLETE:
                raise SalesforceError(
                    412,
                    "JOB_NOT_COMPLETE",
                    "can only download query results of successfully completed bulk job with "
                    f"status: JOB_COMPLETE. Current status: {job.state.shouted}",
                )
            offset = 0 if locator is None else decode_locator(locator)
            if offset is None or (offset and offset >= len(job.matched)):
                raise SalesforceError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
            total = len(job.matched)
            end = min(offset + size, total)
            records = job.matched[offset:end]
            job.pages += 1
            if job.plan.delete_after_pages is not None and job.pages >= job.plan.delete_after_pages:
                self._forget(job)  # as if an admin deleted it in Setup: the next call is 404
        next_locator = encode_locator(end) if end < total else "null"
        return Page(len(records), next_locator, self._write(job, records))

    # -- the sandbox's own view ------------------------------------------------------------

    def set_plan(self, changes: Mapping[str, Any]) -> Plan:
        with self._lock:
            self.plan = self.plan.changed(changes)
            return self.plan

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "plan": asdict(self.plan),
                "jobs": [job.summary() for job in self._jobs.values()],
                "log": [job.summary() for job in self._log],
            }

    def job(self, job_id: str) -> QueryJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    # -- inside ----------------------------------------------------------------------------

    def _compile(self, text: str) -> CompiledQuery:
        # The same checks as `query` (field-level security included), answered by the create.
        try:
            query = compile_soql(text, self.catalog)
        except SoqlError as exc:
            raise SalesforceError(400, str(exc.error_code), exc.message) from None
        if query.is_count:
            raise SalesforceError(
                400, "API_ERROR", "Aggregate queries such as COUNT() are not supported by Bulk API"
            )
        return query

    def _forget(self, job: QueryJob) -> None:
        """A deleted job: gone from the API, kept in the log (without its records)."""
        del self._jobs[job.id]
        job.matched = []

    def _new_id(self) -> str:
        return self.store.ids.new(JOB_PREFIX)

    def _get(self, job_id: str) -> QueryJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def _run(self, job: QueryJob) -> None:
        store = self.store
        with store.locked():
            candidates = store.records(job.query.sobject, deleted=job.operation == "queryAll")
            job.matched = job.query.run(candidates, lambda r, path: read_path(store, r, path))
        job.state = JobState.IN_PROGRESS
        job.modified_at = store.clock.now()

    def _progress(self, job: QueryJob) -> None:
        job.polls += 1
        plan = job.plan
        stops_at = len(job.matched)
        if plan.end is not JobState.JOB_COMPLETE:
            stops_at = min(stops_at, plan.after_records)
        if job.polls >= plan.steps:
            self._end(job, plan.end, stops_at)
            return
        job.processed = min(len(job.matched) * job.polls // plan.steps, stops_at)
        job.modified_at = self.store.clock.now()

    def _end(self, job: QueryJob, state: JobState, processed: int) -> None:
        job.state = state
        job.processed = processed
        job.modified_at = self.store.clock.now()
        if state is JobState.FAILED:
            job.error = job.plan.error_message
        if state is not JobState.JOB_COMPLETE:
            job.matched = []  # an ended job without results keeps none

    def _write(self, job: QueryJob, records: Sequence[Record]) -> Iterator[str]:
        """The page's CSV: the header, then rows a chunk at a time (values as they are now)."""
        selected = job.query.fields
        delimiter = DELIMITERS[job.delimiter]
        line_ending = LINE_ENDINGS[job.line_ending]
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL
        )
        writer.writerow([item.name for item in selected])
        yield _drain(buffer)
        for start in range(0, len(records), CHUNK_ROWS):
            with self.store.locked():
                for record in records[start : start + CHUNK_ROWS]:
                    writer.writerow(self._row(record, selected))
            yield _drain(buffer)

    def _row(self, record: Record, selected: Sequence[SelectedField]) -> list[str]:
        return [csv_value(read_path(self.store, record, item.path)) for item in selected]

    # -- bodies ----------------------------------------------------------------------------

    def _created_json(self, job: QueryJob) -> dict[str, Any]:
        return {
            "id": job.id,
            "operation": job.operation,
            "object": job.query.sobject,
            "createdById": job.created_by,
            "createdDate": sf_datetime(job.created_at),
            "systemModstamp": sf_datetime(job.modified_at),
            "state": str(job.state),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(API_VERSION),
            "lineEnding": job.line_ending,
            "columnDelimiter": job.delimiter,
        }

    def _info_json(self, job: QueryJob) -> dict[str, Any]:
        body = self._created_json(job)
        body |= {
            "jobType": "V2Query",
            "numberRecordsProcessed": job.processed,
            "retries": 0,
            "totalProcessingTime": _milliseconds(job.modified_at - job.created_at),
            "isPkChunkingSupported": True,
        }
        if job.error is not None:
            body["errorMessage"] = job.error
        return body


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _milliseconds(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _ended_word(state: JobState) -> str:
    return {JobState.JOB_COMPLETE: "Completed", JobState.FAILED: "Failed"}.get(state, "Aborted")
