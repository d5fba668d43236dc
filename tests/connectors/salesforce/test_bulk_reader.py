"""The Bulk reader against the Salesforce sandbox: rows streamed page by page and typed by
describe, the same records REST answers, queryAll, field-level security, jobs that fail, are
aborted or vanish part way (with the point REST takes over from), abort and delete when the
reader stops early, the calls it spends, and the connector's shared client as its `send`."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.http import ApiClient, RateLimiter
from connectors.salesforce.bulk import (
    BulkJobFailed,
    BulkQueryRefused,
    BulkReader,
    JobState,
    Polling,
    as_rest_record,
)
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from connectors.salesforce.sandbox.schema import FieldDef, with_field
from connectors.salesforce.sandbox.soql import FieldType

DATA = "/services/data/v62.0"
JOBS = f"{DATA}/jobs/query"
LEADS = 45
NOW = datetime.now(UTC).replace(microsecond=0)
WIDE = (
    "SELECT Id, IsDeleted, FirstName, LastName, Name, Title, Email, Phone, Company, Website, "
    "Industry, NumberOfEmployees, AnnualRevenue, Score__x, Share__x, Status, IsConverted, "
    "ConvertedDate, LastActivityDate, HasOptedOutOfEmail, Description, OwnerId, CreatedDate, "
    "SystemModstamp FROM Lead"
)


def _seed(store: Any) -> None:
    """Leads with every kind of value (awkward text, nulls, numbers, dates), and Contacts with
    and without an Account."""
    lead = store.objects["Lead"]
    with_field(lead, FieldDef("Score__x", FieldType.DOUBLE, "Score", precision=18, scale=4))
    with_field(lead, FieldDef("Share__x", FieldType.PERCENT, "Share", precision=5, scale=2))
    for number in range(LEADS):
        values: dict[str, Any] = {
            "FirstName": None if number % 9 == 0 else f"First{number}",
            "LastName": f"Last{number}",
            "Company": f"Company {number}, Inc." if number % 2 else f'The "{number}" Co',
            "Email": f"p{number}@example.com",
            "Website": f"https://example{number}.com" if number % 3 else None,
            "Industry": "Banking" if number % 4 else None,
            "NumberOfEmployees": number * 10 if number % 5 else None,
            "AnnualRevenue": number * 1000.5 if number % 2 else None,
            "Score__x": number / 7 if number % 3 else None,
            "Share__x": 12.5 if number % 2 else None,
            "Description": f'line one\nline two, with a comma and "quotes" {number}',
            "HasOptedOutOfEmail": number % 6 == 0,
            "LastActivityDate": date(2024, 1, 1) + timedelta(days=number) if number % 2 else None,
        }
        store.create("Lead", values, at=NOW - timedelta(days=number))
    account = store.create("Account", {"Name": "Acme, Ltd", "NumberOfEmployees": 250})
    store.create("Contact", {"LastName": "Inside", "AccountId": account.id})
    store.create("Contact", {"LastName": "Alone"})


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(cert_dir=tmp_path / "org"), members=[]) as server:
        _seed(server.store)
        yield server


def _trust(org: SandboxServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(org.ca_file))


@pytest.fixture
async def client(org: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=org.instance_url, verify=_trust(org)) as http:
        token = await http.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(org.config.client_id, org.config.client_secret),
        )
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


class Sleeps:
    """The reader's sleep: records what it was asked to wait, waits for nothing."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def _send(http: httpx.AsyncClient) -> Any:
    async def send(
        method: str,
        path: str,
        *,
        endpoint: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        return await http.request(method, path, json=json, params=params)

    return send


@pytest.fixture
def reader(client: httpx.AsyncClient, sleeps: Sleeps) -> BulkReader:
    return BulkReader(_send(client), max_records=10, sleep=sleeps)


async def _types(http: httpx.AsyncClient, sobject: str, parents: Mapping[str, str] = {}) -> dict:
    """Field name -> describe type, as the connector builds it (parents' fields dotted)."""

    async def of(name: str) -> dict[str, str]:
        body = (await http.get(f"{DATA}/sobjects/{name}/describe")).json()
        return {f["name"]: f["type"] for f in body["fields"]}

    types = await of(sobject)
    for relationship, target in parents.items():
        types |= {f"{relationship}.{n}": t for n, t in (await of(target)).items()}
    return types


def _calls(org: SandboxServer) -> dict[str, int]:
    calls = org.stats()["calls"]
    return {
        route.replace("{job_id}", "{id}"): sum(statuses.values())
        for route, statuses in calls.items()
        if "/jobs/query" in route
    }


def _without_attributes(record: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _without_attributes(value) if isinstance(value, dict) else value
        for name, value in record.items()
        if name != "attributes"
    }


async def _rest(http: httpx.AsyncClient, soql: str, resource: str = "query") -> list[dict]:
    body = (await http.get(f"{DATA}/{resource}", params={"q": soql})).json()
    records = list(body["records"])
    while not body["done"]:
        body = (await http.get(body["nextRecordsUrl"])).json()
        records += body["records"]
    return [_without_attributes(r) for r in records]


async def _jobs_left(http: httpx.AsyncClient) -> list[dict]:
    jobs: list[dict] = (await http.get("/_sandbox/bulk")).json()["jobs"]
    return jobs


async def test_rows_stream_page_by_page_typed_and_the_job_is_deleted(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader, sleeps: Sleeps
) -> None:
    types = await _types(client, "Lead")
    soql = "SELECT Id, NumberOfEmployees, HasOptedOutOfEmail, CreatedDate, Industry FROM Lead"
    rows = []
    async with reader.query(soql, types) as query:
        async for row in query:
            if not rows:
                assert query.pages == 1  # the first row came before any other page was asked
                assert query.state is JobState.JOB_COMPLETE
            rows.append(row)
    assert len(rows) == LEADS
    assert query.pages == 5
    first = rows[0]
    assert isinstance(first["CreatedDate"], datetime)
    assert first["CreatedDate"].tzinfo is not None
    assert first["HasOptedOutOfEmail"] is True
    assert first["NumberOfEmployees"] is None
    assert rows[1]["NumberOfEmployees"] == 10
    assert query.resume.rows == LEADS
    assert query.resume.last_id == org.store.records("Lead")[-1].id
    assert query.resume.last_system_modstamp is None  # not selected
    assert sleeps.asked == [0.5, 1.0]  # before the UploadComplete -> InProgress -> done polls
    assert _calls(org) == {
        f"POST {JOBS}": 1,
        f"GET {JOBS}/{{id}}": 2,
        f"GET {JOBS}/{{id}}/results": 5,
        f"DELETE {JOBS}/{{id}}": 1,
    }
    assert await _jobs_left(client) == []
    assert query.cleanup_error is None


async def test_bulk_rows_are_the_records_rest_answers(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    """Every type, awkward text, nulls and a deleted row: each Bulk row, as REST writes it, is
    the record queryAll answers for the same SELECT."""
    gone = org.store.records("Lead")[3]
    org.store.delete(gone)
    types = await _types(client, "Lead")
    async with reader.query(WIDE, types, include_deleted=True) as query:
        bulk = [as_rest_record(row) async for row in query]
    rest = await _rest(client, WIDE, "queryAll")
    assert len(bulk) == LEADS
    assert bulk == rest
    assert {r["Id"]: r["IsDeleted"] for r in bulk}[gone.id] is True
    assert any('"' in r["Company"] for r in bulk)
    assert all("\n" in r["Description"] for r in bulk)

    contacts = "SELECT Id, LastName, Account.Name, Account.NumberOfEmployees FROM Contact"
    types = await _types(client, "Contact", {"Account": "Account"})
    async with reader.query(contacts, types) as query:
        rows = [row async for row in query]
    assert [as_rest_record(r) for r in rows] == await _rest(client, contacts)
    assert rows[0]["Account.NumberOfEmployees"] == 250
    assert as_rest_record(rows[1])["Account"] is None


async def test_query_without_deleted_rows(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    gone = org.store.records("Lead")[0]
    org.store.delete(gone)
    async with reader.query("SELECT Id FROM Lead", {"Id": "id"}) as query:
        ids = [row["Id"] async for row in query]
    assert len(ids) == LEADS - 1
    assert gone.id not in ids


async def test_a_field_the_user_cannot_see_refuses_the_job(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    created = await client.post(
        f"{DATA}/tooling/sobjects/CustomField",
        json={
            "FullName": "Lead.Hidden__c",
            "Metadata": {"label": "H", "type": "Text", "length": 9},
        },
    )
    assert created.status_code == 201
    with pytest.raises(BulkQueryRefused) as refused:
        async with reader.query("SELECT Id, Hidden__c FROM Lead", {}) as query:
            [row async for row in query]
    assert (refused.value.status, refused.value.code) == (400, "INVALID_FIELD")
    assert "No such column 'Hidden__c'" in refused.value.detail
    assert refused.value.resume.rows == 0
    assert await _jobs_left(client) == []


async def test_a_failed_job_reports_what_it_processed_and_is_deleted(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    await client.post("/_sandbox/bulk", json={"steps": 2, "end": "Failed", "after_records": 20})
    with pytest.raises(BulkJobFailed) as failed:
        async with reader.query("SELECT Id FROM Lead", {}) as query:
            [row async for row in query]
    error = failed.value
    assert (error.state, error.processed) == (JobState.FAILED, 20)
    assert error.reason.startswith("InternalServerError")
    assert error.resume.rows == 0  # nothing was handed out: REST starts from the beginning
    assert await _jobs_left(client) == []
    assert _calls(org)[f"DELETE {JOBS}/{{id}}"] == 1


async def test_a_job_aborted_by_someone_else_is_reported(
    client: httpx.AsyncClient, reader: BulkReader
) -> None:
    await client.post("/_sandbox/bulk", json={"end": "Aborted", "after_records": 5})
    with pytest.raises(BulkJobFailed) as aborted:
        async with reader.query("SELECT Id FROM Lead", {}) as query:
            [row async for row in query]
    assert aborted.value.state is JobState.ABORTED
    assert "Aborted" in str(aborted.value)


async def test_a_job_gone_part_way_says_where_rest_takes_over(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    """The job is deleted (as from Setup) after two pages: the reader fails with the rows it
    handed out; REST from the last Id gives the rest, each record exactly once."""
    await client.post("/_sandbox/bulk", json={"delete_after_pages": 2})
    types = {"Id": "id", "SystemModstamp": "datetime"}
    read: list[str] = []
    query = reader.query("SELECT Id, SystemModstamp FROM Lead", types)

    async def consume() -> None:
        async with query:
            async for row in query:
                read.append(row["Id"])

    with pytest.raises(BulkJobFailed, match="404 NOT_FOUND") as gone:
        await consume()
    resume = gone.value.resume
    assert (resume.rows, len(read)) == (20, 20)
    assert resume.last_id == read[-1]
    stamp = org.store.get("Lead", read[-1])
    assert stamp is not None
    assert resume.last_system_modstamp == stamp.get("SystemModstamp")
    rest = await _rest(client, f"SELECT Id FROM Lead WHERE Id > '{resume.last_id}' ORDER BY Id")
    everything = read + [r["Id"] for r in rest]
    assert everything == [r.id for r in org.store.records("Lead")]
    assert isinstance(query.cleanup_error, BulkJobFailed)  # it could not be deleted: it is gone


async def test_stopping_early_deletes_the_job_without_reading_further(
    org: SandboxServer, client: httpx.AsyncClient, reader: BulkReader
) -> None:
    async with reader.query("SELECT Id FROM Lead", {}) as query:
        async for _row in query:
            break
    calls = _calls(org)
    assert calls[f"GET {JOBS}/{{id}}/results"] == 1
    assert calls[f"DELETE {JOBS}/{{id}}"] == 1
    assert f"PATCH {JOBS}/{{id}}" not in calls  # it had ended: nothing to abort
    assert await _jobs_left(client) == []


async def test_a_reader_stopped_while_the_job_runs_aborts_and_deletes_it(
    org: SandboxServer, client: httpx.AsyncClient
) -> None:
    await client.post("/_sandbox/bulk", json={"steps": 50})
    waiting = asyncio.Event()

    async def stuck(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()  # never set: the reader is stopped while it waits

    reader = BulkReader(_send(client), sleep=stuck)

    async def consume() -> None:
        async with reader.query("SELECT Id FROM Lead", {}) as query:
            [row async for row in query]

    task = asyncio.create_task(consume())
    await asyncio.wait_for(waiting.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls = _calls(org)
    assert calls[f"PATCH {JOBS}/{{id}}"] == 1
    assert calls[f"DELETE {JOBS}/{{id}}"] == 1
    assert await _jobs_left(client) == []


async def test_a_job_that_outlasts_the_timeout_is_aborted(
    org: SandboxServer, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    await client.post("/_sandbox/bulk", json={"steps": 100})
    polling = Polling(initial=0.5, factor=2, maximum=4, timeout=20)
    reader = BulkReader(_send(client), polling=polling, sleep=sleeps)
    with pytest.raises(BulkJobFailed, match=r"still InProgress after 23\.5 s") as late:
        async with reader.query("SELECT Id FROM Lead", {}) as query:
            [row async for row in query]
    assert late.value.state is JobState.IN_PROGRESS
    assert sleeps.asked == [0.5, 1, 2, 4, 4, 4, 4, 4]  # backoff, then capped
    assert org.stats()["calls"][f"PATCH {JOBS}/{{job_id}}"] == {"200": 1}
    assert await _jobs_left(client) == []


class Bearer:
    def __init__(self, token: str) -> None:
        self.token = token

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self) -> bool:
        return False


async def test_the_connectors_shared_client_is_a_send(
    org: SandboxServer, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    """`ApiClient.request` as `send`: it raises the 400 of a refused create (CrmRequestError),
    which the reader reports as Salesforce's error; its counts name the job routes."""
    token = client.headers["Authorization"].removeprefix("Bearer ")
    api = ApiClient(
        org.instance_url,
        Bearer(token),
        account=org.config.org_id,
        limiter=RateLimiter(buckets={}),
        transport=httpx.AsyncHTTPTransport(verify=_trust(org)),
    )
    try:
        reader = BulkReader(api.request, max_records=20, sleep=sleeps)
        async with reader.query("SELECT Id, Email FROM Lead", {"Id": "id"}) as query:
            rows = [row async for row in query]
        assert len(rows) == LEADS
        assert api.calls == {
            f"POST {JOBS}": 1,
            f"GET {JOBS}/{{id}}": 2,
            f"GET {JOBS}/{{id}}/results": 3,
            f"DELETE {JOBS}/{{id}}": 1,
        }
        with pytest.raises(BulkQueryRefused) as refused:
            async with reader.query("SELECT Nope FROM Lead", {}) as query:
                [row async for row in query]
        assert refused.value.code == "INVALID_FIELD"
    finally:
        await api.aclose()
