"""query and queryAll: batches and locators, the batch size rules, the pinned version, and
Salesforce's error bodies."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxServer

from .conftest import DATA, trust


def _pages(http: httpx.Client, soql: str, batch: str | None = None) -> list[int]:
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    body = http.get("/query", params={"q": soql}, headers=headers).json()
    sizes = [len(body["records"])]
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith(f"{DATA}/query/01g")
        body = http.get(body["nextRecordsUrl"].removeprefix(DATA)).json()
        sizes.append(len(body["records"]))
    return sizes


@pytest.fixture
def many(org: SandboxServer) -> int:
    """2,450 Tasks in all."""
    lead = org.store.records("Lead")[0].id
    for _ in range(2_450 - org.store.count("Task")):
        org.store.create("Task", {"WhoId": lead, "Subject": "x", "Status": "Completed"})
    return org.store.count("Task")


@pytest.mark.parametrize(
    ("batch", "sizes"),
    [(None, [2000, 450]), ("500", [500] * 4 + [450]), ("50", [200] * 12 + [50]),
     ("5000", [2000, 450])],
)  # fmt: skip
def test_batch_sizes(http: httpx.Client, many: int, batch: str | None, sizes: list[int]) -> None:
    assert many == 2_450
    assert _pages(http, "SELECT Id FROM Task", batch) == sizes


def test_two_custom_long_text_fields_cap_the_batch_at_200(
    org: SandboxServer, http: httpx.Client, many: int
) -> None:
    names = []
    for number in (1, 2):
        name = f"Notes{number}__c"
        body = {
            "FullName": f"Task.{name}",
            "Metadata": {"label": name, "type": "LongTextArea", "length": 5000, "visibleLines": 3},
        }
        assert http.post("/tooling/sobjects/CustomField", json=body).status_code == 201
        names.append(name)
    parent = http.post("/sobjects/PermissionSet", json={"Name": "N", "Label": "N"}).json()["id"]
    http.post(
        "/sobjects/ObjectPermissions",
        json={"ParentId": parent, "SobjectType": "Task", "PermissionsRead": True},
    )
    for name in names:
        http.post(
            "/sobjects/FieldPermissions",
            json={
                "ParentId": parent,
                "SobjectType": "Task",
                "Field": f"Task.{name}",
                "PermissionsRead": True,
            },
        )
    http.post(
        "/sobjects/PermissionSetAssignment",
        json={"AssigneeId": org.user.id, "PermissionSetId": parent},
    )
    assert _pages(http, f"SELECT Id, {names[0]} FROM Task", "1000")[0] == 1000
    assert _pages(http, f"SELECT Id, {names[0]}, {names[1]} FROM Task", "1000")[0] == 200


def test_query_hides_deleted_rows_and_query_all_shows_them(
    org: SandboxServer, http: httpx.Client
) -> None:
    lead = org.store.records("Lead")[0]
    assert http.delete(f"/sobjects/Lead/{lead.id}").status_code == 204
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead.id}'"
    assert http.get("/query", params={"q": soql}).json()["totalSize"] == 0
    rows = http.get("/queryAll", params={"q": soql}).json()["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(lead.id, True)]
    assert http.get(f"/sobjects/Lead/{lead.id}").status_code == 404


def test_relationship_fields_nest_and_a_missing_parent_is_null(
    org: SandboxServer, http: httpx.Client
) -> None:
    rows = http.get(
        "/query",
        params={"q": "SELECT Id, Account.Industry, Account.Name FROM Contact ORDER BY Email"},
    ).json()["records"]
    acme = [r for r in rows if r["Account"]["Name"] == "Acme"]
    assert len(acme) == 2
    assert acme[0]["Account"]["Industry"] == "Banking"
    assert acme[0]["Account"]["attributes"]["type"] == "Account"
    contact = org.store.records("Contact")[0]
    org.store.update(contact, {"AccountId": None})
    orphan = http.get(
        "/query", params={"q": f"SELECT Account.Name FROM Contact WHERE Id = '{contact.id}'"}
    ).json()["records"]
    assert orphan[0]["Account"] is None


def test_refusals_are_salesforce_error_arrays(org: SandboxServer, http: httpx.Client) -> None:
    malformed = http.get("/query", params={"q": "SELECT Id FROM Lead GROUP BY Id"})
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    unknown = http.get("/query", params={"q": "SELECT Id FROM Nothing__c"})
    assert unknown.json()[0]["errorCode"] == "INVALID_TYPE"
    locator = http.get("/query/01gNOPE0000000-2000")
    assert locator.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    other_version = http.get(
        f"{org.instance_url}/services/data/v58.0/query", params={"q": "SELECT Id FROM Lead"}
    )
    assert other_version.status_code == 404
    assert other_version.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    versions = httpx.get(f"{org.instance_url}/services/data", verify=trust(org))
    assert [v["version"] for v in versions.json()] == ["62.0"]


def test_an_expired_or_unknown_session_is_invalid_session_id(
    org: SandboxServer, http: httpx.Client
) -> None:
    assert http.get("/limits").status_code == 200
    org.store.clock.advance(timedelta(seconds=org.config.session_ttl_seconds + 1))
    expired = http.get("/limits")
    assert expired.status_code == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    unknown = http.get("/limits", headers={"Authorization": "Bearer 00D!nonsense"})
    assert unknown.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_a_locator_can_be_read_through_query_all_too(http: httpx.Client, many: int) -> None:
    first = http.get("/queryAll", params={"q": "SELECT Id FROM Task"}).json()
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    assert first["nextRecordsUrl"] == f"{DATA}/query/{locator}"
    again = http.get(f"/queryAll/{locator}").json()
    assert again["done"] is True
    assert len(again["records"]) == many - 2000


def test_converted_leads_and_merge_losers_carry_their_fields(
    org: SandboxServer, http: httpx.Client
) -> None:
    converted, master, loser = org.store.records("Lead")[:3]
    contact = org.store.convert_lead(converted)
    org.store.merge(master, loser)
    rows = http.get(
        "/queryAll",
        params={
            "q": "SELECT Id, IsConverted, ConvertedDate, ConvertedContactId, IsDeleted, "
            f"MasterRecordId FROM Lead WHERE Id IN ('{converted.id}', '{loser.id}') ORDER BY Id"
        },
    ).json()["records"]
    by_id = {r["Id"]: r for r in rows}
    assert by_id[converted.id]["IsConverted"] is True
    assert by_id[converted.id]["ConvertedDate"] == org.store.clock.now().date().isoformat()
    assert by_id[converted.id]["ConvertedContactId"] == contact.id
    assert (by_id[loser.id]["IsDeleted"], by_id[loser.id]["MasterRecordId"]) == (True, master.id)
    live = http.get("/query", params={"q": f"SELECT Id FROM Lead WHERE Id = '{loser.id}'"})
    assert live.json()["totalSize"] == 0
    refused = http.patch(f"/sobjects/Lead/{converted.id}", json={"Title": "x"})
    assert refused.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
