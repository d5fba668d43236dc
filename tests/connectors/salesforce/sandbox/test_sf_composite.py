"""`POST composite`: query subrequests answered in their slots, one API call for the series,
the subrequest limits, errors per subrequest, and allOrNone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxServer

from .conftest import DATA

COMPOSITE = f"POST {DATA}/composite"


def _get(url: str, reference: str, **extra: Any) -> dict[str, Any]:
    return {"method": "GET", "url": url, "referenceId": reference, **extra}


def _query(soql: str, reference: str, resource: str = "query", **extra: Any) -> dict[str, Any]:
    url = str(httpx.URL(f"{DATA}/{resource}/", params={"q": soql}))
    return _get(url, reference, **extra)


def _send(http: httpx.Client, *subrequests: dict[str, Any], **body: Any) -> httpx.Response:
    return http.post("/composite", json={"compositeRequest": list(subrequests), **body})


def _usage(response: httpx.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {str(r["Id"]) for r in records}


def test_five_queries_are_answered_in_their_slots_as_one_call(
    org: SandboxServer, http: httpx.Client
) -> None:
    before = _usage(http.get("/limits"))
    org.runtime.stats.reset()
    lead = org.store.records("Lead")[0]
    answer = _send(
        http,
        _query("SELECT Id FROM Lead", "leads"),
        _query("SELECT Id FROM Contact", "contacts"),
        _query(f"SELECT Id, WhoId FROM Task WHERE WhoId = '{lead.id}'", "tasks"),
        _query("SELECT COUNT() FROM Event", "events"),
        _query("SELECT Id FROM Account", "accounts", "queryAll"),
        allOrNone=False,
    )
    assert answer.status_code == 200, answer.text
    slots = answer.json()["compositeResponse"]
    assert [s["referenceId"] for s in slots] == ["leads", "contacts", "tasks", "events", "accounts"]
    assert all(s["httpStatusCode"] == 200 and s["httpHeaders"] == {} for s in slots)
    bodies = [s["body"] for s in slots]
    assert _ids(bodies[0]["records"]) == {r.id for r in org.store.records("Lead")}
    assert _ids(bodies[1]["records"]) == {r.id for r in org.store.records("Contact")}
    tasks = [t.id for t in org.store.records("Task") if t.get("WhoId") == lead.id]
    assert tasks
    assert _ids(bodies[2]["records"]) == set(tasks)
    assert bodies[3] == {"totalSize": org.store.count("Event"), "done": True, "records": []}
    assert _ids(bodies[4]["records"]) == {r.id for r in org.store.records("Account")}
    assert bodies[0]["records"][0]["attributes"]["type"] == "Lead"
    # The whole series is one call: in the allocation and in the stats.
    assert _usage(answer) == before + 1
    assert org.stats()["calls"] == {COMPOSITE: {"200": 1}}


def test_next_batches_are_read_through_composite_too(
    org: SandboxServer, http: httpx.Client
) -> None:
    lead = org.store.records("Lead")[0].id
    for _ in range(450):
        org.store.create("Task", {"WhoId": lead, "Subject": "x", "Status": "Completed"})
    options = {"httpHeaders": {"Sforce-Query-Options": "batchSize=200"}}
    org.runtime.stats.reset()
    slot = _send(http, _query("SELECT Id FROM Task", "r0", **options)).json()
    page = slot["compositeResponse"][0]["body"]
    sizes, seen = [len(page["records"])], _ids(page["records"])
    while not page["done"]:
        assert page["nextRecordsUrl"].startswith(f"{DATA}/query/01g")
        slot = _send(http, _get(page["nextRecordsUrl"], "r0")).json()
        page = slot["compositeResponse"][0]["body"]
        sizes.append(len(page["records"]))
        seen |= _ids(page["records"])
    total = org.store.count("Task")
    assert sizes == [200] * (total // 200) + ([total % 200] if total % 200 else [])
    assert seen == {t.id for t in org.store.records("Task")}
    assert org.stats()["calls"] == {COMPOSITE: {"200": len(sizes)}}


def test_a_failing_subrequest_answers_in_its_slot(http: httpx.Client) -> None:
    answer = _send(
        http,
        _query("SELECT Id FROM Lead LIMIT 1", "good"),
        _query("SELECT Id FROM", "malformed"),
        _query("SELECT Nope__c FROM Lead", "field"),
        _get(f"{DATA}/query/01gNOSUCHLOCATOR-200", "locator"),
        _query("SELECT Id FROM Contact LIMIT 1", "after"),
    )
    assert answer.status_code == 200
    slots = {s["referenceId"]: s for s in answer.json()["compositeResponse"]}
    assert slots["good"]["httpStatusCode"] == 200
    assert len(slots["good"]["body"]["records"]) == 1
    for reference, code in (
        ("malformed", "MALFORMED_QUERY"),
        ("field", "INVALID_FIELD"),
        ("locator", "INVALID_QUERY_LOCATOR"),
    ):
        assert slots[reference]["httpStatusCode"] == 400
        assert slots[reference]["body"][0]["errorCode"] == code, reference
        assert slots[reference]["body"][0]["message"]
    assert slots["after"]["httpStatusCode"] == 200


def test_all_or_none_halts_every_other_subrequest(http: httpx.Client) -> None:
    answer = _send(
        http,
        _query("SELECT Id FROM Lead LIMIT 1", "before"),
        _query("SELECT Id FROM Nothing", "bad"),
        _query("SELECT Id FROM Contact LIMIT 1", "after"),
        allOrNone=True,
    )
    slots = answer.json()["compositeResponse"]
    assert [s["httpStatusCode"] for s in slots] == [400, 400, 400]
    assert slots[1]["body"][0]["errorCode"] == "INVALID_TYPE"
    assert [slots[i]["body"][0]["errorCode"] for i in (0, 2)] == ["PROCESSING_HALTED"] * 2


def _refusal(answer: httpx.Response) -> tuple[str, str]:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert isinstance(body, list)
    assert len(body) == 1
    return body[0]["errorCode"], body[0]["message"]


def test_more_than_five_queries_is_refused_query_more_included(
    org: SandboxServer, http: httpx.Client
) -> None:
    five = [_query("SELECT Id FROM Lead LIMIT 1", f"r{n}") for n in range(5)]
    assert _send(http, *five).status_code == 200
    more = _get(f"{DATA}/query/01gWHATEVER-200", "more")
    code, message = _refusal(_send(http, *five, more))
    assert code == "LIMIT_EXCEEDED"
    assert "5 query" in message
    assert "not 6" in message
    code, message = _refusal(_send(http, *five, _query("SELECT Id FROM Lead", "all", "queryAll")))
    assert code == "LIMIT_EXCEEDED"


def test_more_than_25_subrequests_is_refused(http: httpx.Client) -> None:
    many = [_query("SELECT Id FROM Lead LIMIT 1", f"r{n}") for n in range(26)]
    code, message = _refusal(_send(http, *many))
    assert code == "LIMIT_EXCEEDED"
    assert "25 subrequests" in message


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"compositeRequest": []}, "compositeRequest"),
        ({"compositeRequest": "x"}, "compositeRequest"),
        ({"compositeRequest": [{"method": "GET", "url": f"{DATA}/query?q=x"}]}, "referenceId"),
        ({"compositeRequest": [_query("SELECT Id FROM Lead", "a-b")]}, "referenceId"),
        ({"compositeRequest": [_query("SELECT Id FROM Lead", "r", method="get")]}, "method"),
        (
            {"compositeRequest": [_query("SELECT Id FROM Lead", "r0")] * 2},
            "Duplicate ReferenceId provided in the request: r0",
        ),
        (
            {
                "compositeRequest": [
                    _query("SELECT Id FROM Lead", "r0", httpHeaders={"Authorization": "x"})
                ]
            },
            "Authorization",
        ),
        (
            {"compositeRequest": [_get(f"{DATA}/sobjects/Lead/describe", "r0")]},
            f"not GET {DATA}/sobjects/Lead/describe",
        ),
        (
            {"compositeRequest": [_query("SELECT Id FROM Lead", "r0", method="POST")]},
            "takes GET, not POST",
        ),
        ({"compositeRequest": [_query("SELECT Id FROM Lead", "r")], "allOrNone": 1}, "allOrNone"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_problem(
    http: httpx.Client, body: dict[str, Any], named: str
) -> None:
    code, message = _refusal(http.post("/composite", json=body))
    assert code == "INVALID_INPUT"
    assert named in message
