"""Batch update/upsert: 207 and per-record errors when every input is traced, else one 400."""

from __future__ import annotations

import httpx

from connectors.hubspot.sandbox import SandboxServer


def _value(sandbox: SandboxServer, contact_id: str, name: str) -> str | None:
    obj = sandbox.store.get("contacts", contact_id)
    assert obj is not None
    return obj.properties.get(name)


def test_traced_batch_applies_good_inputs_and_reports_bad_ones(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={
            "inputs": [
                {"id": "1", "properties": {"hs_lead_status": "OPEN"}, "objectWriteTraceId": "a"},
                {"id": "404", "properties": {"hs_lead_status": "OPEN"}, "objectWriteTraceId": "b"},
                {"id": "2", "properties": {"nosuch": "x"}, "objectWriteTraceId": "c"},
                {"id": "3", "properties": {"hs_lead_status": "MAYBE"}, "objectWriteTraceId": "d"},
                {"id": "4", "properties": {"annualrevenue": "n/a"}, "objectWriteTraceId": "e"},
            ]
        },
    )
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 4
    assert [r["id"] for r in body["results"]] == ["1"]
    assert body["results"][0]["objectWriteTraceId"] == "a"
    traces = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert set(traces) == {"b", "c", "d", "e"}
    assert traces["b"]["category"] == "OBJECT_NOT_FOUND"
    assert traces["c"]["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert traces["d"]["errors"][0]["code"] == "INVALID_OPTION"
    assert traces["e"]["errors"][0]["code"] == "INVALID_NUMBER"
    assert _value(sandbox, "1", "hs_lead_status") == "OPEN"
    assert _value(sandbox, "3", "hs_lead_status") is None


def test_untraced_batch_with_one_bad_input_writes_nothing(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={
            "inputs": [
                {"id": "1", "properties": {"hs_lead_status": "OPEN"}},
                {"id": "2", "properties": {"hs_lead_status": "MAYBE"}},
            ]
        },
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert "MAYBE" in response.json()["message"]
    assert _value(sandbox, "1", "hs_lead_status") is None


def test_partly_traced_batch_is_all_or_nothing(api: httpx.Client, sandbox: SandboxServer) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={
            "inputs": [
                {"id": "1", "properties": {"hs_lead_status": "OPEN"}, "objectWriteTraceId": "a"},
                {"id": "404", "properties": {"hs_lead_status": "OPEN"}},
            ]
        },
    )
    assert response.status_code == 400
    assert _value(sandbox, "1", "hs_lead_status") is None


def test_clean_batch_answers_200(api: httpx.Client, sandbox: SandboxServer) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": str(n), "properties": {"hs_lead_status": "NEW"}} for n in (1, 2)]},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETE"
    assert "errors" not in response.json()
    assert _value(sandbox, "2", "hs_lead_status") == "NEW"


def test_duplicate_ids_and_over_100_inputs_are_refused(api: httpx.Client) -> None:
    duplicate = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": "1", "properties": {}}, {"id": "1", "properties": {}}]},
    )
    assert duplicate.status_code == 400
    too_many = api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": str(n), "properties": {}} for n in range(101)]},
    )
    assert too_many.status_code == 400


def test_upsert_by_email_creates_and_updates(api: httpx.Client, sandbox: SandboxServer) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/upsert",
        json={
            "inputs": [
                {
                    "id": "person1@example.com",
                    "idProperty": "email",
                    "properties": {"jobtitle": "VP Sales"},
                    "objectWriteTraceId": "1",
                },
                {
                    "id": "fresh@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "Fresh"},
                    "objectWriteTraceId": "2",
                },
                {
                    "id": "bad@example.com",
                    "idProperty": "email",
                    "properties": {"industry": "ALCHEMY"},
                    "objectWriteTraceId": "3",
                },
            ]
        },
    )
    assert response.status_code == 207
    results = {r["objectWriteTraceId"]: r for r in response.json()["results"]}
    assert results["1"]["id"] == "1"
    assert results["1"]["new"] is False
    assert results["2"]["new"] is True
    fresh = sandbox.store.find_by("contacts", "email", "fresh@example.com")
    assert fresh is not None
    assert fresh.properties["firstname"] == "Fresh"
    assert sandbox.store.find_by("contacts", "email", "bad@example.com") is None
    assert _value(sandbox, "1", "jobtitle") == "VP Sales"
