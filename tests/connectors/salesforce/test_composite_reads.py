"""Many queries through `POST composite`, five a call: next batches through composite too, and
a failed subrequest retried or raised as the same GET would be (the sandbox; respx only for
answers the sandbox never gives)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import (
    CrmRequestError,
    CrmResponseError,
    DailyLimitReached,
    PermissionDenied,
)

from .conftest import connector, member, start_org
from .test_limits import BASE, error, rest

DATA = "/services/data/v62.0"
COMPOSITE = f"POST {DATA}/composite"
QUERY = f"{BASE}{DATA}/query"


async def test_activities_past_a_page_are_read_on_through_composite(tmp_path: Path) -> None:
    org = start_org(tmp_path / "org", [member(1, [("call", 1, {})]), member(2)])
    try:
        busy, quiet = (r.id for r in org.store.records("Lead"))
        for n in range(4_500):
            org.store.create("Task", {"WhoId": busy, "Subject": f"Call {n}", "TaskSubtype": "Call"})
        sf = connector(org)
        try:
            people = await sf.read_contacts([busy, quiet])
            org.runtime.stats.reset()
            activities = await sf.activities(people)
        finally:
            await sf.aclose()
        calls = org.stats()["calls"]
    finally:
        org.stop()
    tasks = {f"Task:{t.id}" for t in org.store.records("Task") if t.get("WhoId") == busy}
    assert len(tasks) == 4_501
    assert {a.crm_id for a in activities if a.type in ("call", "task")} == tasks
    # Task, Event and CampaignMember in one call, then the Tasks' two next batches of 2,000
    # in one each, and the people's survey answers in one more (once describe global said the
    # org has them): no GET query at all (the describes of the objects aside).
    reads = {route: n for route, n in calls.items() if not route.endswith("/describe")}
    assert reads == {COMPOSITE: {"200": 4}, "GET /services/data/v62.0/sobjects": {"200": 1}}


def _slot(status: int, body: Any, reference: str = "q0") -> dict[str, Any]:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}


def _page(*ids: str) -> dict[str, Any]:
    return {"totalSize": len(ids), "done": True, "records": [{"Id": i} for i in ids]}


def _answer(*slots: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"compositeResponse": list(slots)})


FINAL = [
    (400, "MALFORMED_QUERY", "unexpected token: FROM", CrmRequestError),
    (400, "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'", CrmRequestError),
    (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", DailyLimitReached),
    (403, "INSUFFICIENT_ACCESS", "insufficient access rights on object", PermissionDenied),
]


@pytest.mark.parametrize(("status", "code", "message", "raised"), FINAL)
@respx.mock
async def test_a_final_subrequest_error_raises_what_the_get_would(
    status: int, code: str, message: str, raised: type[Exception]
) -> None:
    get = respx.get(QUERY).mock(return_value=error(status, code, message))
    with pytest.raises(raised) as by_get:
        await rest().records("SELECT Id FROM Lead")
    body = [{"message": message, "errorCode": code}]
    sent = respx.post(f"{BASE}{DATA}/composite").mock(return_value=_answer(_slot(status, body)))
    gets = get.call_count
    with pytest.raises(raised) as by_composite:
        await rest().records_each(["SELECT Id FROM Lead"])
    assert str(by_composite.value) == str(by_get.value)
    assert getattr(by_composite.value, "body", None) == getattr(by_get.value, "body", None)
    assert sent.call_count == 1
    assert get.call_count == gets  # not sent again on its own


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "QUERY_TIMEOUT", "Your query request was running for too long."),
        (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
        (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable"),
        (401, "INVALID_SESSION_ID", "Session expired or invalid"),
    ],
)
@respx.mock
async def test_a_transient_subrequest_error_sends_that_get_again_on_its_own(
    status: int, code: str, message: str
) -> None:
    failed = [{"message": message, "errorCode": code}]
    composite = respx.post(f"{BASE}{DATA}/composite").mock(
        return_value=_answer(_slot(200, _page("00Q1")), _slot(status, failed, "q1"))
    )
    # The GET itself is answered with the same error once, then as it should be: the shared
    # client's retries are what carry it.
    alone = respx.get(QUERY).mock(
        side_effect=[error(status, code, message), httpx.Response(200, json=_page("00Q2"))]
    )
    rows = await rest().records_each(["SELECT Id FROM Lead", "SELECT Id FROM Contact"])
    assert rows == [[{"Id": "00Q1"}], [{"Id": "00Q2"}]]
    assert composite.call_count == 1
    assert alone.call_count == 2
    assert alone.calls[0].request.url.params["q"] == "SELECT Id FROM Contact"


@respx.mock
async def test_six_statements_take_two_calls_and_next_batches_follow() -> None:
    seen: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls = [sub["url"] for sub in json.loads(request.content)["compositeRequest"]]
        seen.append(urls)
        slots = []
        for n, url in enumerate(urls):
            if url.endswith("-2000"):
                slots.append(_slot(200, _page("00Qlast"), f"q{n}"))
            elif len(seen) == 1 and n == 0:  # the first statement has a next batch
                more = {**_page("00Qfirst"), "done": False}
                more["nextRecordsUrl"] = f"{DATA}/query/01gLOCATOR-2000"
                slots.append(_slot(200, more, f"q{n}"))
            else:
                slots.append(_slot(200, _page(f"00Q{len(seen)}{n}"), f"q{n}"))
        return _answer(*slots)

    respx.post(f"{BASE}{DATA}/composite").mock(side_effect=answer)
    statements = [f"SELECT Id FROM Lead WHERE Name = 'n{n}'" for n in range(6)]
    rows = await rest().records_each(statements)
    assert [len(urls) for urls in seen] == [5, 1, 1]
    assert seen[2] == [f"{DATA}/query/01gLOCATOR-2000"]
    assert [r["Id"] for r in rows[0]] == ["00Qfirst", "00Qlast"]
    assert [r["Id"] for r in rows[5]] == ["00Q20"]
    assert all(httpx.URL(u).params["q"] == s for u, s in zip(seen[0], statements, strict=False))


@respx.mock
async def test_an_answer_missing_a_subrequest_is_refused() -> None:
    respx.post(f"{BASE}{DATA}/composite").mock(return_value=_answer(_slot(200, _page("00Q1"))))
    with pytest.raises(CrmResponseError, match="1 subrequests"):
        await rest().records_each(["SELECT Id FROM Lead", "SELECT Id FROM Contact"])


@respx.mock
async def test_a_statement_too_long_for_a_uri_is_refused_before_sending() -> None:
    sent = respx.post(f"{BASE}{DATA}/composite").mock(return_value=_answer())
    long = "SELECT Id FROM Lead WHERE Id IN (" + ",".join(["'00Q000000000000AAA'"] * 900) + ")"
    with pytest.raises(ValueError, match="split it"):
        await rest().records_each(["SELECT Id FROM Lead", long])
    assert sent.call_count == 0
