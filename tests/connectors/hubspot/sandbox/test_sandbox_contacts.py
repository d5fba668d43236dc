"""Contacts v3 against a real sandbox: paging, reads, writes, archive/restore, merge, GDPR."""

from __future__ import annotations

import httpx
import pytest

from connectors.hubspot.mapping import to_contact
from connectors.hubspot.paging import next_after
from connectors.hubspot.sandbox import SandboxServer

from .conftest import client


def test_list_pages_every_contact_once_with_opaque_cursors(api: httpx.Client) -> None:
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 10, "properties": "email,industry"}
        if after:
            params["after"] = after
        body = api.get("/crm/v3/objects/contacts", params=params).json()
        pages += 1
        seen += [result["id"] for result in body["results"]]
        assert all(set(r["properties"]) >= {"email", "hs_object_id"} for r in body["results"])
        after = next_after(body)
        if after is None:
            break
        assert not after.isdigit()  # opaque, not an id or an offset
    assert pages == 3
    assert seen == [str(n) for n in range(1, 26)]


@pytest.mark.parametrize("limit", ["101", "0", "ten"])
def test_list_refuses_a_bad_limit(api: httpx.Client, limit: str) -> None:
    response = api.get("/crm/v3/objects/contacts", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_list_accepts_the_maximum_limit(api: httpx.Client) -> None:
    response = api.get("/crm/v3/objects/contacts", params={"limit": 100})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 25
    assert "paging" not in response.json()


def test_get_by_id_and_by_email(api: httpx.Client) -> None:
    by_id = api.get("/crm/v3/objects/contacts/3", params={"properties": "email,industry"})
    assert by_id.status_code == 200
    assert by_id.json()["properties"]["industry"] == "COMPUTER_SOFTWARE"
    by_email = api.get(
        "/crm/v3/objects/contacts/person3@example.com", params={"idProperty": "email"}
    )
    assert by_email.json()["id"] == "3"
    missing = api.get("/crm/v3/objects/contacts/999")
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_create_update_and_their_refusals(api: httpx.Client, sandbox: SandboxServer) -> None:
    created = api.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "new@example.com", "lifecyclestage": "lead"}},
    )
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert sandbox.store.get("contacts", new_id) is not None

    duplicate = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "NEW@example.com"}}
    )
    assert duplicate.status_code == 409
    assert f"Existing ID: {new_id}" in duplicate.json()["message"]

    bad = api.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"lifecyclestage": "prospect", "nosuchproperty": "x"}},
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert "INVALID_OPTION" in body["message"]
    assert "PROPERTY_DOESNT_EXIST" in body["message"]

    patched = api.patch(
        f"/crm/v3/objects/contacts/{new_id}", json={"properties": {"annualrevenue": "12.5"}}
    )
    assert patched.status_code == 200
    assert patched.json()["properties"]["annualrevenue"] == "12.5"
    not_a_number = api.patch(
        f"/crm/v3/objects/contacts/{new_id}", json={"properties": {"annualrevenue": "lots"}}
    )
    assert not_a_number.status_code == 400
    read_only = api.patch(
        f"/crm/v3/objects/contacts/{new_id}", json={"properties": {"hs_object_id": "1"}}
    )
    assert read_only.status_code == 400


def test_every_write_bumps_lastmodifieddate(api: httpx.Client) -> None:
    before = to_contact(api.get("/crm/v3/objects/contacts/4").json()).modified_at
    stamps = []
    for value in ("CONNECTED", "OPEN"):
        body = api.patch(
            "/crm/v3/objects/contacts/4", json={"properties": {"hs_lead_status": value}}
        ).json()
        stamps.append(body["properties"]["lastmodifieddate"])
        assert body["updatedAt"] == body["properties"]["lastmodifieddate"]
        assert body["properties"]["lastmodifieddate"].endswith("Z")
    assert (
        to_contact({"id": "4", "properties": {"lastmodifieddate": stamps[0]}}).modified_at > before
    )
    assert stamps[0] <= stamps[1]


def test_archive_hides_and_restore_brings_back(api: httpx.Client, sandbox: SandboxServer) -> None:
    assert api.delete("/crm/v3/objects/contacts/7").status_code == 204
    assert api.get("/crm/v3/objects/contacts/7").status_code == 404
    archived = api.get("/crm/v3/objects/contacts/7", params={"archived": "true"}).json()
    assert archived["archived"] is True
    assert "archivedAt" in archived
    listed = api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()
    assert [r["id"] for r in listed["results"]] == ["7"]
    restored = httpx.post(f"{sandbox.base_url}/_sandbox/restore/7")
    assert restored.status_code == 200
    assert api.get("/crm/v3/objects/contacts/7").json()["archived"] is False


def test_batch_archive(api: httpx.Client) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": "1"}, {"id": "2"}]}
    )
    assert response.status_code == 204
    total = len(api.get("/crm/v3/objects/contacts", params={"limit": 100}).json()["results"])
    assert total == 23


def test_merge_keeps_the_primary_and_serves_the_other_as_merged(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    api.patch("/crm/v3/objects/contacts/9", json={"properties": {"jobtitle": "CTO"}})
    merged = api.post(
        "/crm/v3/objects/contacts/merge", json={"primaryObjectId": "8", "objectIdToMerge": "9"}
    )
    assert merged.status_code == 200
    survivor = api.get(
        "/crm/v3/objects/contacts/8", params={"properties": "jobtitle,hs_merged_object_ids,email"}
    ).json()
    assert survivor["properties"]["hs_merged_object_ids"] == "9"
    assert survivor["properties"]["jobtitle"] == "CTO"  # the primary lacked it
    assert survivor["properties"]["email"] == "person8@example.com"  # the primary's value wins
    assert to_contact(survivor).merged_crm_ids == ("9",)
    # The merged-away id now leads to the survivor, in reads and batch reads.
    assert api.get("/crm/v3/objects/contacts/9").json()["id"] == "8"
    batch = api.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "9"}]})
    assert [r["id"] for r in batch.json()["results"]] == ["8"]
    ids = [
        r["id"]
        for r in api.get("/crm/v3/objects/contacts", params={"limit": 100}).json()["results"]
    ]
    assert "9" not in ids
    loser = sandbox.store.resolve("contacts", "9")
    assert loser is not None
    assert loser.id == "8"
    assert (
        api.post(
            "/crm/v3/objects/contacts/merge", json={"primaryObjectId": "8", "objectIdToMerge": "8"}
        ).status_code
        == 400
    )


def test_gdpr_delete_removes_the_contact_for_good(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/gdpr-delete",
        json={"objectId": "person10@example.com", "idProperty": "email"},
    )
    assert response.status_code == 204
    assert api.get("/crm/v3/objects/contacts/10", params={"archived": "true"}).status_code == 404
    assert sandbox.store.resolve("contacts", "10") is None
    assert (
        api.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "10"}).status_code == 404
    )


def test_batch_read_by_id_and_email_reports_the_missing(api: httpx.Client) -> None:
    response = api.post(
        "/crm/v3/objects/contacts/batch/read",
        json={"inputs": [{"id": "1"}, {"id": "404"}], "properties": ["email"]},
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["1"]
    assert body["errors"][0]["context"]["ids"] == ["404"]
    by_email = api.post(
        "/crm/v3/objects/contacts/batch/read",
        json={"inputs": [{"id": "person2@example.com"}], "idProperty": "email", "properties": []},
    )
    assert by_email.status_code == 200
    assert by_email.json()["results"][0]["id"] == "2"


def test_batch_read_refuses_more_than_100_inputs(api: httpx.Client) -> None:
    inputs = [{"id": str(n)} for n in range(101)]
    response = api.post("/crm/v3/objects/contacts/batch/read", json={"inputs": inputs})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_engagements_are_readable_and_associated(api: httpx.Client) -> None:
    associations = api.post(
        "/crm/v4/associations/contacts/meetings/batch/read",
        json={"inputs": [{"id": "5"}, {"id": "6"}]},
    )
    assert associations.status_code == 207  # contact 6 has no meeting
    result = associations.json()["results"][0]
    assert result["from"] == {"id": "5"}
    meeting_id = result["to"][0]["toObjectId"]
    assert result["to"][0]["associationTypes"][0]["typeId"] == 199
    meetings = api.post(
        "/crm/v3/objects/meetings/batch/read",
        json={"inputs": [{"id": meeting_id}], "properties": ["hs_timestamp", "hs_meeting_outcome"]},
    ).json()
    assert meetings["results"][0]["properties"]["hs_meeting_outcome"] == "COMPLETED"
    listed = api.get("/crm/v3/objects/meetings", params={"limit": 100}).json()
    assert len(listed["results"]) == 5
    assert api.get(f"/crm/v3/objects/meetings/{meeting_id}").status_code == 200
    too_many = api.post(
        "/crm/v4/associations/contacts/meetings/batch/read",
        json={"inputs": [{"id": str(n)} for n in range(1001)]},
    )
    assert too_many.status_code == 400


def test_account_details(sandbox: SandboxServer) -> None:
    with client(sandbox) as http:
        body = http.get("/account-info/v3/details").json()
    assert body["portalId"] == sandbox.config.portal_id
    assert body["timeZone"] == "US/Eastern"
    assert body["uiDomain"] == "app.hubspot.com"
