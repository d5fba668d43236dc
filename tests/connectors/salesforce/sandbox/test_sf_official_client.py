"""The official client, simple-salesforce, cannot tell the sandbox from Salesforce."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed

from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from connectors.salesforce.sandbox.tls import make_jwt_keys

from .conftest import credentials_client, jwt_client, population, session_for

TOKEN = "POST /services/oauth2/token"
QUERY = "GET /services/data/v62.0/query"
MORE = "GET /services/data/v62.0/query/{locator}"
PAGE = {"Sforce-Query-Options": "batchSize=200"}


@pytest.fixture(scope="module")
def big_org(tmp_path_factory: pytest.TempPathFactory) -> SandboxServer:
    folder = tmp_path_factory.mktemp("big-org")
    server = SandboxServer(SandboxConfig(cert_dir=folder), members=population(450))
    server.start()
    yield server
    server.stop()


def test_jwt_bearer_login_then_query_all_across_pages(big_org: SandboxServer) -> None:
    sf = jwt_client(big_org)
    leads = big_org.store.records("Lead")
    result = sf.query_all("SELECT Id, Email, Industry FROM Lead ORDER BY Email", headers=PAGE)
    assert result["totalSize"] == len(leads) == 450
    assert [r["Id"] for r in result["records"]] == [
        r.id for r in sorted(leads, key=lambda r: r.get("Email").upper())
    ]
    assert {r["Industry"] for r in result["records"]} == {"Technology", "Retail"}
    calls = big_org.stats()["calls"]
    assert calls[QUERY]["200"] >= 1
    assert calls[MORE]["200"] >= 2  # 450 rows in batches of 200: three pages


def test_client_credentials_login_and_api_usage(big_org: SandboxServer) -> None:
    sf = credentials_client(big_org)
    before = big_org.runtime.allocation.used()
    count = sf.query("SELECT COUNT() FROM Contact")
    assert count["totalSize"] == 3
    usage = sf.api_usage["api-usage"]
    assert usage.used == before + 1
    assert usage.total == 15_000


def test_query_all_iter_with_deleted_rows(org: SandboxServer) -> None:
    sf = jwt_client(org)
    doomed = org.store.records("Lead")[:2]
    for lead in doomed:
        sf.Lead.delete(lead.id)
    live = list(sf.query_all_iter("SELECT Id, IsDeleted FROM Lead"))
    every = list(sf.query_all_iter("SELECT Id, IsDeleted FROM Lead", include_deleted=True))
    assert len(every) == len(live) + 2
    deleted = {r["Id"] for r in every if r["IsDeleted"]}
    assert deleted == {lead.id for lead in doomed}
    assert not any(r["IsDeleted"] for r in live)


def test_restful_collections_patch_answers_save_results_in_order(org: SandboxServer) -> None:
    sf = jwt_client(org)
    first, second = (r.id for r in org.store.records("Lead")[:2])
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Lead"}, "id": first, "Title": "CFO"},
                {"attributes": {"type": "Lead"}, "id": second, "Email": "not an email"},
            ],
        },
    )
    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert org.store.get("Lead", first).get("Title") == "CFO"
    assert sf.api_usage["api-usage"].used >= 1


def test_restful_composite_runs_queries_as_one_call(org: SandboxServer) -> None:
    sf = jwt_client(org)
    sf.query("SELECT COUNT() FROM Lead")
    before = sf.api_usage["api-usage"].used
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": f"/services/data/v62.0/query/?q={soql}",
                    "referenceId": ref,
                }
                for ref, soql in (
                    ("leads", "SELECT+Id+FROM+Lead"),
                    ("contacts", "SELECT+Id+FROM+Contact"),
                )
            ],
        },
    )
    leads, contacts = answer["compositeResponse"]
    assert (leads["referenceId"], leads["httpStatusCode"]) == ("leads", 200)
    assert {r["Id"] for r in leads["body"]["records"]} == {r.id for r in org.store.records("Lead")}
    assert contacts["body"]["totalSize"] == len(org.store.records("Contact"))
    assert sf.api_usage["api-usage"].used == before + 1


def test_a_jwt_signed_with_another_key_is_refused(org: SandboxServer, tmp_path: Path) -> None:
    other = tmp_path / "other-key.pem"
    other.write_bytes(make_jwt_keys().private_key_pem)
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid assertion"):
        Salesforce(
            username=org.config.username,
            consumer_key=org.config.client_id,
            privatekey_file=str(other),
            session=session_for(org),
            version="62.0",
        )


def test_an_unknown_user_has_not_approved_the_consumer(org: SandboxServer) -> None:
    with (
        warnings.catch_warnings(action="ignore"),  # the client's advice on self-authorising
        pytest.raises(SalesforceAuthenticationFailed) as refused,
    ):
        Salesforce(
            username="someone@else.example",
            consumer_key=org.config.client_id,
            privatekey_file=str(org.jwt_key_file),
            session=session_for(org),
            version="62.0",
        )
    assert "user hasn't approved this consumer" in str(refused.value)
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid client credentials"):
        Salesforce(
            consumer_key=org.config.client_id,
            consumer_secret="wrong",
            domain="glengarry-sandbox.my",
            session=session_for(org),
            version="62.0",
        )


def test_an_expired_session_mid_query_all_logs_in_once_and_gets_the_same_records(
    big_org: SandboxServer,
) -> None:
    sf = jwt_client(big_org)
    expected = [
        r["Id"] for r in sf.query_all("SELECT Id FROM Lead ORDER BY Id", headers=PAGE)["records"]
    ]
    logins = big_org.stats()["calls"][TOKEN]["200"]
    pages = sf.query_all_iter("SELECT Id FROM Lead ORDER BY Id", headers=PAGE)
    seen = [next(pages)["Id"] for _ in range(200)]  # the whole first page
    big_org.runtime.sessions.expire_all()
    seen += [record["Id"] for record in pages]
    assert seen == expected
    assert big_org.stats()["calls"][TOKEN]["200"] == logins + 1
    assert big_org.stats()["calls"][MORE].get("401") == 1
