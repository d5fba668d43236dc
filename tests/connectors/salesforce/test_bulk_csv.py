"""The Bulk reader without a server: CSV values back to their describe types, rows as REST
records, pages parsed as they are handed out (one at a time, in little memory), and the
pages that do not add up."""

from __future__ import annotations

import csv
import gc
import io
import json
import tracemalloc
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from connectors.errors import CrmResponseError
from connectors.salesforce.bulk import (
    BulkJobFailed,
    BulkReader,
    as_rest_record,
    convert,
    parse_datetime,
)

JOBS = "/services/data/v62.0/jobs/query"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("true", "boolean", True), ("false", "boolean", False), ("TRUE", "boolean", True),
        ("42", "int", 42), ("-7", "int", -7), ("50.0", "int", 50),
        ("1234.5", "currency", 1234.5), ("12.5", "percent", 12.5), ("1e+16", "double", 1e16),
        ("2024-05-01", "date", date(2024, 5, 1)),
        ("2024-05-01T12:30:00.250Z", "datetime", datetime(2024, 5, 1, 12, 30, 0, 250_000, UTC)),
        ("00Q5e0000000003EAA", "id", "00Q5e0000000003EAA"),
        ("001000000000001AAA", "reference", "001000000000001AAA"),
        ("Banking", "picklist", "Banking"), ("a,b\n\"c\"", "textarea", "a,b\n\"c\""),
        ("12:00:00.000Z", "time", "12:00:00.000Z"), ("x", "an-unknown-type", "x"),
    ],
)  # fmt: skip
def test_values_convert_by_describe_type(text: str, kind: str, value: object) -> None:
    converted = convert(text, kind)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    "kind", ["boolean", "int", "double", "date", "datetime", "string", "reference", "email"]
)
def test_an_empty_field_is_null_whatever_the_type(kind: str) -> None:
    assert convert("", kind) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [("yes", "boolean"), ("4.5", "int"), ("x", "int"), ("x", "double"), ("2024-13-01", "date"),
     ("2024-05-01T12:00:00", "datetime"), ("noon", "datetime")],
)  # fmt: skip
def test_a_value_that_is_not_its_type_is_refused(text: str, kind: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        convert(text, kind)


def test_date_times_in_the_forms_salesforce_writes() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_datetime("2024-05-01T12:00:00.000Z") == moment
    assert parse_datetime("2024-05-01T12:00:00.000+0000") == moment
    assert parse_datetime("2024-05-01T14:00:00.000+0200") == moment
    assert parse_datetime("2024-05-01T14:00:00+02:00") == moment
    assert parse_datetime("2024-05-01T12:00:00Z").tzinfo is UTC


def test_a_row_becomes_the_record_rest_answers() -> None:
    row = {
        "Id": "003A",
        "CreatedDate": datetime(2024, 5, 1, 12, 0, 0, 7_000, UTC),
        "Birthdate": date(1990, 1, 2),
        "Account.Name": "Acme",
        "Account.Owner.Name": "Ann",
        "Account.NumberOfEmployees": 50,
        "ReportsTo.Name": None,
        "ReportsTo.Email": None,
        "HasOptedOutOfEmail": False,
    }
    assert as_rest_record(row) == {
        "Id": "003A",
        "CreatedDate": "2024-05-01T12:00:00.007+0000",
        "Birthdate": "1990-01-02",
        "Account": {"Name": "Acme", "Owner": {"Name": "Ann"}, "NumberOfEmployees": 50},
        "ReportsTo": None,  # every field read from it is empty: a missing parent
        "HasOptedOutOfEmail": False,
    }


# -- a fake org: canned jobs and pages ------------------------------------------------------


def _info(state: str, processed: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": "750X", "state": state, "numberRecordsProcessed": processed, **extra}


class FakeOrg:
    """Answers a job's create, its polls (`states`), and its pages (made on request), through
    an httpx client as a connector's would (which ties each response to its stream)."""

    def __init__(
        self,
        pages: list[Callable[[], tuple[str, int]]],
        states: list[dict[str, Any]] | None = None,
    ) -> None:
        self.pages = pages
        self.states = states or [_info("JobComplete", sum(p()[1] for p in pages))]
        self.calls: list[str] = []
        self.log: list[tuple[str, int]] = []  # ("page", n) as pages are asked for
        self.http = httpx.AsyncClient(
            base_url="https://org.example", transport=httpx.MockTransport(self.answer)
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        self.calls.append(endpoint)
        return await self.http.request(method, path, json=json, params=params)

    def answer(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        if method == "POST":
            return _json(200, _info("UploadComplete"))
        if method == "DELETE":
            return httpx.Response(204)
        if method == "PATCH":
            return _json(200, _info("Aborted"))
        if path.endswith("/results"):
            number = int(request.url.params.get("locator", "0"))
            self.log.append(("page", number))
            text, count = self.pages[number]()
            locator = str(number + 1) if number + 1 < len(self.pages) else "null"
            headers = {"Sforce-NumberOfRecords": str(count), "Sforce-Locator": locator}
            return httpx.Response(200, text=text, headers=headers)
        return _json(200, self.states.pop(0) if len(self.states) > 1 else self.states[0])


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    return buffer.getvalue()


def _page(rows: list[list[str]], header: list[str] | None = None) -> Callable[[], tuple[str, int]]:
    return lambda: (_csv([header or ["Id", "Name"], *rows]), len(rows))


async def _no_sleep(seconds: float) -> None:
    return None


def _reader(org: FakeOrg, **options: Any) -> BulkReader:
    return BulkReader(org.send, sleep=_no_sleep, **options)


async def _read(reader: BulkReader, types: Mapping[str, str] | None = None) -> list[dict]:
    async with reader.query("SELECT Id, Name FROM Lead", types or {"Id": "id"}) as rows:
        return [row async for row in rows]


async def test_quotes_commas_newlines_and_empty_values_come_back_as_they_were() -> None:
    awkward = [
        ["00Q1", 'He said "yes", then\nleft'],
        ["00Q2", ""],
        ["00Q3", "a\r\nb, c"],
        ["00Q4", '""'],
    ]
    org = FakeOrg([_page(awkward)])
    rows = await _read(_reader(org))
    assert rows == [
        {"Id": "00Q1", "Name": 'He said "yes", then\nleft'},
        {"Id": "00Q2", "Name": None},
        {"Id": "00Q3", "Name": "a\r\nb, c"},
        {"Id": "00Q4", "Name": '""'},
    ]


async def test_columns_types_does_not_know_are_text_and_named() -> None:
    org = FakeOrg([_page([["00Q1", "5"]], ["Id", "Mystery__c"])])
    reader = _reader(org)
    async with reader.query("SELECT Id, Mystery__c FROM Lead", {"Id": "id"}) as query:
        assert [row async for row in query] == [{"Id": "00Q1", "Mystery__c": "5"}]
    assert query.untyped == {"Mystery__c"}
    assert query.columns == ["Id", "Mystery__c"]


async def test_pages_are_asked_for_one_at_a_time_as_rows_are_consumed() -> None:
    pages = [_page([[f"00Q{p}{r}", "n"] for r in range(3)]) for p in range(4)]
    org = FakeOrg(pages)
    reader = _reader(org, max_records=3)
    async with reader.query("SELECT Id, Name FROM Lead", {}) as query:
        async for row in query:
            org.log.append(("row", int(row["Id"][3:])))
    pages_asked = [i for i, (kind, _) in enumerate(org.log) if kind == "page"]
    assert pages_asked == [0, 4, 8, 12]  # each page only once the previous one's 3 rows are out
    assert query.pages == 4
    assert query.resume.rows == 12
    assert query.resume.last_id == "00Q32"


async def test_reading_holds_one_page_at_a_time() -> None:
    """200 pages of 500 rows (about 10 MB of CSV in all), each made when it is asked for:
    reading them all never holds more than a small multiple of one page (about 50 KB), even
    when the cyclic garbage collector does not run."""

    def make(number: int) -> Callable[[], tuple[str, int]]:
        def page() -> tuple[str, int]:
            rows = [[f"00Q{number:04d}{r:04d}", f"Name {r}, some text " * 4] for r in range(500)]
            return _csv([["Id", "Name"], *rows]), len(rows)

        return page

    org = FakeOrg([make(n) for n in range(200)])
    total = sum(len(page()[0]) for page in org.pages)
    reader = _reader(org, max_records=500)
    gc.disable()  # as in a busy process, where the cyclic collector seldom runs
    tracemalloc.start()
    try:
        count = 0
        async with reader.query("SELECT Id, Name FROM Lead", {}) as query:
            async for _row in query:
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert count == 100_000
    assert total > 9_000_000
    assert peak < 2_000_000, f"peak {peak:,} bytes while reading {total:,}"


async def test_a_page_short_of_its_count_fails_with_the_rows_read_so_far() -> None:
    short = lambda: (_csv([["Id", "Name"], ["00Q1", "a"]]), 2)  # noqa: E731
    org = FakeOrg([_page([["00Q0", "z"]]), short], [_info("JobComplete", 3)])
    with pytest.raises(BulkJobFailed, match="1 rows, Sforce-NumberOfRecords 2") as failed:
        await _read(_reader(org))
    assert (failed.value.resume.rows, failed.value.resume.last_id) == (2, "00Q1")
    assert org.calls[-1] == f"DELETE {JOBS}/{{id}}"  # the job is cleaned up all the same


async def test_pages_whose_columns_change_or_rows_do_not_fit_fail() -> None:
    org = FakeOrg([_page([["00Q0", "z"]]), _page([["00Q1", "z"]], ["Id", "Other"])])
    with pytest.raises(BulkJobFailed, match="columns"):
        await _read(_reader(org))
    ragged = lambda: (_csv([["Id", "Name"], ["00Q1"]]), 1)  # noqa: E731
    with pytest.raises(BulkJobFailed, match="a row of 1 fields under 2 columns"):
        await _read(_reader(FakeOrg([ragged])))


async def test_rows_that_do_not_add_up_to_the_jobs_count_fail() -> None:
    org = FakeOrg([_page([["00Q0", "z"]])], [_info("JobComplete", 5)])
    with pytest.raises(BulkJobFailed, match="1 rows read, the job processed 5"):
        await _read(_reader(org))


async def test_a_value_not_of_its_type_is_a_response_error() -> None:
    org = FakeOrg([_page([["00Q0", "many"]], ["Id", "NumberOfEmployees"])])
    with pytest.raises(CrmResponseError, match=r"NumberOfEmployees \(int\)"):
        await _read(_reader(org), {"NumberOfEmployees": "int"})


async def test_an_answer_that_is_not_a_job_is_a_response_error() -> None:
    org = FakeOrg([_page([])], [{"state": "JobComplete"}])
    with pytest.raises(CrmResponseError, match="not one"):
        await _read(_reader(org))
