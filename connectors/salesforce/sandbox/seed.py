"""Filling the org from a population (the generator HubSpot's sandbox uses too).

People are grouped by company. A company with a customer (`lifecyclestage` customer) or an
open opportunity (`opportunity`) is an Account whose people are Contacts: customers' Accounts
have a Closed Won Opportunity, the others an open one. Everyone else is a Lead, not converted.

| population                      | Salesforce                                                    |
|---------------------------------|---------------------------------------------------------------|
| firstname, lastname, email,     | FirstName, LastName ("[not provided]" if missing), Email,     |
| phone, jobtitle                 | Phone, Title (Lead and Contact)                               |
| company, website                | Lead.Company ("[not provided]" if missing), Lead.Website;     |
|                                 | Account.Name, Account.Website                                 |
| industry (HubSpot's values)     | Industry with Salesforce's labels (table `INDUSTRY` below)    |
| numemployees ("50-100")         | NumberOfEmployees, the band's lower bound (1000+: 1000)       |
| country                         | Lead.Country; Account.BillingCountry, Contact.MailingCountry  |
| hs_analytics_source             | LeadSource (table `LEAD_SOURCE`)                              |
| hs_lead_status                  | Lead.Status (table `LEAD_STATUS`)                             |
| hs_email_optout                 | HasOptedOutOfEmail                                            |
| createdate                      | CreatedDate                                                   |
| call                            | Task, TaskSubtype Call, Type Call, CallType Outbound/Inbound, |
|                                 | CallDurationInSeconds, CallDisposition, Status Completed      |
| email_reply, email_sent         | Task, TaskSubtype Email, Subject "Email: ..."                 |
| meeting                         | Event, 30 minutes, Type Meeting (Subject says a no-show)      |
| email_open, email_click         | CampaignMember of the email's Campaign (Type Email): Status   |
|                                 | Opened, or Responded with FirstRespondedDate on a click       |
| form_submission                 | CampaignMember of the form's Campaign (Type Webinar for       |
|                                 | webinars, else Other), Status Responded                       |
| chat                            | Task, TaskSubtype Task, Subject "Chat"                        |
| page_view, product_usage        | not kept: Salesforce has no object for them without           |
|                                 | Marketing Cloud Account Engagement                            |

Activities set the person's `LastActivityDate` (a system change: `SystemModstamp` only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.clock import parse_datetime
from connectors.salesforce.sandbox.store import Record, Store
from connectors.sandbox_kit import SeedMember
from qualification.records import Activity

INDUSTRY = {
    "COMPUTER_SOFTWARE": "Technology",
    "INFORMATION_TECHNOLOGY_AND_SERVICES": "Technology",
    "INTERNET": "Technology",
    "COMPUTER_NETWORK_SECURITY": "Technology",
    "FINANCIAL_SERVICES": "Finance",
    "BANKING": "Banking",
    "INSURANCE": "Insurance",
    "MARKETING_AND_ADVERTISING": "Media",
    "TELECOMMUNICATIONS": "Telecommunications",
    "MANAGEMENT_CONSULTING": "Consulting",
    "STAFFING_AND_RECRUITING": "Consulting",
    "RETAIL": "Retail",
    "HOSPITAL_HEALTH_CARE": "Healthcare",
    "CONSTRUCTION": "Construction",
    "RESTAURANTS": "Hospitality",
    "REAL_ESTATE": "Other",
    "EDUCATION_MANAGEMENT": "Education",
    "HIGHER_EDUCATION": "Education",
    "NONPROFIT_ORGANIZATION_MANAGEMENT": "Not For Profit",
    "AUTOMOTIVE": "Transportation",
    "MACHINERY": "Machinery",
    "FOOD_BEVERAGES": "Food & Beverage",
    "GOVERNMENT_ADMINISTRATION": "Government",
    "LOGISTICS_AND_SUPPLY_CHAIN": "Shipping",
}
LEAD_SOURCE = {
    "ORGANIC_SEARCH": "Web",
    "DIRECT_TRAFFIC": "Web",
    "REFERRALS": "Partner Referral",
    "SOCIAL_MEDIA": "Web",
    "PAID_SEARCH": "Web",
    "EMAIL_MARKETING": "Web",
    "OFFLINE": "Purchased List",
}
LEAD_STATUS = {
    "NEW": "Open - Not Contacted",
    "OPEN": "Open - Not Contacted",
    "ATTEMPTED_TO_CONTACT": "Working - Contacted",
    "IN_PROGRESS": "Working - Contacted",
    "OPEN_DEAL": "Working - Contacted",
    "CONNECTED": "Working - Contacted",
    "UNQUALIFIED": "Closed - Not Converted",
    "BAD_TIMING": "Closed - Not Converted",
}
NOT_PROVIDED = "[not provided]"
_ACCOUNT_STAGES = ("customer", "opportunity")


@dataclass
class _Company:
    name: str
    people: list[SeedMember] = field(default_factory=list)

    @property
    def stage(self) -> str | None:
        stages = {str(m.contact.properties.get("lifecyclestage") or "") for m in self.people}
        return next((s for s in _ACCOUNT_STAGES if s in stages), None)


def _employees(band: str | None) -> int | None:
    if not band:
        return None
    head = band.split("-")[0].rstrip("+").replace(",", "")
    return int(head) if head.isdigit() else None


def _person(props: Mapping[str, str | None]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "FirstName": props.get("firstname") or None,
        "LastName": props.get("lastname") or NOT_PROVIDED,
        "Email": props.get("email") or None,
        "Phone": props.get("phone") or None,
        "Title": (props.get("jobtitle") or "")[:128] or None,
        "LeadSource": LEAD_SOURCE.get(str(props.get("hs_analytics_source") or ""), "Other"),
        "HasOptedOutOfEmail": str(props.get("hs_email_optout") or "").lower() == "true",
    }
    return values


def _created(store: Store, props: Mapping[str, str | None], member: SeedMember) -> datetime:
    moment = parse_datetime(str(props.get("createdate") or ""))
    if moment is None:
        firsts = [a.occurred_at for a in member.activities]
        moment = min(firsts) if firsts else store.clock.now()
    return min(moment, store.clock.now())


class Seeder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.campaigns: dict[str, Record] = {}
        self.members: dict[tuple[str, str], Record] = {}

    def campaign(self, name: str, kind: str, at: datetime) -> Record:
        found = self.campaigns.get(name)
        if found is None:
            found = self.store.create(
                "Campaign",
                {"Name": name[:80], "Type": kind, "Status": "In Progress", "IsActive": True,
                 "StartDate": at.date()},
                at=at,
            )  # fmt: skip
            self.campaigns[name] = found
        return found

    def activity(self, person: Record, activity: Activity) -> datetime | None:
        """Record one activity; the moment it counts as the person's activity, if it does."""
        at = min(activity.occurred_at, self.store.clock.now())
        details = activity.properties
        who = {"WhoId": person.id}
        if activity.type == "call":
            duration = int(float(details.get("hs_call_duration") or 0) / 1000)
            direction = str(details.get("hs_call_direction") or "OUTBOUND").title()
            self.store.create(
                "Task",
                {**who, "Subject": "Call", "TaskSubtype": "Call", "Type": "Call",
                 "CallType": direction if direction in ("Inbound", "Outbound") else "Outbound",
                 "CallDurationInSeconds": duration,
                 "CallDisposition": str(details.get("hs_call_status") or "COMPLETED").title(),
                 "Status": "Completed", "ActivityDate": at.date()},
                at=at,
            )  # fmt: skip
            return at
        if activity.type in ("email_reply", "email_sent"):
            subject = "Re: following up" if activity.type == "email_reply" else "Following up"
            self.store.create(
                "Task",
                {**who, "Subject": f"Email: {subject}", "TaskSubtype": "Email", "Type": "Email",
                 "Status": "Completed", "ActivityDate": at.date()},
                at=at,
            )  # fmt: skip
            return at
        if activity.type == "meeting":
            outcome = str(details.get("hs_meeting_outcome") or "COMPLETED")
            subject = "Meeting" if outcome != "NO_SHOW" else "Meeting (no-show)"
            self.store.create(
                "Event",
                {**who, "Subject": subject, "Type": "Meeting", "EventSubtype": "Event",
                 "StartDateTime": at, "EndDateTime": at + timedelta(minutes=30),
                 "ActivityDateTime": at, "ActivityDate": at.date(), "DurationInMinutes": 30},
                at=at,
            )  # fmt: skip
            return at
        if activity.type == "chat":
            self.store.create(
                "Task",
                {**who, "Subject": "Chat", "TaskSubtype": "Task", "Type": "Other",
                 "Status": "Completed", "ActivityDate": at.date()},
                at=at,
            )  # fmt: skip
            return at
        if activity.type in ("email_open", "email_click"):
            campaign = self.campaign(str(details.get("campaign") or "Newsletter"), "Email", at)
            self.respond(person, campaign, at, responded=activity.type == "email_click")
            return None
        if activity.type == "form_submission":
            form = str(details.get("form") or "Form")
            kind = "Webinar" if "webinar" in form.lower() else "Other"
            self.respond(person, self.campaign(f"Form: {form}", kind, at), at, responded=True)
            return None
        return None  # page views and product usage: Salesforce keeps no such object

    def respond(self, person: Record, campaign: Record, at: datetime, *, responded: bool) -> None:
        key = (campaign.id, person.id)
        member = self.members.get(key)
        link = "LeadId" if person.type == "Lead" else "ContactId"
        if member is None:
            member = self.store.create(
                "CampaignMember",
                {"CampaignId": campaign.id, link: person.id,
                 "Status": "Responded" if responded else "Opened",
                 "FirstRespondedDate": at.date() if responded else None},
                at=at,
            )  # fmt: skip
            self.members[key] = member
        elif responded and not member.get("HasResponded"):
            self.store.update(
                member, {"Status": "Responded", "FirstRespondedDate": at.date()}, at=at
            )


def seed(store: Store, members: Iterable[SeedMember]) -> dict[str, str]:
    """Load people and their activities; returns population id -> Lead or Contact id."""
    ids: dict[str, str] = {}
    seeder = Seeder(store)
    companies: dict[str, _Company] = {}
    order: list[_Company] = []
    for member in members:
        name = str(member.contact.properties.get("company") or "")
        key = name.lower() or f"(person {member.contact.id})"
        company = companies.get(key)
        if company is None:
            company = companies[key] = _Company(name)
            order.append(company)
        company.people.append(member)
    with store.locked():
        for company in order:
            if company.stage is not None and company.name:
                _seed_account(store, seeder, company, ids)
            else:
                for member in company.people:
                    _seed_lead(store, seeder, member, ids)
    return ids


def _activities(store: Store, seeder: Seeder, person: Record, member: SeedMember) -> None:
    latest: datetime | None = None
    for activity in sorted(member.activities, key=lambda a: a.occurred_at):
        at = seeder.activity(person, activity)
        if at is not None:
            latest = at if latest is None else max(latest, at)
    if latest is not None:
        store.update(person, {"LastActivityDate": latest.date()}, system=True, at=latest)


def _seed_lead(store: Store, seeder: Seeder, member: SeedMember, ids: dict[str, str]) -> None:
    props = member.contact.properties
    values = _person(props)
    values |= {
        "Company": (props.get("company") or NOT_PROVIDED)[:255],
        "Website": props.get("website") or None,
        "Industry": INDUSTRY.get(str(props.get("industry") or "")),
        "NumberOfEmployees": _employees(props.get("numemployees")),
        "Country": props.get("country") or None,
        "Status": LEAD_STATUS.get(str(props.get("hs_lead_status") or ""), "Open - Not Contacted"),
    }
    lead = store.create("Lead", values, at=_created(store, props, member))
    ids[member.contact.id] = lead.id
    _activities(store, seeder, lead, member)


def _seed_account(store: Store, seeder: Seeder, company: _Company, ids: dict[str, str]) -> None:
    first = company.people[0].contact.properties
    created = min(_created(store, m.contact.properties, m) for m in company.people)
    customer = company.stage == "customer"
    account = store.create(
        "Account",
        {
            "Name": company.name[:255],
            "Website": first.get("website") or None,
            "Industry": INDUSTRY.get(str(first.get("industry") or "")),
            "NumberOfEmployees": _employees(first.get("numemployees")),
            "BillingCountry": first.get("country") or None,
            "Type": "Customer - Direct" if customer else "Prospect",
        },
        at=created,
    )
    for member in company.people:
        props = member.contact.properties
        values = _person(props) | {
            "AccountId": account.id,
            "MailingCountry": props.get("country") or None,
        }
        contact = store.create("Contact", values, at=_created(store, props, member))
        ids[member.contact.id] = contact.id
        _activities(store, seeder, contact, member)
    won_at = created + (store.clock.now() - created) / 2
    store.create(
        "Opportunity",
        {
            "Name": f"{company.name[:100]} - {'New Business' if customer else 'Evaluation'}",
            "AccountId": account.id,
            "StageName": "Closed Won" if customer else "Qualification",
            "CloseDate": (won_at if customer else store.clock.now() + timedelta(days=30)).date(),
            "Amount": 24_000.0,
        },
        at=won_at if customer else created,
    )


def seed_org(store: Store, username: str) -> Record:
    """The integration user and the profile's own permission set (IsOwnedByProfile)."""
    user = store.create(
        "User",
        {"Username": username, "FirstName": "Integration", "LastName": "User",
         "Email": username, "IsActive": True},
    )  # fmt: skip
    store.actor = user.id
    store.create(
        "PermissionSet",
        {"Name": "X00e5e000000SysAdmin", "Label": "System Administrator",
         "IsOwnedByProfile": True},
    )  # fmt: skip
    return user
