"""The Salesforce connector reads what customers ask and say: a Contact's Cases as tickets, the
people's NPS and CSAT answers as survey responses (batched by id, paged), and says "not
licensed" for surveys in an org without Feedback Management; deal amounts carry their currency."""

from __future__ import annotations

import json
import ssl
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import SUPPORT, SURVEYS, CrmActivity, OutcomeKind, SaysUnavailable
from connectors.salesforce.sandbox import SandboxServer
from connectors.salesforce.sandbox.seed import Seeder
from connectors.salesforce.service import from_answer, from_case

from .conftest import NOW, connector, drain, last_cursor, member, population, start_org

QUERY = "GET /services/data/v62.0/query"
QUERY_MORE = "GET /services/data/v62.0/query/{locator}"
COMPOSITE = "POST /services/data/v62.0/composite"
SPEAKING = [
    member(
        201,
        [("ticket", 3, {"priority": "URGENT", "status": "OPEN", "subject": "Down"}),
         ("ticket", 9, {"priority": "LOW", "status": "CLOSED"}),
         ("survey_response", 2, {"survey": "nps", "score": "3"}),
         ("survey_response", 4, {"survey": "csat", "rating": "4"})],
        company="Gamma", lifecyclestage="customer", country="France",
    ),
    member(202, [("survey_response", 5, {"survey": "nps", "score": "9"})], company="Delta",
           lifecyclestage="customer", country="United States"),
    member(203, [("survey_response", 1, {"survey": "nps", "score": "10"})]),  # a Lead
]  # fmt: skip


def _serve(tmp_path: Path, **config: Any) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", [*population(4), *SPEAKING], **config)
    yield server
    server.stop()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path)


@pytest.fixture
def unlicensed(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path, feedback_management=False)


@pytest.fixture
def multi_currency(tmp_path: Path) -> Iterator[SandboxServer]:
    yield from _serve(tmp_path, multi_currency=True)


def _said(activities: list[CrmActivity]) -> list[tuple[str, str, dict[str, Any]]]:
    kept = [a for a in activities if a.type in ("ticket", "survey_response")]
    return sorted(
        (
            (a.contact_crm_id, a.type, {k: v for k, v in a.properties.items() if k != "closed_at"})
            for a in kept
        ),
        key=repr,
    )


def _calls(org: SandboxServer) -> dict[str, int]:
    return {route: sum(by.values()) for route, by in org.stats()["calls"].items()}


async def test_cases_and_survey_answers_become_tickets_and_survey_responses(
    org: SandboxServer,
) -> None:
    gamma, delta, lead = (org.ids[p] for p in ("p201", "p202", "p203"))
    sf = connector(org)
    try:
        _, people = await drain(sf, None)
        activities = list(await sf.activities(list(people.values())))
    finally:
        await sf.aclose()
    assert _said(activities) == sorted(
        [
            (gamma, "ticket", {"priority": "URGENT", "status": "OPEN", "subject": "Down",
                               "case_status": "New"}),
            (gamma, "ticket", {"priority": "LOW", "status": "CLOSED", "subject": "Support request",
                               "case_status": "Closed"}),
            (gamma, "survey_response", {"survey": "nps", "score": "3", "question_type": "NPS"}),
            (gamma, "survey_response", {"survey": "csat", "rating": "4", "question_type": "CSAT"}),
            (delta, "survey_response", {"survey": "nps", "score": "9", "question_type": "NPS"}),
            (lead, "survey_response", {"survey": "nps", "score": "10", "question_type": "NPS"}),
        ],
        key=repr,
    )  # fmt: skip
    closed = next(a for a in activities if a.properties.get("case_status") == "Closed")
    closed_at = datetime.fromisoformat(str(closed.properties["closed_at"]))
    assert closed_at - closed.occurred_at == timedelta(hours=30)
    nps = next(a for a in activities if a.properties.get("score") == "3")
    assert nps.occurred_at == NOW - timedelta(days=2)  # the population's instant, not the clock
    assert isinstance(sf, SaysUnavailable)
    assert sf.unavailable == {}


class Statements(httpx.AsyncBaseTransport):
    """The real transport, keeping each query's SOQL and its request-target's length."""

    def __init__(self, org: SandboxServer) -> None:
        trust = ssl.create_default_context(cafile=str(org.ca_file))
        self.inner = httpx.AsyncHTTPTransport(verify=trust)
        self.sent: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        urls = [request.url]
        if request.method == "POST" and request.url.path.endswith("/composite"):
            # Each subrequest, as the GET it stands for would be sent on its own.
            body = json.loads(request.content)["compositeRequest"]
            urls = [httpx.URL(sub["url"]) for sub in body]
        for url in urls:
            if "q" in url.params:
                self.sent.append((url.params["q"], len(url.raw_path)))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_many_answers_are_read_in_statements_that_fit_and_in_pages(
    org: SandboxServer,
) -> None:
    # 2,100 more Cases on one Contact: more than a query page (2,000); 12 more Contacts; and a
    # URI limit that leaves room for a few ids per statement.
    store = org.store
    gamma = org.ids["p201"]
    for _ in range(2_100):
        store.create("Case", {"ContactId": gamma, "Subject": "More", "Priority": "High"})
    for number in range(12):
        store.create("Contact", {"LastName": f"Extra {number}"})
    limit = 1_024 + 420
    statements = Statements(org)
    sf = connector(org, max_request_bytes=limit, transport=statements)
    try:
        _, people = await drain(sf, None)
        before = _calls(org)
        activities = list(await sf.activities(list(people.values())))
    finally:
        await sf.aclose()
    after = _calls(org)
    tickets = Counter(a.properties["priority"] for a in activities if a.type == "ticket")
    assert tickets == {"HIGH": 2_100, "URGENT": 1, "LOW": 1}
    answers = [a for a in activities if a.type == "survey_response"]
    assert len(answers) == 4
    # 2,100 Cases of one Contact are more than a batch (2,000): the next batch was read too,
    # like every statement here, through POST composite, never a GET query of its own.
    assert after.get(COMPOSITE, 0) - before.get(COMPOSITE, 0) >= 2
    assert (after.get(QUERY, 0), after.get(QUERY_MORE, 0)) == (
        before.get(QUERY, 0),
        before.get(QUERY_MORE, 0),
    )
    # Every Contact (17) and every person (22) in statements of a few ids each.
    cases = [size for soql, size in statements.sent if " FROM Case " in soql]
    surveys = [size for soql, size in statements.sent if " FROM SurveyQuestionResponse " in soql]
    assert len(cases) >= 2
    assert len(surveys) >= 2
    assert max(cases + surveys) <= limit - 1_024


async def test_an_org_without_feedback_management_says_its_surveys_are_not_licensed(
    unlicensed: SandboxServer,
) -> None:
    sf = connector(unlicensed)
    try:
        _, people = await drain(sf, None)
        before = _calls(unlicensed)
        activities = list(await sf.activities(list(people.values())))
    finally:
        await sf.aclose()
    assert {a.type for a in activities if a.type in ("ticket", "survey_response")} == {"ticket"}
    assert sf.unavailable[SURVEYS].startswith("not licensed: SurveyQuestionResponse")
    assert SUPPORT not in sf.unavailable
    # Told by describe global ("not licensed", not a refused query's "not readable"), and the
    # Cases were read, through composite.
    assert _calls(unlicensed).get(COMPOSITE, 0) > before.get(COMPOSITE, 0)


async def test_a_probe_says_so_without_reading_anyone(unlicensed: SandboxServer) -> None:
    sf = connector(unlicensed)
    try:
        await sf.probe_unavailable()
    finally:
        await sf.aclose()
    assert set(sf.unavailable) == {SURVEYS}
    assert "Feedback Management" in sf.unavailable[SURVEYS]


async def test_a_query_refused_for_a_field_says_surveys_unreadable_and_cases_still_come(
    org: SandboxServer,
) -> None:
    # The question's type hidden from the user: Salesforce refuses the whole query.
    del org.store.objects["SurveyQuestion"].fields["QuestionType"]
    sf = connector(org)
    try:
        _, people = await drain(sf, None)
        activities = list(await sf.activities(list(people.values())))
    finally:
        await sf.aclose()
    assert {a.type for a in activities if a.type in ("ticket", "survey_response")} == {"ticket"}
    assert sf.unavailable[SURVEYS].startswith("not readable: INVALID_FIELD")


async def test_won_amounts_are_in_the_orgs_currency_without_multi_currency(
    org: SandboxServer,
) -> None:
    sf = connector(org)
    try:
        _, people = await drain(sf, None)
        found = await sf.outcomes(list(people.values()))
    finally:
        await sf.aclose()
    won = [o for o in found if o.kind is OutcomeKind.DEAL_WON]
    assert won
    assert {o.currency for o in won} == {"USD"}


async def test_won_amounts_carry_each_opportunitys_currency_with_multi_currency(
    multi_currency: SandboxServer,
) -> None:
    sf = connector(multi_currency)
    try:
        _, people = await drain(sf, None)
        found = await sf.outcomes(list(people.values()))
    finally:
        await sf.aclose()
    won = {o.contact_crm_id: o.currency for o in found if o.kind is OutcomeKind.DEAL_WON}
    ids = multi_currency.ids
    assert won[ids["p101"]] == "EUR"  # Acme, in France
    assert won[ids["p201"]] == "EUR"  # Gamma, in France
    assert won[ids["p202"]] == "USD"  # Delta, in the United States


def test_a_case_priority_in_the_engines_words() -> None:
    row = {"Id": "500x", "ContactId": "003x", "CreatedDate": "2026-05-01T12:00:00.000+0000"}
    for given, meant in (("Critical", "URGENT"), ("Urgent", "URGENT"), ("High", "HIGH")):
        activity = from_case({**row, "Priority": given, "IsClosed": False})
        assert activity is not None
        assert activity.properties["priority"] == meant
        assert activity.properties["status"] == "OPEN"
    assert from_case({**row, "ContactId": None}) is None  # a Case of nobody we know


def test_only_numeric_answers_to_nps_and_rating_questions_count() -> None:
    row = {
        "Id": "0Kx1",
        "NumberValue": 4,
        "CreatedDate": "2026-05-01T12:00:00.000+0000",
        "Question": {"QuestionType": "Rating"},
        "Invitation": {"ParticipantId": "003x"},
        "Response": {"CompletionDateTime": "2026-05-02T08:00:00.000+0000"},
    }
    rating = from_answer(row)
    assert rating is not None
    assert rating.properties == {"survey": "csat", "rating": "4", "question_type": "Rating"}
    assert rating.occurred_at == datetime(2026, 5, 2, 8, tzinfo=UTC)  # completed, not made
    assert from_answer({**row, "Question": {"QuestionType": "FreeText"}}) is None
    assert from_answer({**row, "NumberValue": None}) is None
    assert from_answer({**row, "Invitation": None}) is None


async def test_a_new_case_or_answer_brings_its_person_to_the_next_incremental_sync(
    org: SandboxServer,
) -> None:
    delta, lead = org.ids["p202"], org.ids["p203"]
    sf = connector(org)
    try:
        batches, _ = await drain(sf, None)
        store = org.store
        store.create("Case", {"ContactId": delta, "Subject": "Billing", "Priority": "Low"})
        person = store.get("Lead", lead)
        assert person is not None
        Seeder(store).answer(person, datetime.now(UTC), {"survey": "nps", "score": "2"})
        _, people = await drain(sf, last_cursor(batches))
    finally:
        await sf.aclose()
    assert set(people) == {delta, lead}


async def test_an_incremental_sync_of_an_org_without_surveys_skips_their_stream(
    unlicensed: SandboxServer,
) -> None:
    delta = unlicensed.ids["p202"]
    sf = connector(unlicensed)
    try:
        batches, _ = await drain(sf, None)
        unlicensed.store.create("Case", {"ContactId": delta, "Subject": "Billing"})
        _, people = await drain(sf, last_cursor(batches))
    finally:
        await sf.aclose()
    assert set(people) == {delta}
    assert set(sf.unavailable) == {SURVEYS}
    assert "400" not in unlicensed.stats()["calls"].get(QUERY, {})
