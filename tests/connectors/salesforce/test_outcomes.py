"""The Salesforce connector's outcomes against the sandbox org: deals through the Contacts'
Opportunity roles, and a Lead converted with an Opportunity."""

from __future__ import annotations

from datetime import date, time

from connectors.base import OutcomeKind, OutcomeSource
from connectors.salesforce.sandbox import SandboxServer
from tests.connectors.salesforce.conftest import connector, drain


async def test_contacts_on_a_won_opportunity_have_won_it_and_leads_have_nothing(
    org: SandboxServer,
) -> None:
    sf = connector(org)
    try:
        assert isinstance(sf, OutcomeSource)
        _, people = await drain(sf, None)
        found = await sf.outcomes(list(people.values()))
    finally:
        await sf.aclose()
    by_person: dict[str, set[OutcomeKind]] = {}
    for outcome in found:
        by_person.setdefault(outcome.contact_crm_id, set()).add(outcome.kind)
    emails = {crm_id: c.properties.get("email") for crm_id, c in people.items()}
    acme = {
        crm_id
        for crm_id, email in emails.items()
        if email in ("person101@example3.com", "person102@example4.com")
    }
    beta = {crm_id for crm_id, email in emails.items() if email == "person103@example5.com"}
    assert len(acme) == 2
    for crm_id in acme:  # a customer company: its Closed Won Opportunity
        assert by_person[crm_id] == {OutcomeKind.DEAL_WON, OutcomeKind.BECAME_OPPORTUNITY}
    (beta_id,) = beta  # an open Opportunity: an opportunity, no deal closed
    assert by_person[beta_id] == {OutcomeKind.BECAME_OPPORTUNITY}
    won = [o for o in found if o.kind is OutcomeKind.DEAL_WON]
    assert {o.amount for o in won} == {24_000.0}
    assert len({o.deal_crm_id for o in won}) == 1
    leads = {crm_id for crm_id, c in people.items() if c.kind == "lead"}
    assert not leads & set(by_person)


async def test_a_lead_converted_with_an_opportunity_made_its_contact_an_opportunity(
    org: SandboxServer,
) -> None:
    store = org.store
    lead = store.records("Lead")[0]
    contact = store.convert_lead(lead)
    deal = store.create(
        "Opportunity",
        {"Name": "From the lead", "StageName": "Qualification", "CloseDate": date(2027, 1, 1)},
    )
    converted = store.get("Lead", lead.id)
    assert converted is not None
    store.update(converted, {"ConvertedOpportunityId": deal.id})
    assert converted.get("ConvertedOpportunityId") == deal.id
    sf = connector(org)
    try:
        (person,) = await sf.read_contacts([contact.id])
        found = await sf.outcomes([person])
    finally:
        await sf.aclose()
    assert [(o.contact_crm_id, o.kind) for o in found] == [
        (contact.id, OutcomeKind.BECAME_OPPORTUNITY)
    ]
    # A date: dated at its day's last instant, never earlier than it may have happened.
    assert found[0].occurred_at.date() == converted.get("ConvertedDate")
    assert found[0].occurred_at.time() == time.max
