"""The connector against the sandbox: survey answers and tickets become the activities
customer_health reads, by batch reads only; what a connection may not read is said once and the
rest goes on; outcomes come from lifecycle-stage dates and the contacts' closed deals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from connectors.base import CrmContact, OutcomeKind, OutcomeSource
from connectors.http import RetryPolicy
from connectors.hubspot.auth import PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.sandbox import SandboxConfig, SandboxServer
from tests.connectors.hubspot.sandbox.conftest import TOKEN
from tests.connectors.hubspot.sandbox.test_sandbox_service_objects import customers

ALL_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "tickets",
    "crm.objects.deals.read",
    "crm.objects.feedback_submissions.read",
)


@pytest.fixture
def scopes() -> tuple[str, ...]:
    return ALL_SCOPES


@pytest.fixture
def sandbox(scopes: tuple[str, ...]) -> Iterator[SandboxServer]:
    config = SandboxConfig(token=TOKEN, rate_limits="off", scopes=scopes)
    with SandboxServer(config, members=customers()) as server:
        yield server


def hub(sandbox: SandboxServer, calls: Counter[tuple[str, int]]) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotOptions(base_url=sandbox.base_url, retry=RetryPolicy(max_attempts=2)),
        PrivateAppToken(TOKEN),
        account="voice",
        on_response=lambda endpoint, status: calls.update([(endpoint, status)]),
    )


async def everyone(connector: HubSpotConnector) -> list[CrmContact]:
    return list(await connector.read_contacts(["1", "2", "3", "4"]))


async def test_survey_answers_and_tickets_are_health_activities(sandbox: SandboxServer) -> None:
    calls: Counter[tuple[str, int]] = Counter()
    connector = hub(sandbox, calls)
    try:
        contacts = await everyone(connector)
        calls.clear()
        found = await connector.activities(contacts)
    finally:
        await connector.aclose()
    surveys = sorted(
        ((a.contact_crm_id, dict(a.properties)) for a in found if a.type == "survey_response"),
        key=lambda pair: (pair[0], pair[1]["survey"]),
    )
    assert surveys == [
        ("1", {"survey": "nps", "score": "3", "response_group": "detractor"}),
        ("2", {"survey": "csat", "rating": "5"}),  # not on NPS's scale: no `score`
        ("2", {"survey": "nps", "score": "10", "response_group": "promoter"}),
    ]
    tickets = sorted(
        (a.properties["priority"], a.properties["status"]) for a in found if a.type == "ticket"
    )
    assert tickets == [("LOW", "CLOSED"), ("URGENT", "OPEN")]
    closed = next(a for a in found if a.type == "ticket" and a.properties["status"] == "CLOSED")
    assert closed.properties["closed_at"] > closed.occurred_at.isoformat()
    streams = {a.type: a.stream for a in found if a.type in ("survey_response", "ticket")}
    assert streams == {"survey_response": "feedback_submissions", "ticket": "tickets"}
    # One association read per type for the four contacts, one batch read per type that has
    # any: never a call per contact.
    associations = "POST /crm/v4/associations/contacts/{toObjectType}/batch/read"
    assert calls[(associations, 207)] + calls[(associations, 200)] == 7
    for object_type in ("feedback_submissions", "tickets"):
        assert calls[(f"POST /crm/v3/objects/{object_type}/batch/read", 200)] == 1
    assert connector.unavailable == {}


@pytest.mark.parametrize("scopes", [("crm.objects.contacts.read", "tickets")])
async def test_a_missing_scope_is_said_once_and_the_rest_goes_on(sandbox: SandboxServer) -> None:
    calls: Counter[tuple[str, int]] = Counter()
    connector = hub(sandbox, calls)
    try:
        contacts = await everyone(connector)
        first = await connector.activities(contacts)
        second = await connector.activities(contacts)  # a later batch of the same sync
        outcomes = await connector.outcomes(contacts)
    finally:
        await connector.aclose()
    assert connector.unavailable == {
        "feedback_submissions": "scope missing: crm.objects.feedback_submissions.read",
        "deals": "scope missing: crm.objects.deals.read",
    }
    refused = sum(n for (_, status), n in calls.items() if status == 403)
    assert refused == 2  # asked once each, never again
    for found in (first, second):
        assert not [a for a in found if a.type == "survey_response"]
        assert len([a for a in found if a.type == "ticket"]) == 2  # the scope it has
    # Without deals, the lifecycle-stage outcomes are still there.
    assert {o.kind for o in outcomes} == {
        OutcomeKind.BECAME_CUSTOMER,
        OutcomeKind.BECAME_OPPORTUNITY,
    }


async def test_outcomes_from_lifecycle_dates_and_closed_deals(sandbox: SandboxServer) -> None:
    calls: Counter[tuple[str, int]] = Counter()
    connector = hub(sandbox, calls)
    assert isinstance(connector, OutcomeSource)
    try:
        contacts = await everyone(connector)
        calls.clear()
        outcomes = await connector.outcomes(contacts)
    finally:
        await connector.aclose()
    by_contact: dict[str, set[OutcomeKind]] = {}
    for outcome in outcomes:
        by_contact.setdefault(outcome.contact_crm_id, set()).add(outcome.kind)
    assert by_contact == {
        "1": {OutcomeKind.BECAME_OPPORTUNITY, OutcomeKind.BECAME_CUSTOMER, OutcomeKind.DEAL_WON},
        "2": {OutcomeKind.BECAME_OPPORTUNITY, OutcomeKind.BECAME_CUSTOMER, OutcomeKind.DEAL_WON},
        "3": {OutcomeKind.BECAME_OPPORTUNITY},  # its deal is still open: no outcome yet
    }
    won = next(o for o in outcomes if o.contact_crm_id == "1" and o.kind == OutcomeKind.DEAL_WON)
    customer = next(
        o for o in outcomes if o.contact_crm_id == "1" and o.kind == OutcomeKind.BECAME_CUSTOMER
    )
    assert won.currency == "EUR"
    assert won.amount is not None
    assert won.amount > 0
    assert won.deal_crm_id is not None
    assert won.occurred_at == customer.occurred_at
    assert sum(calls.values()) == 2  # one association read, one deal batch read


async def test_a_lost_deal_is_an_outcome() -> None:
    from connectors.hubspot.mapping import deal_outcome

    lost = deal_outcome(
        {
            "id": "9",
            "properties": {
                "dealstage": "closedlost",
                "hs_is_closed_won": "false",
                "hs_is_closed": "true",
                "closedate": "2026-10-01T00:00:00Z",
                "amount": "1200.5",
                "deal_currency_code": "GBP",
            },
        },
        "7",
    )
    assert lost is not None
    assert (lost.kind, lost.amount, lost.currency, lost.deal_crm_id) == (
        OutcomeKind.DEAL_LOST,
        1200.5,
        "GBP",
        "9",
    )
    open_deal = {"id": "10", "properties": {"dealstage": "contractsent", "closedate": "2027-01-01"}}
    assert deal_outcome(open_deal, "7") is None
