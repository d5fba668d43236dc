"""What became of Salesforce people: the Opportunities a Contact has a role on
(`OpportunityContactRole`, its Opportunity's `IsClosed`, `IsWon`, `CloseDate`, `Amount`), and
the Leads converted into a Contact with an Opportunity (`ConvertedDate`,
`ConvertedOpportunityId`). Object Reference for Salesforce and Lightning Platform.

A Contact became an opportunity when the first of these was created (or its Lead converted);
a closed Opportunity is a deal won or lost on its close date. `CloseDate` and `ConvertedDate`
are dates: they are dated at the day's last instant (UTC), so that a report as of an earlier
time of that day does not see what may not have happened yet. An amount is in its
Opportunity's `CurrencyIsoCode` where multi-currency is on (the field exists only then: describe
says so), else in the org's default currency (`Organization.DefaultCurrencyIsoCode`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Any

from connectors.base import CrmOutcome, OutcomeKind
from connectors.salesforce.mapping import parse_time, read

ROLES = "OpportunityContactRole"
ROLE_FIELDS = (
    "ContactId",
    "OpportunityId",
    "Opportunity.CreatedDate",
    "Opportunity.IsClosed",
    "Opportunity.IsWon",
    "Opportunity.CloseDate",
    "Opportunity.Amount",
)
CONVERSION_FIELDS = ("ConvertedContactId", "ConvertedDate", "ConvertedOpportunityId")
CURRENCY = "CurrencyIsoCode"  # on Opportunity, in a multi-currency org


def _day_end(value: object) -> datetime | None:
    moment = parse_time(value)
    if moment is None or not (isinstance(value, str) and len(value) == 10):
        return moment
    return datetime.combine(moment.date(), time.max, tzinfo=moment.tzinfo)


def outcomes_of(
    roles: Iterable[Mapping[str, Any]],
    conversions: Iterable[Mapping[str, Any]],
    *,
    currency: str | None = None,
) -> list[CrmOutcome]:
    """Outcomes from contact-role and converted-Lead rows; `currency` is the org's, for an
    Opportunity without its own `CurrencyIsoCode`."""
    found: list[CrmOutcome] = []
    opened: dict[str, datetime] = {}  # contact -> when it first became an opportunity

    def became(contact: str, at: datetime | None) -> None:
        if at is not None and (contact not in opened or at < opened[contact]):
            opened[contact] = at

    for row in roles:
        contact = str(row.get("ContactId") or "")
        if not contact:
            continue
        became(contact, parse_time(read(row, "Opportunity.CreatedDate")))
        closed_at = _day_end(read(row, "Opportunity.CloseDate"))
        if read(row, "Opportunity.IsClosed") is True and closed_at is not None:
            won = read(row, "Opportunity.IsWon") is True
            amount = read(row, "Opportunity.Amount")
            found.append(
                CrmOutcome(
                    contact,
                    OutcomeKind.DEAL_WON if won else OutcomeKind.DEAL_LOST,
                    closed_at,
                    amount=float(amount) if isinstance(amount, int | float) else None,
                    currency=str(read(row, f"Opportunity.{CURRENCY}") or "") or currency,
                    deal_crm_id=str(row.get("OpportunityId") or "") or None,
                )
            )
    for row in conversions:
        contact = str(row.get("ConvertedContactId") or "")
        if contact and row.get("ConvertedOpportunityId"):
            became(contact, _day_end(row.get("ConvertedDate")))
    found += [CrmOutcome(c, OutcomeKind.BECAME_OPPORTUNITY, at) for c, at in opened.items()]
    return found
