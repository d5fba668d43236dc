"""Marketing touches a Salesforce org keeps on the person, as the engine's activities.

Salesforce itself records no page views, marketing-email opens or web-form conversions: the
org's marketing automation does (Marketing Cloud Account Engagement, HubSpot, Marketo) and its
connector syncs what it knows onto Leads and Contacts as fields. Account Engagement keeps page
views and opens as Visitor Activities reachable only through its own API (pi.pardot.com), and
syncs only a few prospect fields; so the common home, the one Glengarry reads, is the
last-touch fields an admin maps from their platform onto both Lead and Contact:

| activity        | at (date-time field)       | detail (text field)                       |
|-----------------|----------------------------|-------------------------------------------|
| page_view       | Last_Page_Seen_Date__c     | Last_Page_Seen__c -> `url`                |
| email_open      | Last_Email_Open_Date__c    |                                           |
| form_submission | First_Conversion_Date__c   | First_Conversion__c -> `form`             |
| form_submission | Recent_Conversion_Date__c  | Recent_Conversion__c -> `form`            |

(`SalesforceOptions.marketing_fields` renames them; fields the integration user cannot see are
reported once and not read.) Email clicks come from the Email campaign's CampaignMember
responses instead, where Salesforce keeps them itself; activities.py reads both.

Each distinct value is one activity whose id is derived from the record, the field and the
instant (`00Q...:Last_Email_Open_Date__c:1714564800000`), so reading a person again never
counts a touch twice and a later touch is a new activity. The first conversion is often also
the latest: counted once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Touch:
    """A marketing activity kept as its latest (or first) occurrence, in a person's field."""

    type: str
    at_field: str
    detail: tuple[str, str] | None = None  # (activity property, the field holding it)

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.at_field, self.detail[1]) if self.detail else (self.at_field,)


TOUCHES: tuple[Touch, ...] = (
    Touch("page_view", "Last_Page_Seen_Date__c", ("url", "Last_Page_Seen__c")),
    Touch("email_open", "Last_Email_Open_Date__c"),
    Touch("form_submission", "First_Conversion_Date__c", ("form", "First_Conversion__c")),
    Touch("form_submission", "Recent_Conversion_Date__c", ("form", "Recent_Conversion__c")),
)


def touches(renamed: Mapping[str, str] | None = None) -> tuple[Touch, ...]:
    """The touches, with an org's own field names (default name -> the org's)."""
    if not renamed:
        return TOUCHES

    def name(field: str) -> str:
        return renamed.get(field, field)

    return tuple(
        Touch(t.type, name(t.at_field), (t.detail[0], name(t.detail[1])) if t.detail else None)
        for t in TOUCHES
    )


def fields(found: Sequence[Touch]) -> list[str]:
    return list(dict.fromkeys(f for touch in found for f in touch.fields))
