"""A Salesforce connection's report: outcomes from Opportunity roles and converted Leads; a Lead
converted after T changes nothing in the report as of T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from app.models import Contact, OutcomeRecord
from connectors.salesforce.sandbox import SandboxServer
from tests.cli import Glengarry
from tests.pipeline.test_salesforce_sync import _jwt_connect, org

__all__ = ["org"]  # the fixture


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_lead_converted_after_t_leaves_the_report_as_of_t_unchanged(
    glengarry: Glengarry, org: SandboxServer, fresh_engine: Engine
) -> None:
    assert glengarry(*_jwt_connect(org)).code == 0
    assert glengarry("sync", "sf").code == 0
    t = datetime.now(UTC)
    since = _iso(t - timedelta(minutes=5))
    as_of_t = ("report", "sf", "--since", since, "--as-of", _iso(t))
    before = glengarry(*as_of_t).json()
    assert isinstance(before["lift"], dict)  # outcomes are read
    assert isinstance(before["happiness_by_presale_status"], dict)  # survey answers are read

    # After T: a Lead is converted, with an Opportunity (dated today, at the day's end).
    store = org.store
    lead = next(r for r in store.records("Lead") if not r.get("IsConverted"))
    store.convert_lead(lead)
    deal = store.create(
        "Opportunity",
        {"Name": "Converted", "StageName": "Qualification", "CloseDate": t.date()},
    )
    converted = store.get("Lead", lead.id)
    assert converted is not None
    store.update(converted, {"ConvertedOpportunityId": deal.id})
    assert glengarry("sync", "sf", "--full").code == 0

    with fresh_engine.connect() as connection:
        stored = connection.execute(
            select(OutcomeRecord.kind, OutcomeRecord.occurred_at)
            .join(Contact, Contact.id == OutcomeRecord.contact_id)
            .where(Contact.crm_id == converted.get("ConvertedContactId"))
        ).all()
    assert [kind for kind, _ in stored] == ["became_opportunity"]
    assert stored[0][1] > t  # the day's last instant
    assert glengarry(*as_of_t).json() == before
    tomorrow = _iso(t + timedelta(days=1))
    later = glengarry("report", "sf", "--since", since, "--as-of", tomorrow).json()
    assert later["flows"]["n"] > before["flows"]["n"]  # the converted Lead's Contact arrived
