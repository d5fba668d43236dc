"""The same person qualifies the same in both CRMs: the same generated people are seeded into
the HubSpot and the Salesforce sandboxes, read back through each connector (contacts, then
their activities) and scored by the engine at the same instant. At least 99% must get the same
status and scores less than the write delta apart; the others are printed with both reasons."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import Connector, CrmActivity, CrmContact
from connectors.hubspot.auth import PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.sandbox import SandboxConfig as HubSpotConfig
from connectors.hubspot.sandbox import SandboxServer as HubSpotSandbox
from connectors.salesforce.sandbox import SandboxConfig as SalesforceConfig
from connectors.salesforce.sandbox import SandboxServer as SalesforceSandbox
from qualification import Activity, Contact, Qualification, default_criteria, qualify
from qualification.population import Member, generate_population
from tests.connectors.salesforce.conftest import connector as salesforce_connector

PEOPLE = 400
NOW = datetime.now(UTC).replace(microsecond=0)
CRITERIA = default_criteria()
PROPERTIES = sorted(CRITERIA.contact_properties)


class Reader:
    """What one connector reads of everyone: live contacts and their activities."""

    def __init__(self) -> None:
        self.contacts: dict[str, CrmContact] = {}
        self.activities: dict[str, list[CrmActivity]] = {}

    async def read(self, connector: Connector) -> Reader:
        async for batch in connector.contacts(None):
            self.contacts.update({c.crm_id: c for c in batch.contacts})
        live = [c for c in self.contacts.values() if not c.archived]
        for activity in await connector.activities(live):
            self.activities.setdefault(activity.contact_crm_id, []).append(activity)
        return self

    def qualification(self, crm_id: str) -> Qualification | None:
        person = self.contacts.get(crm_id)
        if person is None or person.archived:
            return None
        done = [
            Activity(crm_id, a.type, a.occurred_at, a.properties)
            for a in self.activities.get(crm_id, [])
        ]
        return qualify(Contact(crm_id, dict(person.properties)), done, CRITERIA, NOW)


def _reasons(q: Qualification | None) -> str:
    if q is None:
        return "(not read)"
    texts = "; ".join(reason.text for reason in q.reasons)
    return f"{q.status} score {q.score} fit {q.fit} engagement {q.engagement}: {texts}"


async def _read_both(
    members: Sequence[Member], folder: Path
) -> tuple[tuple[Reader, dict[str, str]], tuple[Reader, dict[str, str]]]:
    """Each CRM's reader, with the population id -> CRM id its sandbox gave each person."""
    hubspot = HubSpotSandbox(HubSpotConfig(), members=members).start()
    salesforce = SalesforceSandbox(SalesforceConfig(cert_dir=folder), members=members).start()
    hub = HubSpotConnector(
        HubSpotOptions(base_url=hubspot.base_url, properties=PROPERTIES),
        PrivateAppToken(hubspot.config.token),
        account="parity-portal",
    )
    sf = salesforce_connector(salesforce, properties=PROPERTIES)
    try:
        return (
            (await Reader().read(hub), hubspot.ids),
            (await Reader().read(sf), salesforce.ids),
        )
    finally:
        await hub.aclose()
        await sf.aclose()
        hubspot.stop()
        salesforce.stop()


def test_the_same_people_qualify_the_same_in_hubspot_and_salesforce(tmp_path: Path) -> None:
    members = list(generate_population(PEOPLE, 11, NOW - timedelta(days=90), NOW))
    (hub, hubspot_ids), (sf, salesforce_ids) = asyncio.run(_read_both(members, tmp_path))
    delta = CRITERIA.thresholds.score_write_delta
    differing: list[str] = []
    for member in members:
        h = hub.qualification(hubspot_ids[member.contact.id])
        s = sf.qualification(salesforce_ids[member.contact.id])
        if h is None or s is None or h.status != s.status or abs(h.score - s.score) >= delta:
            differing.append(
                f"{member.contact.id}\n  HubSpot:    {_reasons(h)}\n  Salesforce: {_reasons(s)}"
            )
    same = 1 - len(differing) / len(members)
    print(f"\n{same:.1%} of {len(members)} people qualify the same in both CRMs")
    for text in differing:
        print(text)
    assert same >= 0.99
    # Not a vacuous match: the people span the statuses, with activities read from each.
    statuses = {q.status for q in map(hub.qualification, hubspot_ids.values()) if q}
    assert len(statuses) >= 5
    assert sum(map(len, sf.activities.values())) > PEOPLE
