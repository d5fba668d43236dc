"""Filling the org from a population (the generator HubSpot's sandbox uses too).

People are grouped by company. A company with a customer (`lifecyclestage` customer) or an
open opportunity (`opportunity`) is an Account whose people are Contacts: customers' Accounts
have a Closed Won Opportunity and Type "Customer - Direct", the others an open one. People
whose company facts (industry, size, country) disagree sit on duplicate Accounts of the same
name, each holding what its people say. Everyone else is a Lead, not converted.

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
| hs_email_hard_bounce_reason_enum| EmailBouncedReason (an SMTP answer), EmailBouncedDate          |
| createdate                      | CreatedDate                                                   |
| call                            | Task, TaskSubtype Call, Type Call, CallType Outbound/Inbound, |
|                                 | CallDurationInSeconds, CallDisposition, Status Completed      |
| email_reply, email_sent         | Task, TaskSubtype Email, Subject "Email: ..."                 |
| meeting                         | Event, 30 minutes, Type Meeting (Subject says a no-show)      |
| email_click                     | CampaignMember of the email's Campaign (Type Email), Status   |
|                                 | Responded, FirstRespondedDate (a member who only opened:      |
|                                 | Status Opened)                                                |
| page_view, email_open,          | what the org's marketing automation syncs onto the person     |
| form_submission                 | (`MARKETING_FIELDS` in schema.py): the latest page view and   |
|                                 | its URL, the latest email open, the first and the most recent |
|                                 | conversion (the form's name)                                  |
| chat                            | Task, TaskSubtype Task, Subject "Chat"                        |
| ticket (a Contact's)            | Case: ContactId, AccountId, Subject, Priority (LOW, MEDIUM,   |
|                                 | HIGH as Low, Medium, High; URGENT as the org's own Critical), |
|                                 | Status New (OPEN) or Closed with ClosedDate 30 hours later    |
|                                 | (CLOSED); a Lead has no Cases                                 |
| survey_response                 | with Feedback Management: a SurveyInvitation to the person    |
|                                 | (ParticipantId), its SurveyResponse (Completed, at the        |
|                                 | answer's time) and a SurveyQuestionResponse to the survey's   |
|                                 | NPS question (`survey` nps, NumberValue its `score`) or CSAT  |
|                                 | question (csat, its `rating`); without it, nothing            |
| product_usage                   | not kept: Salesforce has no home for it                       |

Activities set the person's `LastActivityDate` (a system change: `SystemModstamp` only).
An Account's Opportunity is in the org's currency; with multi-currency on, in its country's
(`CURRENCY_OF_COUNTRY`) where the org has that currency active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.clock import parse_datetime
from connectors.salesforce.sandbox.schema import MARKETING_FIELDS
from connectors.salesforce.sandbox.store import Record, Store
from connectors.sandbox_kit import CURRENCY_OF_COUNTRY, SeedMember
from qualification.records import Activity

INDUSTRY = {
    "COMPUTER_SOFTWARE": "Technology",
    "INFORMATION_TECHNOLOGY_AND_SERVICES": "Technology",
    "INTERNET": "Technology",
    "COMPUTER_NETWORK_SECURITY": "Technology",
    "FINANCIAL_SERVICES": "Finance",
    "BANKING": "Banking",
    "INSURANCE": "Insurance",
    # Not in the standard picklist: this org added its own value (Industry is unrestricted).
    "MARKETING_AND_ADVERTISING": "Marketing and Advertising",
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
# HubSpot's hard-bounce reasons as the receiving server's answer Salesforce keeps.
BOUNCES = {
    "UNKNOWN_USER": "550 5.1.1 The email account that you tried to reach does not exist",
    "MAILBOX_FULL": "552 5.2.2 The recipient's mailbox is full",
    "OTHER": "554 5.0.0 Delivery failed",
}
NOT_PROVIDED = "[not provided]"
CASE_PRIORITY = {"LOW": "Low", "MEDIUM": "Medium", "HIGH": "High", "URGENT": "Critical"}
# How long a closed Case took: Salesforce keeps when it closed, the population only that it did.
CASE_CLOSED_AFTER = timedelta(hours=30)
# The customer survey's questions: (DeveloperName, label, QuestionType), by the population's
# `survey` and the property holding the answer.
QUESTIONS = {
    "nps": ("recommend", "How likely are you to recommend us to a colleague?", "NPS", "score"),
    "csat": ("satisfied", "How satisfied are you with us?", "CSAT", "rating"),
}
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
    if props.get("hs_email_hard_bounce_reason_enum"):
        values["EmailBouncedReason"] = BOUNCES.get(
            str(props["hs_email_hard_bounce_reason_enum"]), BOUNCES["OTHER"]
        )
    return values


def _marketing(store: Store, person: dict[str, Any], member: SeedMember) -> None:
    """The marketing automation's fields: the latest page view, the latest email open, the
    first and the latest conversion."""
    now = store.clock.now()
    for activity in sorted(member.activities, key=lambda a: a.occurred_at):
        at = min(activity.occurred_at, now)
        details = activity.properties
        if activity.type == "page_view":
            person["Last_Page_Seen_Date__c"] = at
            person["Last_Page_Seen__c"] = str(details.get("url") or "")[:255] or None
        elif activity.type == "email_open":
            person["Last_Email_Open_Date__c"] = at
        elif activity.type == "form_submission":
            form = str(details.get("form") or "Form")[:255]
            if person.get("First_Conversion_Date__c") is None:
                person["First_Conversion_Date__c"] = at
                person["First_Conversion__c"] = form
            person["Recent_Conversion_Date__c"] = at
            person["Recent_Conversion__c"] = form
    if person.get("EmailBouncedReason"):
        sent = [a.occurred_at for a in member.activities]
        person["EmailBouncedDate"] = min([*sent, now]) if sent else now


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
        self.questions: dict[str, Record] = {}  # by the population's `survey`
        self._survey: tuple[Record, Record] | None = None  # the Survey and its version

    def case(self, person: Record, at: datetime, details: Mapping[str, Any]) -> None:
        closed = str(details.get("status") or "OPEN").upper() == "CLOSED"
        priority = str(details.get("priority") or "MEDIUM").upper()
        values: dict[str, Any] = {
            "ContactId": person.id,
            "AccountId": person.get("AccountId"),
            "Subject": str(details.get("subject") or "Support request")[:255],
            "Priority": CASE_PRIORITY.get(priority, "Medium"),
            "Origin": "Email",
            "Status": "Closed" if closed else "New",
        }
        if closed:
            values["ClosedDate"] = min(at + CASE_CLOSED_AFTER, self.store.clock.now())
        self.store.create("Case", values, at=at)

    def question(self, kind: str, at: datetime) -> Record | None:
        """The customer survey's question for `kind` (made on first use), or None."""
        if kind not in QUESTIONS:
            return None
        found = self.questions.get(kind)
        if found is not None:
            return found
        survey, version = self.survey(at)
        name, label, question_type, _ = QUESTIONS[kind]
        found = self.store.create(
            "SurveyQuestion",
            {"SurveyVersionId": version.id, "DeveloperName": name, "Name": label,
             "QuestionName": label, "QuestionType": question_type},
            at=survey.get("CreatedDate"),
        )  # fmt: skip
        self.questions[kind] = found
        return found

    def survey(self, at: datetime) -> tuple[Record, Record]:
        if self._survey is None:
            survey = self.store.create(
                "Survey", {"Name": "Customer survey", "DeveloperName": "customer_survey"}, at=at
            )
            version = self.store.create(
                "SurveyVersion",
                {"SurveyId": survey.id, "Name": "Customer survey", "VersionNumber": 1},
                at=at,
            )
            self._survey = (survey, version)
        return self._survey

    def answer(self, person: Record, at: datetime, details: Mapping[str, Any]) -> None:
        """A survey answered: its invitation, response and the answer to its one question."""
        if self.store.sobject("SurveyQuestionResponse") is None:
            return  # no Feedback Management licence: the org keeps no survey answers
        kind = str(details.get("survey") or "nps").lower()
        question = self.question(kind, at)
        raw = details.get(QUESTIONS[kind][3]) if question is not None else None
        try:
            value = int(float(str(raw))) if raw not in (None, "") else None
        except ValueError:
            value = None
        if question is None or value is None:
            return
        survey, version = self.survey(at)
        invitation = self.store.create(
            "SurveyInvitation",
            {"Name": f"Customer survey {person.id}", "SurveyId": survey.id,
             "ParticipantId": person.id,
             "ContactId": person.id if person.type == "Contact" else None,
             "ResponseStatus": "Completed"},
            at=at,
        )  # fmt: skip
        response = self.store.create(
            "SurveyResponse",
            {"SurveyId": survey.id, "SurveyVersionId": version.id, "InvitationId": invitation.id,
             "SubmitterId": person.id, "Name": f"Response {invitation.id}",
             "Status": "Completed", "CompletionDateTime": at},
            at=at,
        )  # fmt: skip
        self.store.create(
            "SurveyQuestionResponse",
            {"ResponseId": response.id, "QuestionId": question.id,
             "InvitationId": invitation.id, "SurveyVersionId": version.id, "Datatype": "Int",
             "NumberValue": value},
            at=at,
        )  # fmt: skip

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
        if activity.type == "email_click":
            campaign = self.campaign(str(details.get("campaign") or "Newsletter"), "Email", at)
            self.respond(person, campaign, at, responded=True)
            return None
        if activity.type == "ticket":
            if person.type == "Contact":  # a Case names a Contact; a Lead has none
                self.case(person, at, details)
            return None
        if activity.type == "survey_response":
            self.answer(person, at, details)
            return None
        # Page views, opens and forms: the person's marketing fields (_marketing); product
        # usage: Salesforce keeps no such thing.
        return None

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
    _marketing(store, values, member)
    lead = store.create("Lead", values, at=_created(store, props, member))
    ids[member.contact.id] = lead.id
    _activities(store, seeder, lead, member)


def _company_facts(props: Mapping[str, str | None]) -> tuple[str | None, ...]:
    return tuple(props.get(name) or None for name in ("industry", "numemployees", "country"))


def _seed_account(store: Store, seeder: Seeder, company: _Company, ids: dict[str, str]) -> None:
    """One Account per version of what the org knows of the company: people whose company
    facts (industry, size, country) disagree sit on duplicate Accounts of the same name, as
    records entered before an enrichment or a clean-up do. The first one holds the deal."""
    created = min(_created(store, m.contact.properties, m) for m in company.people)
    customer = company.stage == "customer"
    versions: dict[tuple[str | None, ...], list[SeedMember]] = {}
    for member in company.people:
        versions.setdefault(_company_facts(member.contact.properties), []).append(member)
    main: Record | None = None
    on_deal: list[Record] = []  # the people of the Account holding the deal: its contact roles
    for (industry, employees, country), people in versions.items():
        first = people[0].contact.properties
        account = store.create(
            "Account",
            {
                "Name": company.name[:255],
                "Website": first.get("website") or None,
                "Industry": INDUSTRY.get(str(industry or "")),
                "NumberOfEmployees": _employees(employees),
                "BillingCountry": country,
                "Type": "Customer - Direct" if customer else "Prospect",
            },
            at=created,
        )
        main = main or account
        for member in people:
            props = member.contact.properties
            values = _person(props) | {
                "AccountId": account.id,
                "MailingCountry": props.get("country") or None,
            }
            _marketing(store, values, member)
            contact = store.create("Contact", values, at=_created(store, props, member))
            ids[member.contact.id] = contact.id
            _activities(store, seeder, contact, member)
            if account is main:
                on_deal.append(contact)
    assert main is not None
    won_at = created + (store.clock.now() - created) / 2
    opportunity: dict[str, Any] = {
        "Name": f"{company.name[:100]} - {'New Business' if customer else 'Evaluation'}",
        "AccountId": main.id,
        "StageName": "Closed Won" if customer else "Qualification",
        "CloseDate": (won_at if customer else store.clock.now() + timedelta(days=30)).date(),
        "Amount": 24_000.0,
    }
    if store.settings.multi_currency:
        local = CURRENCY_OF_COUNTRY.get(str(main.get("BillingCountry") or ""))
        active = store.settings.active_currencies
        opportunity["CurrencyIsoCode"] = local if local in active else store.settings.currency
    deal = store.create("Opportunity", opportunity, at=won_at if customer else created)
    for rank, contact in enumerate(on_deal):
        store.create(
            "OpportunityContactRole",
            {
                "OpportunityId": deal.id,
                "ContactId": contact.id,
                "Role": "Decision Maker" if rank == 0 else "Influencer",
                "IsPrimary": rank == 0,
            },
            at=won_at if customer else created,
        )


def seed_org(store: Store, username: str, org_id: str = "00D5e0000000001EAA") -> Record:
    """The Organization, the integration user and the profile's own permission set
    (IsOwnedByProfile)."""
    store.create(
        "Organization",
        {"Name": "Glengarry Sandbox", "DefaultCurrencyIsoCode": store.settings.currency,
         "OrganizationType": "Developer Edition", "IsSandbox": False},
        record_id=org_id,
    )  # fmt: skip
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
    # The marketing automation's installer let the profile read the fields it syncs.
    profile = store.records("PermissionSet")[-1]
    store.create("PermissionSetAssignment", {"PermissionSetId": profile.id, "AssigneeId": user.id})
    for sobject in ("Lead", "Contact"):
        for name, _, _ in MARKETING_FIELDS:
            store.create(
                "FieldPermissions",
                {"ParentId": profile.id, "SobjectType": sobject, "Field": f"{sobject}.{name}",
                 "PermissionsRead": True, "PermissionsEdit": False},
            )  # fmt: skip
    return user
