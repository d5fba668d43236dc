"""What customers say and ask, as the org keeps it: Cases from the population's tickets,
Feedback Management's survey answers from its NPS and CSAT answers (absent without the
licence), and Opportunity.CurrencyIsoCode in a multi-currency org."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.salesforce.sandbox import SandboxConfig, SandboxServer, Store
from connectors.salesforce.sandbox.cli import serve
from connectors.salesforce.sandbox.command import COMMAND
from qualification.population import generate_population

from .conftest import NOW, api, member, population

SURVEYED = [
    member(
        201,
        [("ticket", 3, {"priority": "URGENT", "status": "OPEN", "subject": "Down"}),
         ("ticket", 9, {"priority": "LOW", "status": "CLOSED"}),
         ("survey_response", 2, {"survey": "nps", "score": "3"}),
         ("survey_response", 4, {"survey": "csat", "rating": "4"})],
        company="Gamma", lifecyclestage="customer", country="France",
    ),
    member(202, company="Delta", lifecyclestage="customer", country="United States"),
    # A Lead's ticket leaves no Case (a Case names a Contact); its survey answer is kept.
    member(203, [("ticket", 1, {"priority": "HIGH", "status": "OPEN"}),
                 ("survey_response", 1, {"survey": "nps", "score": "10"})]),
]  # fmt: skip


def _serve(tmp_path: Path, **settings: Any) -> Iterator[SandboxServer]:
    config = SandboxConfig(cert_dir=tmp_path / "org", **settings)
    with SandboxServer(config, members=[*population(3), *SURVEYED]) as server:
        yield server


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path)


@pytest.fixture
def unlicensed(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path, feedback_management=False)


@pytest.fixture
def multi_currency(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path, multi_currency=True)


def _rows(http: httpx.Client, soql: str) -> list[dict[str, Any]]:
    response = http.get("/query", params={"q": soql})
    assert response.status_code == 200, response.text
    body = response.json()
    rows: list[dict[str, Any]] = body["records"]
    while not body["done"]:
        body = http.get(body["nextRecordsUrl"].split("/services/data/v62.0", 1)[1]).json()
        rows += body["records"]
    return rows


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+0000", "+00:00"))


def test_cases_come_from_a_contacts_tickets(org: SandboxServer) -> None:
    customer, lead = org.ids["p201"], org.ids["p203"]
    assert customer.startswith("003")
    assert lead.startswith("00Q")
    with api(org) as http:
        rows = _rows(
            http,
            "SELECT ContactId, CreatedDate, Priority, IsClosed, Status, ClosedDate, Subject "
            "FROM Case ORDER BY CreatedDate",
        )
    assert [r["ContactId"] for r in rows] == [customer, customer]  # none for the Lead
    closed, urgent = rows
    # The population's LOW ticket, closed, nine days ago; its URGENT one, still open.
    assert (closed["Priority"], closed["IsClosed"], closed["Status"]) == ("Low", True, "Closed")
    assert (urgent["Priority"], urgent["IsClosed"], urgent["Status"]) == ("Critical", False, "New")
    assert urgent["ClosedDate"] is None
    assert urgent["Subject"] == "Down"
    # Dated from the population's own instant (the members' NOW), however late the test runs.
    assert _when(urgent["CreatedDate"]) == NOW - timedelta(days=3)
    opened = _when(closed["CreatedDate"])
    assert opened == NOW - timedelta(days=9)
    assert _when(closed["ClosedDate"]) - opened == timedelta(hours=30)


def test_survey_answers_are_queryable_through_their_parents(org: SandboxServer) -> None:
    customer, lead = org.ids["p201"], org.ids["p203"]
    with api(org) as http:
        rows = _rows(
            http,
            "SELECT NumberValue, Datatype, Question.QuestionType, Invitation.ParticipantId, "
            "Response.CompletionDateTime, Response.Status FROM SurveyQuestionResponse "
            f"WHERE Invitation.ParticipantId IN ('{customer}', '{lead}') "
            "AND Question.QuestionType IN ('NPS', 'CSAT') ORDER BY Response.CompletionDateTime",
        )
        described = http.get("/sobjects/SurveyQuestionResponse/describe").json()
        listed = {o["name"] for o in http.get("/sobjects").json()["sobjects"]}
    answers = [
        (r["Invitation"]["ParticipantId"], r["Question"]["QuestionType"], r["NumberValue"])
        for r in rows
    ]
    assert answers == [(customer, "CSAT", 4), (customer, "NPS", 3), (lead, "NPS", 10)]
    assert {r["Datatype"] for r in rows} == {"Int"}
    assert {r["Response"]["Status"] for r in rows} == {"Completed"}
    assert _when(rows[1]["Response"]["CompletionDateTime"]) == NOW - timedelta(days=2)
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["NumberValue"]["type"] == "int"
    assert not fields["NumberValue"]["createable"]
    assert {"Survey", "SurveyInvitation", "SurveyResponse", "SurveyQuestionResponse"} <= listed


def test_without_feedback_management_there_are_no_survey_objects(
    unlicensed: SandboxServer,
) -> None:
    with api(unlicensed) as http:
        listed = {o["name"] for o in http.get("/sobjects").json()["sobjects"]}
        refused = http.get("/query", params={"q": "SELECT Id FROM SurveyQuestionResponse"})
        described = http.get("/sobjects/SurveyQuestionResponse/describe")
        cases = _rows(http, "SELECT Id FROM Case")
    assert "SurveyQuestionResponse" not in listed
    assert "Case" in listed
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_TYPE"
    assert described.status_code == 404
    assert len(cases) == 2  # Service Cloud's Cases need no survey licence


def test_a_single_currency_org_has_no_currency_field_and_says_its_currency(
    org: SandboxServer,
) -> None:
    with api(org) as http:
        refused = http.get("/query", params={"q": "SELECT CurrencyIsoCode FROM Opportunity"})
        (organization,) = _rows(http, "SELECT Id, DefaultCurrencyIsoCode FROM Organization")
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD"
    assert organization == {
        "attributes": organization["attributes"],
        "Id": org.config.org_id,
        "DefaultCurrencyIsoCode": "USD",
    }


def test_a_multi_currency_org_prices_each_opportunity_in_its_countrys_currency(
    multi_currency: SandboxServer,
) -> None:
    with api(multi_currency) as http:
        rows = _rows(http, "SELECT Account.BillingCountry, CurrencyIsoCode FROM Opportunity")
        described = http.get("/sobjects/Opportunity/describe").json()
        (organization,) = _rows(http, "SELECT DefaultCurrencyIsoCode FROM Organization")
    by_country = {r["Account"]["BillingCountry"]: r["CurrencyIsoCode"] for r in rows}
    assert by_country["France"] == "EUR"
    assert by_country["United States"] == "USD"
    assert by_country[None] == "USD"  # no country: the corporate currency
    field = next(f for f in described["fields"] if f["name"] == "CurrencyIsoCode")
    assert field["type"] == "picklist"
    assert field["restrictedPicklist"]
    assert {"USD", "EUR", "GBP"} <= {v["value"] for v in field["picklistValues"]}
    assert organization["DefaultCurrencyIsoCode"] == "USD"


def test_a_currency_that_is_no_iso_code_is_refused() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        SandboxConfig(currency="usd")


def test_a_case_reopened_is_open_again_and_forgets_when_it_closed() -> None:
    store = Store()
    case = store.create("Case", {"Subject": "x", "Status": "Closed"})
    assert case.get("IsClosed") is True
    assert case.get("ClosedDate") is not None
    store.update(case, {"Status": "Working"})
    assert case.get("IsClosed") is False
    assert case.get("ClosedDate") is None


def test_a_generated_population_leaves_one_case_per_ticket_and_one_answer_per_survey(
    tmp_path: Path,
) -> None:
    end = datetime.now(UTC)
    members = list(generate_population(400, 3, end - timedelta(days=90), end))
    with SandboxServer(SandboxConfig(cert_dir=tmp_path / "org"), members=members) as server:
        contacts = {pid: sf for pid, sf in server.ids.items() if sf.startswith("003")}
        expected_cases: Counter[tuple[str, str]] = Counter()
        expected_answers: Counter[tuple[str, int]] = Counter()
        for m in members:
            person = server.ids[m.contact.id]
            for activity in m.activities:
                if activity.type == "ticket" and m.contact.id in contacts:
                    expected_cases[(person, str(activity.properties["priority"]))] += 1
                if activity.type == "survey_response":
                    expected_answers[(person, int(str(activity.properties["score"])))] += 1
        with api(server) as http:
            cases = _rows(http, "SELECT ContactId, Priority FROM Case")
            answers = _rows(
                http, "SELECT Invitation.ParticipantId, NumberValue FROM SurveyQuestionResponse"
            )
    assert expected_cases
    assert expected_answers
    priority = {"Low": "LOW", "Medium": "MEDIUM", "High": "HIGH", "Critical": "URGENT"}
    assert Counter((r["ContactId"], priority[r["Priority"]]) for r in cases) == expected_cases
    assert (
        Counter((r["Invitation"]["ParticipantId"], r["NumberValue"]) for r in answers)
        == expected_answers
    )


def test_the_sandbox_command_takes_the_org_settings_and_names_a_bad_currency(
    tmp_path: Path,
) -> None:
    flags = {option.flag for option in COMMAND.options}
    assert {"--multi-currency", "--currency", "--no-feedback-management"} <= flags
    with pytest.raises(ValueError, match="--currency must be an ISO 4217 code"):
        serve(
            port=0, contacts=0, seed=1, cert_dir=tmp_path, latency_ms=0, daily_api_limit=10,
            session_ttl_seconds=60, echo=print, currency="dollars",
        )  # fmt: skip
