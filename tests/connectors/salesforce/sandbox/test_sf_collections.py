"""sObject Collections: SaveResults in order, allOrNone, the per-record error codes, and
retrieving records by id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxServer


def _lead(org: SandboxServer, index: int = 0) -> str:
    return org.store.records("Lead")[index].id


def _patch(http: httpx.Client, *records: dict[str, Any], all_or_none: bool = False) -> Any:
    answer = http.patch(
        "/composite/sobjects", json={"allOrNone": all_or_none, "records": list(records)}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _one(record_id: str, sobject: str = "Lead", **values: Any) -> dict[str, Any]:
    return {"attributes": {"type": sobject}, "id": record_id, **values}


def _code(result: dict[str, Any]) -> str:
    assert result["success"] is False
    return str(result["errors"][0]["statusCode"])


def test_each_record_gets_its_own_error(org: SandboxServer, http: httpx.Client) -> None:
    converted, deleted, good = _lead(org, 0), _lead(org, 1), _lead(org, 2)
    org.store.update(org.store.get("Lead", converted), {"IsConverted": True}, system=True)
    org.store.delete(org.store.get("Lead", deleted))
    results = _patch(
        http,
        _one(converted, Title="A"),
        _one(deleted, Title="B"),
        _one(good, Title="C"),
        _one(good, IsConverted=True),
        _one(good, Status="x" * 300),
        _one("00Qbroken", Title="D"),
        _one(good, NumberOfEmployees="many"),
        _one(good, LastName=None),
    )
    assert [r.get("id") for r in results[:3]] == [converted, deleted, good]
    assert [_code(r) for r in results[:2]] == ["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED"]
    assert results[2] == {"id": good, "success": True, "errors": []}
    assert _code(results[3]) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert results[3]["errors"][0]["fields"] == ["IsConverted"]
    assert _code(results[4]) == "STRING_TOO_LONG"
    assert _code(results[5]) == "MALFORMED_ID"
    assert _code(results[6]) == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert _code(results[7]) == "REQUIRED_FIELD_MISSING"
    assert org.store.get("Lead", good).get("Title") == "C"


def test_all_or_none_rolls_every_record_back(org: SandboxServer, http: httpx.Client) -> None:
    first, second = _lead(org, 0), _lead(org, 1)
    before = org.store.get("Lead", first).get("Title")
    results = _patch(http, _one(first, Title="New"), _one(second, Email="nope"), all_or_none=True)
    assert _code(results[0]) == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _code(results[1]) == "INVALID_EMAIL_ADDRESS"
    assert org.store.get("Lead", first).get("Title") == before


def test_injected_row_locks_and_validation_rules(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    lead = _lead(org)
    sandbox.post("/faults", json={"lock_row_rate": 1.0, "seed": 1})
    assert _code(_patch(http, _one(lead, Title="x"))[0]) == "UNABLE_TO_LOCK_ROW"
    sandbox.post("/faults", json={"lock_row_rate": 0.0, "validation_rate": 1.0})
    assert _code(_patch(http, _one(lead, Title="x"))[0]) == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    sandbox.post("/faults", json={"validation_rate": 0.0})
    assert _patch(http, _one(lead, Title="x"))[0]["success"] is True


def test_whole_request_refusals(org: SandboxServer, http: httpx.Client) -> None:
    lead = _lead(org)
    too_many = http.patch("/composite/sobjects", json={"records": [_one(lead)] * 201})
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    unknown = http.patch("/composite/sobjects", json={"records": [_one(lead, Nope__c=1)]})
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    untyped = http.patch("/composite/sobjects", json={"records": [{"id": lead}]})
    assert untyped.json()[0]["errorCode"] == "INVALID_TYPE"
    broken = http.patch("/composite/sobjects", content=b"{not json")
    assert broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_every_save_moves_system_modstamp_and_a_users_save_last_modified(
    org: SandboxServer, http: httpx.Client
) -> None:
    lead = org.store.get("Lead", _lead(org))
    modified, stamp = lead.get("LastModifiedDate"), lead.get("SystemModstamp")
    org.store.update(lead, {"LastActivityDate": None}, system=True)
    assert lead.get("LastModifiedDate") == modified
    assert lead.get("SystemModstamp") > stamp
    _patch(http, _one(lead.id, Title="Moved"))
    assert lead.get("LastModifiedDate") > modified


def test_retrieve_up_to_2000_records_by_id(org: SandboxServer, http: httpx.Client) -> None:
    ids = [r.id for r in org.store.records("Lead")]
    gone = ids[0]
    org.store.delete(org.store.get("Lead", gone))
    answer = http.post(
        "/composite/sobjects/Lead",
        json={"ids": [*ids, "00Q5e0000000zzzAAA"], "fields": ["Id", "Email"]},
    )
    records = answer.json()
    assert records[0] is None  # deleted
    assert records[-1] is None  # never existed
    assert [r["Id"] for r in records[1:-1]] == ids[1:]
    assert records[1]["attributes"]["type"] == "Lead"
    too_many = http.post("/composite/sobjects/Lead", json={"ids": ids * 100, "fields": ["Id"]})
    assert len(ids) * 100 > 2000
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    bad_field = http.post("/composite/sobjects/Lead", json={"ids": ids[1:3], "fields": ["Nope"]})
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    by_query = http.get(
        "/composite/sobjects/Lead", params={"ids": ",".join(ids[1:3]), "fields": "Id"}
    )
    assert [r["Id"] for r in by_query.json()] == ids[1:3]


@pytest.mark.parametrize("method", ["create", "update", "delete"])
def test_ordinary_rows(org: SandboxServer, http: httpx.Client, method: str) -> None:
    if method == "create":
        created = http.post("/sobjects/Lead", json={"LastName": "New", "Company": "Co"})
        assert created.status_code == 201
        lead = http.get(f"/sobjects/Lead/{created.json()['id']}").json()
        assert (lead["Name"], lead["Status"], lead["IsDeleted"]) == (
            "New",
            "Open - Not Contacted",
            False,
        )
        missing = http.post("/sobjects/Lead", json={"LastName": "No company"})
        assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    elif method == "update":
        lead = _lead(org)
        assert http.patch(f"/sobjects/Lead/{lead}", json={"Title": "VP"}).status_code == 204
        assert (
            http.get(f"/sobjects/Lead/{lead}", params={"fields": "Title"}).json()["Title"] == "VP"
        )
        assert (
            http.patch("/sobjects/Lead/00Q5e0000000zzzAAA", json={"Title": "x"}).status_code == 404
        )
    else:
        lead = _lead(org)
        assert http.delete(f"/sobjects/Lead/{lead}").status_code == 204
        assert http.delete(f"/sobjects/Lead/{lead}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"
