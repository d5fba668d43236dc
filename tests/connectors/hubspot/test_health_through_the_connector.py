"""The loop of issue 15 through HubSpot: a sandbox seeded from the population, read by the
connector, scored by the default criteria. Customers found at risk churn (the population's
hidden flag) far more often than customers overall, and the share at risk follows the hidden
churn rate; without the survey and ticket scopes the engine sees none of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from connectors.http import RateLimiter, RetryPolicy
from connectors.hubspot.auth import PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.sandbox import SandboxConfig, SandboxServer
from connectors.sandbox_kit import POPULATION_DAYS
from qualification.criteria import default_criteria
from qualification.engine import qualify
from qualification.population import Member, generate_population
from qualification.records import Activity, Contact
from qualification.statuses import Status

TOKEN = "health-token"
SEED = 8  # not among the seeds customer_health was tuned on (1-3)
CONTACT_SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write")


async def _at_risk_figures(
    members: Sequence[Member], end: datetime, scopes: tuple[str, ...] | None
) -> dict[str, float]:
    churned = {m.contact.id for m in members if m.churn}
    config = SandboxConfig(token=TOKEN, rate_limits="off", scopes=scopes)
    with SandboxServer(config, members=members) as sandbox:
        hub = HubSpotConnector(
            HubSpotOptions(base_url=sandbox.base_url, retry=RetryPolicy(max_attempts=2)),
            PrivateAppToken(TOKEN),
            account="health",
            limiter=RateLimiter({}),  # the sandbox does not limit: neither does the client
        )
        statuses: dict[str, str] = {}
        try:
            async for batch in hub.contacts(None):
                activities = await hub.activities(batch.contacts)
                by_contact: dict[str, list[Activity]] = {}
                for a in activities:
                    by_contact.setdefault(a.contact_crm_id, []).append(
                        Activity(a.contact_crm_id, a.type, a.occurred_at, a.properties)
                    )
                for contact in batch.contacts:
                    q = qualify(
                        Contact(contact.crm_id, contact.properties),
                        by_contact.get(contact.crm_id, []),
                        default_criteria(),
                        end,
                    )
                    statuses[contact.crm_id] = q.status
        finally:
            await hub.aclose()
        churning = {sandbox.ids[i] for i in churned}
        unavailable = set(hub.unavailable)
    customers = [
        i for i, s in statuses.items() if s in (Status.CUSTOMER_ACTIVE, Status.CUSTOMER_AT_RISK)
    ]
    at_risk = [i for i in customers if statuses[i] == Status.CUSTOMER_AT_RISK]
    churn_all = sum(1 for i in customers if i in churning) / len(customers)
    churn_at_risk = sum(1 for i in at_risk if i in churning) / len(at_risk) if at_risk else 0.0
    return {
        "customers": len(customers),
        "share": len(at_risk) / len(customers),
        "churn": churn_all,
        "lift": churn_at_risk / churn_all,
        "unavailable": len(unavailable),
    }


@pytest.fixture(scope="module")
def population() -> tuple[list[Member], datetime]:
    end = datetime.now(UTC).replace(microsecond=0)
    return list(generate_population(4000, SEED, end - timedelta(days=POPULATION_DAYS), end)), end


async def test_at_risk_customers_churn_far_more_and_the_share_follows_the_truth(
    population: tuple[list[Member], datetime],
) -> None:
    members, end = population
    figures = await _at_risk_figures(members, end, scopes=None)
    assert figures["customers"] > 100
    assert figures["lift"] > 1.5
    assert 0.4 * figures["churn"] < figures["share"] < 1.5 * figures["churn"]


async def test_without_survey_and_ticket_scopes_the_health_signals_are_gone(
    population: tuple[list[Member], datetime],
) -> None:
    members, end = population
    figures = await _at_risk_figures(members, end, scopes=CONTACT_SCOPES)
    assert figures["unavailable"] == 2  # said, not silently zero
    assert figures["share"] < 0.02  # what the demo showed before: nobody at risk
