"""The sandbox's own routes: stats, simulate, faults, clock, hold/release, dump; and seeding."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors.salesforce.sandbox import SandboxServer

from .conftest import DATA, jwt_client, trust

UPDATE = f"PATCH {DATA}/composite/sobjects"
TOKEN = "POST /services/oauth2/token"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_seeding_maps_the_population(org: SandboxServer) -> None:
    store = org.store
    leads = {r.get("Email"): r for r in store.records("Lead")}
    lead = leads["person1@example1.com"]
    assert (lead.get("Company"), lead.get("Industry"), lead.get("NumberOfEmployees")) == (
        "Company 1",
        "Technology",
        50,
    )
    assert lead.get("Country") == "Germany"
    assert lead.get("IsConverted") is False
    assert leads["person2@example2.com"].get("Industry") == "Retail"
    calls = [t for t in store.records("Task") if t.get("WhoId") == lead.id]
    assert [(t.get("TaskSubtype"), t.get("CallDurationInSeconds")) for t in calls] == [("Call", 60)]
    assert lead.get("LastActivityDate") == calls[0].get("ActivityDate")
    member = next(m for m in store.records("CampaignMember") if m.get("LeadId") == lead.id)
    campaign = store.get("Campaign", member.get("CampaignId"))
    assert (campaign.get("Name"), campaign.get("Type")) == ("May news", "Email")
    assert member.get("HasResponded") is True
    assert member.get("FirstRespondedDate") is not None
    accounts = {r.get("Name"): r for r in store.records("Account")}
    assert set(accounts) == {"Acme", "Beta"}
    acme = accounts["Acme"]
    assert (acme.get("Industry"), acme.get("NumberOfEmployees"), acme.get("BillingCountry")) == (
        "Banking",
        1000,
        "France",
    )
    contacts = [c for c in store.records("Contact") if c.get("AccountId") == acme.id]
    assert len(contacts) == 2
    won = [o for o in store.records("Opportunity") if o.get("AccountId") == acme.id]
    assert [(o.get("StageName"), o.get("IsWon")) for o in won] == [("Closed Won", True)]
    beta = [o for o in store.records("Opportunity") if o.get("AccountId") == accounts["Beta"].id]
    assert [o.get("IsWon") for o in beta] == [False]
    meetings = [e for e in store.records("Event") if e.get("WhoId") == contacts[0].id]
    assert [e.get("Type") for e in meetings] == ["Meeting"]


def test_stats_count_calls_per_route_template_and_status(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    lead = org.store.records("Lead")[0].id
    http.get(f"/sobjects/Lead/{lead}")
    http.get("/sobjects/Lead/00Q5e0000000zzzAAA")
    stats = sandbox.get("/stats").json()
    assert stats["calls"][f"GET {DATA}/sobjects/{{sobject}}/{{record_id}}"] == {"200": 1, "404": 1}
    assert stats["api_usage"]["used"] == 2
    reset = sandbox.post("/stats/reset").json()
    assert reset["calls"] == {}


def test_simulate_makes_activity_now(org: SandboxServer, sandbox: httpx.Client) -> None:
    before = org.store.count("Task") + org.store.count("Event") + org.store.count("CampaignMember")
    answer = sandbox.post("/simulate", json={"contacts": 5, "events_per_contact": 4}).json()
    assert len(answer["contact_ids"]) == 5
    assert answer["events"] == 20
    after = org.store.count("Task") + org.store.count("Event") + org.store.count("CampaignMember")
    assert after > before
    touched = [org.store.find(i) for i in answer["contact_ids"]]
    assert all(t is not None and t.type in ("Lead", "Contact") for t in touched)
    assert sandbox.post("/simulate", json={"contacts": -1}).status_code == 400


def test_bad_sandbox_inputs_are_400(sandbox: httpx.Client) -> None:
    assert sandbox.post("/faults", json={"typo": 1}).status_code == 400
    assert sandbox.post("/faults", json={"lock_row_rate": 3}).status_code == 400
    assert sandbox.post("/faults", json={"expire_sessions": "yes"}).status_code == 400
    assert sandbox.post("/clock", json={"advance_days": -1}).status_code == 400
    assert sandbox.post("/purge", json={"sobject": "Nope"}).status_code == 400
    assert sandbox.post("/hold", json={"route": "PATCH /nowhere"}).status_code == 400


def test_expire_sessions_fault(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    assert http.get("/limits").status_code == 200
    sandbox.post("/faults", json={"expire_sessions": True})
    assert http.get("/limits").json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_token_endpoint_down_fault(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    """Every login is refused 503 while it is set, whichever the grant; open sessions work."""
    logins = {
        "client credentials": lambda: httpx.post(
            f"{org.instance_url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(org.config.client_id, org.config.client_secret),
            verify=trust(org),
        ),
        "JWT bearer": lambda: jwt_client(org),
    }
    assert sandbox.post("/faults", json={"token_endpoint_down": True}).json()["token_endpoint_down"]
    down = logins["client credentials"]()
    assert down.status_code == 503
    assert down.json()["error"] == "temporarily_unavailable"
    with pytest.raises(SalesforceAuthenticationFailed, match="temporarily_unavailable"):
        logins["JWT bearer"]()
    assert http.get("/limits").status_code == 200  # the API itself is up
    assert sandbox.get("/stats").json()["calls"][TOKEN]["503"] == 2
    assert sandbox.post("/faults", json={"token_endpoint_down": "yes"}).status_code == 400
    sandbox.post("/faults", json={"token_endpoint_down": False})
    assert logins["client credentials"]().status_code == 200
    assert jwt_client(org).session_id


def test_a_held_batch_whose_client_is_killed_is_applied_on_release(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    lead = org.store.records("Lead")[0]
    assert sandbox.post("/hold", json={"route": UPDATE}).json()["holding"] == [UPDATE]
    token = http.headers["Authorization"]
    script = (
        "import httpx, ssl, sys; "
        "httpx.patch(sys.argv[1], json={'records': [{'attributes': {'type': 'Lead'}, "
        "'id': sys.argv[2], 'Title': 'Held'}]}, headers={'Authorization': sys.argv[3]}, "
        "verify=ssl.create_default_context(cafile=sys.argv[4]), timeout=60)"
    )
    client = subprocess.Popen(
        [sys.executable, "-c", script, f"{org.instance_url}{DATA}/composite/sobjects",
         lead.id, token, str(org.ca_file)]
    )  # fmt: skip
    try:
        _wait_for(lambda: sandbox.get("/stats").json()["held"]["waiting"].get(UPDATE) == 1, "hold")
        client.kill()
        client.wait(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
    assert lead.get("Title") != "Held"
    assert sandbox.post("/release", json={}).json()["released"] == 1
    _wait_for(lambda: lead.get("Title") == "Held", "the held batch to be applied")


def test_a_discarded_call_answers_503(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    lead = org.store.records("Lead")[0]
    sandbox.post("/hold", json={"route": UPDATE})
    answers: list[httpx.Response] = []
    body = {"records": [{"attributes": {"type": "Lead"}, "id": lead.id, "Title": "Never"}]}
    sender = threading.Thread(
        target=lambda: answers.append(http.patch("/composite/sobjects", json=body))
    )
    sender.start()
    _wait_for(lambda: sandbox.get("/stats").json()["held"]["waiting"].get(UPDATE) == 1, "hold")
    sandbox.post("/release", json={"route": UPDATE, "discard": True})
    sender.join(timeout=20)
    assert answers[0].status_code == 503
    assert answers[0].json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert lead.get("Title") != "Never"


def test_dump_lists_every_lead_and_contact_glengarry_values(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    for sobject in ("Lead", "Contact"):
        created = http.post(
            "/tooling/sobjects/CustomField",
            json={"FullName": f"{sobject}.Glengarry_Status__c",
                  "Metadata": {"label": "Status", "type": "Text", "length": 40}},
        )  # fmt: skip
        assert created.status_code == 201
        field = org.store.objects[sobject].fields["Glengarry_Status__c"]
        assert field.custom
    lead, contact = org.store.records("Lead")[0], org.store.records("Contact")[0]
    org.store.update(lead, {"Glengarry_Status__c": "nurture"})
    org.store.update(contact, {"Glengarry_Status__c": "customer_active"})
    records = sandbox.get("/dump").json()["records"]
    assert len(records) == org.store.count("Lead") + org.store.count("Contact")
    by_id = {r["id"]: r for r in records}
    assert by_id[lead.id] == {
        "type": "Lead",
        "id": lead.id,
        "fields": {"Glengarry_Status__c": "nurture"},
    }
    assert by_id[contact.id]["fields"] == {"Glengarry_Status__c": "customer_active"}
    assert by_id[org.store.records("Lead")[1].id]["fields"] == {}
