"""Bulk API 2.0 query jobs in the sandbox: the lifecycle by polls, CSV result pages with
Sforce-NumberOfRecords and Sforce-Locator, maxRecords, queryAll, field-level security, abort
and delete, the Bulk error bodies, every call counted, and the /_sandbox/bulk plan."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import ItemsView
from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import Record, SandboxServer
from connectors.salesforce.sandbox.bulk import QueryJobs, decode_locator, encode_locator

from .conftest import DATA, credentials_client

LEADS = "SELECT Id, Email, IsConverted, CreatedDate, NumberOfEmployees FROM Lead"


def _create(http: httpx.Client, soql: str = LEADS, **extra: Any) -> dict[str, Any]:
    response = http.post("/jobs/query", json={"operation": "query", "query": soql, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _complete(http: httpx.Client, soql: str = LEADS, **extra: Any) -> str:
    job = _create(http, soql, **extra)
    for _ in range(10):
        if http.get(f"/jobs/query/{job['id']}").json()["state"] == "JobComplete":
            return str(job["id"])
    raise AssertionError("the job never completed")


def _pages(http: httpx.Client, job_id: str, max_records: int | None = None) -> list[list[dict]]:
    pages: list[list[dict]] = []
    params: dict[str, Any] = {} if max_records is None else {"maxRecords": max_records}
    while True:
        page = http.get(f"/jobs/query/{job_id}/results", params=params)
        assert page.status_code == 200, page.text
        rows = list(csv.DictReader(io.StringIO(page.text, newline="")))
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(rows)
        pages.append(rows)
        if page.headers["Sforce-Locator"] == "null":
            return pages
        params["locator"] = page.headers["Sforce-Locator"]


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert isinstance(body, list)
    assert set(body[0]) == {"message", "errorCode"}
    return response.status_code, body[0]["errorCode"]


@pytest.fixture
def many(org: SandboxServer) -> int:
    """Leads: 30 seeded plus 70 more."""
    for number in range(70):
        org.store.create(
            "Lead", {"LastName": f"Extra{number}", "Company": "X", "Email": f"x{number}@x.com"}
        )
    return org.store.count("Lead")


def test_a_job_moves_through_its_states_as_it_is_polled(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    sandbox.post("/bulk", json={"steps": 3})
    job = _create(http)
    assert job["state"] == "UploadComplete"
    assert {
        "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
        "concurrencyMode", "contentType", "apiVersion", "lineEnding", "columnDelimiter",
    } == set(job)  # fmt: skip
    assert job["id"].startswith("750")
    assert len(job["id"]) == 18
    assert (job["object"], job["operation"], job["createdById"]) == ("Lead", "query", org.user.id)
    assert (job["contentType"], job["lineEnding"], job["columnDelimiter"]) == ("CSV", "LF", "COMMA")
    early = http.get(f"/jobs/query/{job['id']}/results")
    assert _error(early) == (412, "JOB_NOT_COMPLETE")
    assert early.json()[0]["message"].endswith("Current status: UPLOAD_COMPLETE")
    seen = []
    for _ in range(4):
        info = http.get(f"/jobs/query/{job['id']}").json()
        seen.append((info["state"], info["numberRecordsProcessed"]))
    assert seen == [("InProgress", 0), ("InProgress", 10), ("InProgress", 20), ("JobComplete", 30)]
    assert info["jobType"] == "V2Query"
    assert info["retries"] == 0
    assert info["numberRecordsProcessed"] == org.store.count("Lead")


def test_results_come_in_csv_pages_of_max_records_with_a_locator_until_null(
    org: SandboxServer, http: httpx.Client, many: int
) -> None:
    job_id = _complete(http, "SELECT Id, Email FROM Lead")
    pages = _pages(http, job_id, max_records=30)
    assert [len(p) for p in pages] == [30, 30, 30, 10]
    assert many == 100
    ids = [row["Id"] for page in pages for row in page]
    rest = http.get("/query", params={"q": "SELECT Id FROM Lead"}).json()["records"]
    assert ids == [r["Id"] for r in rest]  # the same rows, in the same (id) order
    first = http.get(f"/jobs/query/{job_id}/results", params={"maxRecords": 30})
    assert first.text.splitlines()[0] == '"Id","Email"'
    assert first.headers["Content-Type"].startswith("text/csv")
    # A set's locator does not change: asked again, it answers the same rows.
    locator = first.headers["Sforce-Locator"]
    again = [
        http.get(f"/jobs/query/{job_id}/results", params={"maxRecords": 30, "locator": locator})
        for _ in range(2)
    ]
    assert again[0].text == again[1].text
    assert again[0].text.splitlines()[0] == '"Id","Email"'  # every set has the header
    # Without maxRecords the sandbox's default set (50,000) holds everything.
    assert [len(p) for p in _pages(http, job_id)] == [100]


def test_locators_look_like_salesforce_ones() -> None:
    assert encode_locator(10_000) == "MTAwMDA"  # the documentation's example
    assert decode_locator("MTAwMDA") == 10_000
    assert decode_locator("not a locator!") is None


def test_an_empty_result_is_one_set_with_the_header(http: httpx.Client) -> None:
    job_id = _complete(http, "SELECT Id FROM Lead WHERE Email = 'nobody@nowhere.example'")
    page = http.get(f"/jobs/query/{job_id}/results")
    assert page.headers["Sforce-NumberOfRecords"] == "0"
    assert page.headers["Sforce-Locator"] == "null"
    assert page.text == '"Id"\n'


def test_query_all_includes_deleted_records(org: SandboxServer, http: httpx.Client) -> None:
    lead = org.store.records("Lead")[0]
    assert http.delete(f"/sobjects/Lead/{lead.id}").status_code == 204
    soql = "SELECT Id, IsDeleted FROM Lead"
    live = _pages(http, _complete(http, soql))[0]
    assert lead.id not in {row["Id"] for row in live}
    everything = _pages(http, _complete(http, soql, operation="queryAll"))[0]
    assert len(everything) == len(live) + 1
    assert {row["Id"]: row["IsDeleted"] for row in everything}[lead.id] == "true"
    info = http.post("/jobs/query", json={"operation": "queryAll", "query": soql}).json()
    assert info["operation"] == "queryAll"


def test_values_are_written_as_bulk_csv(org: SandboxServer, http: httpx.Client) -> None:
    lead = org.store.records("Lead")[0]
    text = 'He said "yes, tomorrow",\nthen left; | ^ `'
    org.store.update(lead, {"Description": text, "Title": None, "AnnualRevenue": 1234.5})
    soql = (
        "SELECT Id, Description, Title, AnnualRevenue, IsConverted, SystemModstamp, "
        f"LastActivityDate FROM Lead WHERE Id = '{lead.id}'"
    )
    raw = http.get(f"/jobs/query/{_complete(http, soql)}/results").text
    assert raw.startswith('"Id","Description","Title","AnnualRevenue","IsConverted"')
    row = next(csv.DictReader(io.StringIO(raw, newline="")))
    assert row["Description"] == text
    assert row["Title"] == ""  # null is an empty field
    assert row["AnnualRevenue"] == "1234.5"
    assert row["IsConverted"] == "false"
    stamp = lead.get("SystemModstamp")
    assert row["SystemModstamp"] == stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    for delimiter, char in (("CARET", "^"), ("TAB", "\t"), ("PIPE", "|"), ("BACKQUOTE", "`")):
        job_id = _complete(http, soql, columnDelimiter=delimiter, lineEnding="CRLF")
        page = http.get(f"/jobs/query/{job_id}/results").text
        assert page.split("\r\n")[0].count(char) == 6
        parsed = next(csv.DictReader(io.StringIO(page, newline=""), delimiter=char))
        assert parsed["Description"] == text


def test_parent_fields_are_dotted_columns_and_a_missing_parent_is_empty(
    org: SandboxServer, http: httpx.Client
) -> None:
    orphan = org.store.records("Contact")[0]
    org.store.update(orphan, {"AccountId": None})
    job_id = _complete(http, "SELECT Id, Account.Name, Account.Industry FROM Contact")
    rows = {row["Id"]: row for row in _pages(http, job_id)[0]}
    assert list(next(iter(rows.values()))) == ["Id", "Account.Name", "Account.Industry"]
    assert rows[orphan.id]["Account.Name"] == ""
    assert {r["Account.Name"] for i, r in rows.items() if i != orphan.id} >= {"Acme"}


def test_a_field_the_user_cannot_see_refuses_the_job_until_it_is_granted(
    org: SandboxServer, http: httpx.Client
) -> None:
    body = {
        "FullName": "Lead.Secret__c",
        "Metadata": {"label": "Secret", "type": "Text", "length": 40},
    }
    assert http.post("/tooling/sobjects/CustomField", json=body).status_code == 201
    soql = "SELECT Id, Secret__c FROM Lead"
    refused = http.post("/jobs/query", json={"operation": "query", "query": soql})
    assert _error(refused) == (400, "INVALID_FIELD")
    assert "No such column 'Secret__c' on entity 'Lead'" in refused.json()[0]["message"]
    parent = http.post("/sobjects/PermissionSet", json={"Name": "S", "Label": "S"}).json()["id"]
    http.post(
        "/sobjects/ObjectPermissions",
        json={"ParentId": parent, "SobjectType": "Lead", "PermissionsRead": True},
    )
    http.post(
        "/sobjects/FieldPermissions",
        json={
            "ParentId": parent,
            "SobjectType": "Lead",
            "Field": "Lead.Secret__c",
            "PermissionsRead": True,
        },
    )
    http.post(
        "/sobjects/PermissionSetAssignment",
        json={"AssigneeId": org.user.id, "PermissionSetId": parent},
    )
    assert len(_pages(http, _complete(http, soql))[0]) == org.store.count("Lead")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"operation": "query", "query": "SELECT COUNT() FROM Lead"}, 400, "API_ERROR"),
        ({"operation": "query", "query": "SELECT Id FROM Lead GROUP BY Id"}, 400,
         "MALFORMED_QUERY"),
        ({"operation": "query", "query": "SELECT Id FROM Nothing__c"}, 400, "INVALID_TYPE"),
        ({"operation": "insert", "query": "SELECT Id FROM Lead"}, 400, "INVALIDJOB"),
        ({"operation": "query"}, 400, "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Id FROM Lead", "contentType": "JSON"}, 400,
         "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Id FROM Lead", "columnDelimiter": "DOT"}, 400,
         "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Id FROM Lead", "lineEnding": "CR"}, 400,
         "INVALIDJOB"),
    ],
)  # fmt: skip
def test_refused_creates(http: httpx.Client, body: dict[str, Any], status: int, code: str) -> None:
    assert _error(http.post("/jobs/query", json=body)) == (status, code)


def test_refusals_of_jobs_and_results(http: httpx.Client) -> None:
    assert _error(http.get("/jobs/query/7505e0000000000AAA")) == (404, "NOT_FOUND")
    assert _error(http.post("/jobs/query", content=b"{nope")) == (400, "JSON_PARSER_ERROR")
    job_id = _complete(http)
    results = f"/jobs/query/{job_id}/results"
    assert _error(http.get(results, params={"maxRecords": 0})) == (400, "INVALIDQUERYPARAMETER")
    assert _error(http.get(results, params={"maxRecords": "x"})) == (400, "INVALIDQUERYPARAMETER")
    assert _error(http.get(results, params={"locator": "!!"})) == (400, "INVALIDLOCATOR")
    beyond = encode_locator(10_000)
    assert _error(http.get(results, params={"locator": beyond})) == (400, "INVALIDLOCATOR")


def test_abort_and_delete(http: httpx.Client, sandbox: httpx.Client) -> None:
    sandbox.post("/bulk", json={"steps": 5})
    job = _create(http)
    path = f"/jobs/query/{job['id']}"
    assert http.get(path).json()["state"] == "InProgress"
    not_yet = http.delete(path)
    assert _error(not_yet) == (400, "API_ERROR")
    assert "the job is not terminated" in not_yet.json()[0]["message"]
    assert _error(http.patch(path, json={"state": "JobComplete"})) == (400, "INVALIDJOBSTATE")
    aborted = http.patch(path, json={"state": "Aborted"})
    assert aborted.status_code == 200
    assert aborted.json()["state"] == "Aborted"
    assert http.get(path).json()["state"] == "Aborted"
    assert _error(http.get(f"{path}/results")) == (412, "JOB_NOT_COMPLETE")
    again = http.patch(path, json={"state": "Aborted"})
    assert _error(again) == (400, "INVALIDJOBSTATE")
    assert again.json()[0]["message"] == "Aborting already Aborted Job not allowed"
    deleted = http.delete(path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _error(http.get(path)) == (404, "NOT_FOUND")
    assert sandbox.get("/bulk").json()["jobs"] == []


def test_every_call_counts_against_the_allocation(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client, many: int
) -> None:
    sandbox.post("/stats/reset")
    usage = []
    job = http.post("/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Lead"})
    usage.append(job.headers["Sforce-Limit-Info"])
    path = f"/jobs/query/{job.json()['id']}"
    for _ in range(2):
        usage.append(http.get(path).headers["Sforce-Limit-Info"])
    for locator in (None, encode_locator(60)):
        params: dict[str, Any] = {"maxRecords": 60}
        if locator:
            params["locator"] = locator
        usage.append(http.get(f"{path}/results", params=params).headers["Sforce-Limit-Info"])
    usage.append(http.delete(path).headers["Sforce-Limit-Info"])
    sandbox.get("/bulk")  # the sandbox's own routes are not counted
    assert usage == [f"api-usage={n}/15000" for n in range(1, 7)]
    calls = org.stats()["calls"]
    assert {route: sum(s.values()) for route, s in calls.items()} == {
        f"POST {DATA}/jobs/query": 1,
        f"GET {DATA}/jobs/query/{{job_id}}": 2,
        f"GET {DATA}/jobs/query/{{job_id}}/results": 2,
        f"DELETE {DATA}/jobs/query/{{job_id}}": 1,
    }
    sandbox.post("/faults", json={"spend_allocation": True})
    spent = http.post("/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Lead"})
    assert _error(spent) == (403, "REQUEST_LIMIT_EXCEEDED")


def test_the_plan_fails_aborts_or_deletes_jobs_part_way(
    http: httpx.Client, sandbox: httpx.Client, many: int
) -> None:
    sandbox.post("/bulk", json={"steps": 2, "end": "Failed", "after_records": 40})
    job = _create(http)
    path = f"/jobs/query/{job['id']}"
    states = [http.get(path).json() for _ in range(3)]
    assert [(s["state"], s["numberRecordsProcessed"]) for s in states] == [
        ("InProgress", 0), ("InProgress", 40), ("Failed", 40),
    ]  # fmt: skip
    assert states[-1]["errorMessage"].startswith("InternalServerError")
    assert "errorMessage" not in states[0]
    assert _error(http.get(f"{path}/results")) == (412, "JOB_NOT_COMPLETE")
    assert http.delete(path).status_code == 204

    sandbox.post("/bulk", json={"steps": 1, "end": "Aborted", "after_records": 7})
    job = _create(http)
    path = f"/jobs/query/{job['id']}"
    http.get(path)
    ended = http.get(path).json()
    assert (ended["state"], ended["numberRecordsProcessed"]) == ("Aborted", 7)

    plan = sandbox.post("/bulk", json={"end": "JobComplete", "delete_after_pages": 2}).json()
    assert plan["plan"]["delete_after_pages"] == 2
    job_id = _complete(http, "SELECT Id FROM Lead")
    first = http.get(f"/jobs/query/{job_id}/results", params={"maxRecords": 30})
    second = http.get(
        f"/jobs/query/{job_id}/results",
        params={"maxRecords": 30, "locator": first.headers["Sforce-Locator"]},
    )
    assert second.status_code == 200
    assert second.headers["Sforce-NumberOfRecords"] == "30"
    third = http.get(
        f"/jobs/query/{job_id}/results",
        params={"maxRecords": 30, "locator": second.headers["Sforce-Locator"]},
    )
    assert _error(third) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "word"),
    [({"steps": 0}, "steps"), ({"end": "Done"}, "end"), ({"after_records": -1}, "after_records"),
     ({"delete_after_pages": 0}, "delete_after_pages"), ({"steps": "2"}, "steps"),
     ({"surprise": 1}, "surprise")],
)  # fmt: skip
def test_a_bad_plan_is_refused_naming_the_setting(
    sandbox: httpx.Client, body: dict[str, Any], word: str
) -> None:
    refused = sandbox.post("/bulk", json=body)
    assert refused.status_code == 400
    assert word in refused.json()[0]["message"]
    assert sandbox.get("/bulk").json()["plan"]["steps"] == 1  # nothing changed


def test_a_page_is_written_as_it_is_sent(org: SandboxServer, http: httpx.Client) -> None:
    """Rows are read from the store a chunk at a time while the page goes out: a record
    changed after the page started but before its chunk was written shows the change."""
    for number in range(2_500):
        org.store.create("Lead", {"LastName": f"L{number}", "Company": "C"})
    job_id = _complete(http, "SELECT Id, Title FROM Lead")
    jobs: QueryJobs = org.app.state.bulk
    page = jobs.results(job_id, None, None)
    assert page.count == org.store.count("Lead")
    header = next(page.chunks)
    assert header == '"Id","Title"\n'
    first_chunk = next(page.chunks)
    assert first_chunk.count("\n") == 1_000
    job = jobs.job(job_id)
    assert job is not None
    late = job.matched[2_100]
    org.store.update(late, {"Title": "Changed meanwhile"})
    rest = "".join(page.chunks)
    assert f'"{late.id}","Changed meanwhile"' in rest
    assert (first_chunk + rest).count("\n") == page.count


def test_simple_salesforce_bulk2_reads_every_set(org: SandboxServer, many: int) -> None:
    """The official client's Bulk 2.0 query: create, wait, then sets until the locator is null."""
    client = credentials_client(org)
    sets = list(client.bulk2.Lead.query("SELECT Id, Email FROM Lead", max_records=40, wait=0))
    assert len(sets) == math.ceil(many / 40)
    ids = [r["Id"] for text in sets for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert sorted(ids) == sorted(r.id for r in org.store.records("Lead"))
    lead = org.store.records("Lead")[0]
    org.store.delete(lead)
    every = client.bulk2.Lead.query_all("SELECT Id, IsDeleted FROM Lead", wait=0)
    rows = [r for text in every for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert {r["Id"]: r["IsDeleted"] for r in rows}[lead.id] == "true"


class _CountingScans(dict[str, Record]):
    """A store's records of one object, counting the walks over all of them."""

    scans = 0

    def items(self) -> ItemsView[str, Record]:
        _CountingScans.scans += 1
        return super().items()


def test_reading_a_parent_does_not_walk_every_record_of_its_object(org: SandboxServer) -> None:
    """A page of Contacts reads each one's Account: finding it must not look at every
    Account (the recycle bin ages out only when something in it is old enough)."""
    store = org.store
    accounts = [store.create("Account", {"Name": f"A{n}"}) for n in range(50)]
    store._records["Account"] = _CountingScans(store._records["Account"])
    _CountingScans.scans = 0
    for account in accounts:
        assert store.get("Account", account.id) is account
    assert _CountingScans.scans == 0
    store.delete(accounts[0])
    for account in accounts[1:]:
        assert store.get("Account", account.id) is account
    assert _CountingScans.scans == 0  # the deletion is fresh: nothing to age out yet
    store.clock.advance(timedelta(days=16))
    assert store.get("Account", accounts[0].id, deleted=True) is None  # aged out
    assert store.get("Account", accounts[1].id) is accounts[1]
    assert _CountingScans.scans == 1  # one walk, when something was old enough
