"""A Salesforce connection's report hears its customers: the NPS answers Feedback Management
keeps make `happiness_by_presale_status`, Cases feed customer health, won amounts carry their
currency; an org without Feedback Management reads "no survey data: not licensed", never a
zero, even after a sync that read nobody."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from app.models import Activity, Connection, Contact, QualificationRecord
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.population import generate_population
from tests.cli import Glengarry
from tests.pipeline.test_salesforce_sync import _jwt_connect

PEOPLE = 160


def _serve(tmp_path: Path, **settings: Any) -> Iterator[SandboxServer]:
    end = datetime.now(UTC)
    members = generate_population(PEOPLE, 11, end - timedelta(days=90), end)
    config = SandboxConfig(cert_dir=tmp_path / "org", **settings)
    server = SandboxServer(config, members=members).start()
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


def _customers_answering(org: SandboxServer, until: datetime) -> int:
    """From the org itself: the Contacts on a won Opportunity with an NPS answer completed after
    the sale (its close date's end) and by `until`."""
    store = org.store
    sold: dict[str, datetime] = {}
    for role in store.records("OpportunityContactRole"):
        deal = store.get("Opportunity", role.get("OpportunityId"))
        if deal is not None and deal.get("IsWon"):
            sold[role.get("ContactId")] = datetime.combine(deal.get("CloseDate"), time.max, UTC)
    answering = set()
    for answer in store.records("SurveyQuestionResponse"):
        question = store.get("SurveyQuestion", answer.get("QuestionId"))
        invitation = store.get("SurveyInvitation", answer.get("InvitationId"))
        response = store.get("SurveyResponse", answer.get("ResponseId"))
        assert question is not None
        assert invitation is not None
        assert response is not None
        person = invitation.get("ParticipantId")
        at = response.get("CompletionDateTime")
        if question.get("QuestionType") == "NPS" and person in sold and sold[person] < at <= until:
            answering.add(person)
    return len(answering)


def test_the_report_hears_what_salesforce_customers_answered(
    glengarry: Glengarry, org: SandboxServer, fresh_engine: Engine
) -> None:
    # A customer's urgent Case, still open: the org's own Critical priority.
    store = org.store
    role = next(
        r
        for r in store.records("OpportunityContactRole")
        if (deal := store.get("Opportunity", r.get("OpportunityId"))) and deal.get("IsWon")
    )
    customer = str(role.get("ContactId"))
    store.create(
        "Case",
        {"ContactId": customer, "Subject": "Outage", "Priority": "Critical", "Status": "New"},
        at=datetime.now(UTC) - timedelta(days=2),
    )
    assert glengarry(*_jwt_connect(org)).code == 0
    assert glengarry("sync", "sf").code == 0
    until = datetime.now(UTC)
    body = glengarry("report", "sf", "--as-of", until.isoformat()).json()
    happiness = body["happiness_by_presale_status"]
    assert isinstance(happiness, dict)
    answered = sum(group["nps"]["n"] for group in happiness.values())
    expected = _customers_answering(org, until)
    assert expected > 0
    assert answered == expected
    # The org keeps one currency: won amounts are in it, not in an unnamed company currency.
    currencies = {cur for amounts in body["won_amount"].values() for cur in amounts}
    assert currencies == {"USD"}

    cases = [c for c in store.records("Case") if c.get("ContactId")]
    with fresh_engine.connect() as connection:
        tickets = connection.scalar(select(func.count()).where(Activity.type == "ticket"))
        reasons = connection.scalar(
            select(QualificationRecord.reasons_text)
            .join(Contact, Contact.id == QualificationRecord.contact_id)
            .where(Contact.crm_id == customer)
        )
        unavailable = connection.scalar(select(Connection.unavailable))
    assert tickets == len(cases) > 1  # every Case a ticket of its Contact
    assert "urgent ticket open since" in str(reasons)  # customer health hears the Case
    assert unavailable == {}


def test_without_feedback_management_the_report_says_not_licensed_never_a_zero(
    glengarry: Glengarry,
    unlicensed: SandboxServer,
    fresh_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLENGARRY_SEARCH_OVERLAP_SECONDS", "0")  # no record read twice for it
    assert glengarry(*_jwt_connect(unlicensed)).code == 0
    assert glengarry("sync", "sf").code == 0
    said = (
        "no survey data: not licensed: SurveyQuestionResponse is not in the org's describe "
        "(Salesforce Feedback Management)"
    )
    assert glengarry("report", "sf").json()["happiness_by_presale_status"] == said
    # Past the minute Salesforce's marks are truncated to, a sync reads again what the first one
    # wrote back (and writes nothing); the next one reads nobody, and still knows: the probe
    # asks describe.
    unlicensed.store.clock.advance(timedelta(minutes=2))
    assert glengarry("sync", "sf").json()["pulled"] > 0
    assert glengarry("sync", "sf").json()["pulled"] == 0
    with fresh_engine.connect() as connection:
        unavailable = connection.scalar(select(Connection.unavailable))
    assert set(unavailable) == {"surveys"}
    assert glengarry("report", "sf").json()["happiness_by_presale_status"] == said


def test_won_amounts_carry_each_opportunitys_currency_in_a_multi_currency_org(
    glengarry: Glengarry, multi_currency: SandboxServer
) -> None:
    assert glengarry(*_jwt_connect(multi_currency)).code == 0
    assert glengarry("sync", "sf").code == 0
    body = glengarry("report", "sf").json()
    won = {cur for amounts in body["won_amount"].values() for cur in amounts}
    store = multi_currency.store
    expected = {
        str(o.get("CurrencyIsoCode")) for o in store.records("Opportunity") if o.get("IsWon")
    }
    assert len(expected) > 1  # the population's customers trade in several currencies
    assert won <= expected
    assert len(won) > 1
    assert "company_currency" not in won
