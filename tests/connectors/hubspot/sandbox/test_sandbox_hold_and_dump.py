"""`/_sandbox/hold` and `/release` keep calls to a route open; `/_sandbox/dump` lists Glengarry's
values per contact."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

from connectors.hubspot.sandbox import SandboxServer

from .conftest import TOKEN

UPDATE = "POST /crm/v3/objects/contacts/batch/update"
BATCH = {"inputs": [{"id": "1", "properties": {"jobtitle": "Held CFO"}}]}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _waiting(sandbox: SandboxServer) -> int:
    held = httpx.get(f"{sandbox.base_url}/_sandbox/stats").json()["held"]
    return int(held["waiting"].get(UPDATE, 0))


def _jobtitle(sandbox: SandboxServer) -> str | None:
    contact = sandbox.store.get("contacts", "1")
    assert contact is not None
    return contact.properties.get("jobtitle")


def test_a_held_call_waits_unanswered_until_released(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    held = httpx.post(f"{sandbox.base_url}/_sandbox/hold", json={"route": UPDATE})
    assert held.status_code == 200
    assert held.json()["holding"] == [UPDATE]
    answers: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: answers.append(api.post("/crm/v3/objects/contacts/batch/update", json=BATCH))
    )
    sender.start()
    _wait_for(lambda: _waiting(sandbox) == 1, "the batch to be held")
    # Other routes still answer, and the held write has not happened.
    assert api.get("/crm/v3/objects/contacts/2").status_code == 200
    assert _jobtitle(sandbox) != "Held CFO"
    assert answers == []
    released = httpx.post(f"{sandbox.base_url}/_sandbox/release", json={"route": UPDATE}).json()
    assert released == {"released": 1, "holding": [], "waiting": {}, "clients": {}}
    sender.join(timeout=20)
    assert [answer.status_code for answer in answers] == [200]
    assert _jobtitle(sandbox) == "Held CFO"
    assert sandbox.stats()["calls"][UPDATE] == {"200": 1}


def test_a_held_batch_whose_client_is_killed_is_still_applied_on_release(
    sandbox: SandboxServer,
) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/hold", json={"route": UPDATE})
    script = (
        "import httpx, json, sys; "
        "httpx.post(sys.argv[1], json=json.loads(sys.argv[2]), "
        f"headers={{'Authorization': 'Bearer {TOKEN}'}}, timeout=60)"
    )
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            f"{sandbox.base_url}/crm/v3/objects/contacts/batch/update",
            '{"inputs": [{"id": "1", "properties": {"jobtitle": "Held CFO"}}]}',
        ]
    )
    try:
        _wait_for(lambda: _waiting(sandbox) == 1, "the batch to be held")
        client.kill()
        client.wait(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
    assert _jobtitle(sandbox) != "Held CFO"
    assert httpx.post(f"{sandbox.base_url}/_sandbox/release", json={}).json()["released"] == 1
    # The server had the whole request: it is processed although nobody waits for the answer.
    _wait_for(lambda: _jobtitle(sandbox) == "Held CFO", "the held batch to be applied")


def test_a_discarded_call_answers_503_and_changes_nothing(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/hold", json={"route": UPDATE})
    answers: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: answers.append(api.post("/crm/v3/objects/contacts/batch/update", json=BATCH))
    )
    sender.start()
    _wait_for(lambda: _waiting(sandbox) == 1, "the batch to be held")
    released = httpx.post(f"{sandbox.base_url}/_sandbox/release", json={"discard": True}).json()
    assert released["released"] == 1
    sender.join(timeout=20)
    assert [answer.status_code for answer in answers] == [503]
    assert answers[0].json()["category"] == "INTERNAL_ERROR"
    assert _jobtitle(sandbox) != "Held CFO"
    # Released means no longer held: the same call now goes through.
    assert api.post("/crm/v3/objects/contacts/batch/update", json=BATCH).status_code == 200
    assert _jobtitle(sandbox) == "Held CFO"


def test_hold_refuses_a_route_it_does_not_serve(sandbox: SandboxServer) -> None:
    for body in ({"route": "POST /crm/v3/objects/contacts/batch/updat"}, {}, {"route": 3}):
        answer = httpx.post(f"{sandbox.base_url}/_sandbox/hold", json=body)
        assert answer.status_code == 400, body
    typo = httpx.post(f"{sandbox.base_url}/_sandbox/hold", json={"route": "GET /nowhere"})
    assert "no route 'GET /nowhere' to hold" in typo.json()["message"]
    assert (
        httpx.post(f"{sandbox.base_url}/_sandbox/release", json={"discard": "yes"}).status_code
        == 400
    )


def test_dump_lists_every_contacts_glengarry_values(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    api.post("/crm/v3/properties/contacts/groups", json={"name": "glengarry", "label": "G"})
    for name in ("glengarry_status", "glengarry_score"):
        created = api.post(
            "/crm/v3/properties/contacts",
            json={
                "name": name,
                "label": name,
                "type": "string",
                "fieldType": "text",
                "groupName": "glengarry",
            },
        )
        assert created.status_code == 201
    api.post(
        "/crm/v3/objects/contacts/batch/update",
        json={
            "inputs": [
                {"id": "1", "properties": {"glengarry_status": "nurture", "glengarry_score": "40"}},
                {"id": "2", "properties": {"glengarry_status": "sales_ready"}},
            ]
        },
    )
    records = httpx.get(f"{sandbox.base_url}/_sandbox/dump").json()["records"]
    by_id = {record["id"]: record for record in records}
    assert len(records) == sandbox.store.count("contacts")
    assert by_id["1"] == {
        "type": "contacts",
        "id": "1",
        "fields": {"glengarry_status": "nurture", "glengarry_score": "40"},
    }
    assert by_id["2"]["fields"] == {"glengarry_status": "sales_ready"}
    assert by_id["3"]["fields"] == {}
