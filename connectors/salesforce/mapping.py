"""Leads and Contacts as connector records, their fields in the engine's vocabulary.

The engine reads HubSpot's property names (connectors.base). Each is filled from the Salesforce
field that means the same, on the Lead itself or, for a Contact, on the Contact or its Account
(Object Reference for Salesforce and Lightning Platform: Lead, Contact, Account):

| engine property                  | Lead               | Contact                          |
|----------------------------------|--------------------|----------------------------------|
| email, firstname, lastname       | Email, FirstName, LastName (both)                     |
| jobtitle                         | Title              | Title                            |
| company                          | Company            | Account.Name                     |
| industry (HubSpot's values)      | Industry           | Account.Industry (`INDUSTRIES`)  |
| numemployees (a number)          | NumberOfEmployees  | Account.NumberOfEmployees        |
| country                          | Country            | MailingCountry, else             |
|                                  |                    | Account.BillingCountry           |
| hs_email_optout ("true"/"false") | HasOptedOutOfEmail | HasOptedOutOfEmail               |
| hs_email_hard_bounce_reason_enum | EmailBouncedReason | EmailBouncedReason               |
| hs_email_bounce ("1" if bounced) | EmailBouncedDate   | EmailBouncedDate                 |
| lifecyclestage                   | "lead"             | "customer" when its Account has  |
|                                  |                    | a won Opportunity or a Type that |
|                                  |                    | starts with "Customer"           |
| createdate, lastmodifieddate     | CreatedDate, LastModifiedDate (both)                  |
| glengarry_* (the nine fields)   | Glengarry_*__c (fields.API_NAMES)                     |

A criteria property that is none of these is read as a Salesforce field of that name (`Rating`,
`My_Score__c`; on Contacts `Account.X` reads the Account's), under the same name, so a criteria
file can name a CRM's own field directly. `salesforce.Rating` says so explicitly (and a
HubSpot portal leaves it unread); `hubspot.hs_lead_status` is never asked of Salesforce
(connectors/crm_fields.py). Such a field is read as it is: `salesforce.Industry` is the label.

Salesforce's Industry picklist is coarser than HubSpot's: each standard label maps onto the
HubSpot value nearest in meaning (an org's own labels become HubSpot-style names, "Computer
Software" -> COMPUTER_SOFTWARE, "Marketing & Advertising" -> MARKETING_AND_ADVERTISING, and
`industries` overrides any of it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.base import CrmContact
from connectors.crm_fields import own_field
from connectors.salesforce.fields import API_NAMES, NUMBER_FIELDS
from connectors.salesforce.marketing import TOUCHES, Touch
from connectors.salesforce.marketing import fields as marketing_fields

CRM = "salesforce"  # the prefix of criteria names of Salesforce's own fields
LEAD = "Lead"
CONTACT = "Contact"
ACCOUNT = "Account"
KINDS: Mapping[str, str] = {LEAD: "lead", CONTACT: "contact"}
OBJECTS: Mapping[str, str] = {kind: sobject for sobject, kind in KINDS.items()}
# Key prefixes of standard objects ("Standard Field Record ID Prefix Decoder", Salesforce Help).
PREFIXES: Mapping[str, str] = {
    "00Q": LEAD,
    "003": CONTACT,
    "001": ACCOUNT,
    "00T": "Task",
    "00U": "Event",
    "500": "Case",
    "006": "Opportunity",
    "00K": "OpportunityContactRole",
}

# Salesforce's standard Industry picklist (Lead and Account share it) -> HubSpot's `industry`.
INDUSTRIES: Mapping[str, str | None] = {
    "Agriculture": "FARMING",
    "Apparel": "APPAREL_FASHION",
    "Banking": "BANKING",
    "Biotechnology": "BIOTECHNOLOGY",
    "Chemicals": "CHEMICALS",
    "Communications": "PUBLIC_RELATIONS_AND_COMMUNICATIONS",
    "Construction": "CONSTRUCTION",
    "Consulting": "MANAGEMENT_CONSULTING",
    "Education": "EDUCATION_MANAGEMENT",
    "Electronics": "CONSUMER_ELECTRONICS",
    "Energy": "OIL_ENERGY",
    "Engineering": "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
    "Entertainment": "ENTERTAINMENT",
    "Environmental": "ENVIRONMENTAL_SERVICES",
    "Finance": "FINANCIAL_SERVICES",
    "Food & Beverage": "FOOD_BEVERAGES",
    "Government": "GOVERNMENT_ADMINISTRATION",
    "Healthcare": "HOSPITAL_HEALTH_CARE",
    "Hospitality": "HOSPITALITY",
    "Insurance": "INSURANCE",
    "Machinery": "MACHINERY",
    "Manufacturing": "INDUSTRIAL_AUTOMATION",
    "Media": "MEDIA_PRODUCTION",
    "Not For Profit": "NONPROFIT_ORGANIZATION_MANAGEMENT",
    "Other": None,  # says nothing about the company
    "Recreation": "RECREATIONAL_FACILITIES_AND_SERVICES",
    "Retail": "RETAIL",
    "Shipping": "LOGISTICS_AND_SUPPLY_CHAIN",
    "Technology": "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "Telecommunications": "TELECOMMUNICATIONS",
    "Transportation": "TRANSPORTATION_TRUCKING_RAILROAD",
    "Utilities": "UTILITIES",
}
_NOT_WORD = re.compile(r"[^A-Z0-9]+")
_REPLY = re.compile(r"^\s*(?:email:\s*)?(?:re|aw|sv|antw)\s*:", re.IGNORECASE)


def text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flag(value: object) -> str | None:
    return None if value is None else ("true" if value is True or value == "true" else "false")


def count(value: object) -> str | None:
    """Employees as a plain number ("250"): the criteria's ranges read numbers as themselves."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return str(int(float(str(value))))
    except ValueError:
        return None


def bounces(value: object) -> str | None:
    """HubSpot counts bounced emails; Salesforce keeps the last bounce's date: at least one."""
    return None if value in (None, "") else "1"


def parse_time(value: object) -> datetime | None:
    """Salesforce's date-times (2024-05-01T12:00:00.000+0000) and dates (midnight UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_time(value: object) -> str | None:
    moment = parse_time(value)
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_reply(subject: object) -> bool:
    return isinstance(subject, str) and _REPLY.match(subject) is not None


def read(row: Mapping[str, Any], path: str) -> Any:
    """A field of a query row, parents nested (`Account.Industry` is row["Account"]["Industry"])."""
    current: Any = row
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


@dataclass(frozen=True, slots=True)
class Source:
    """Where one engine property comes from: the first non-empty of its paths."""

    lead: tuple[str, ...]
    contact: tuple[str, ...]
    convert: Callable[[object], str | None] = text


_SOURCES: dict[str, Source] = {
    "email": Source(("Email",), ("Email",)),
    "firstname": Source(("FirstName",), ("FirstName",)),
    "lastname": Source(("LastName",), ("LastName",)),
    "jobtitle": Source(("Title",), ("Title",)),
    "company": Source(("Company",), ("Account.Name",)),
    "industry": Source(("Industry",), ("Account.Industry",)),  # converted by the map's table
    "numemployees": Source(("NumberOfEmployees",), ("Account.NumberOfEmployees",), count),
    "country": Source(("Country",), ("MailingCountry", "Account.BillingCountry")),
    "hs_email_optout": Source(("HasOptedOutOfEmail",), ("HasOptedOutOfEmail",), flag),
    "hs_email_hard_bounce_reason_enum": Source(("EmailBouncedReason",), ("EmailBouncedReason",)),
    "hs_email_bounce": Source(("EmailBouncedDate",), ("EmailBouncedDate",), bounces),
    "createdate": Source(("CreatedDate",), ("CreatedDate",), iso_time),
    "lastmodifieddate": Source(("LastModifiedDate",), ("LastModifiedDate",), iso_time),
}
for _logical, _api in API_NAMES.items():
    _SOURCES[_logical] = Source((_api,), (_api,), iso_time if _logical.endswith("_since") else text)
SOURCES: Mapping[str, Source] = _SOURCES
# Read whatever the criteria say: who the person is, for people reading Glengarry's output.
IDENTITY = (
    "email", "firstname", "lastname", "jobtitle", "company", "createdate", "lastmodifieddate",
)  # fmt: skip
DERIVED = frozenset({"lifecyclestage", "email_domain"})  # computed here / by the engine
# What every read needs, whatever the criteria: ids, change stamps, deletion, merge, conversion.
SYSTEM: Mapping[str, tuple[str, ...]] = {
    LEAD: ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId", "IsConverted",
           "ConvertedContactId"),
    CONTACT: ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId", "AccountId"),
}  # fmt: skip
ACCOUNT_SYSTEM = ("Id", "Type")  # Type: the customer rule


@dataclass(frozen=True, slots=True)
class CustomerRule:
    """A Contact is a customer when its Account has a won Opportunity (`won_opportunity`) or
    an Account.Type starting with one of `account_types` (case-insensitive)."""

    account_types: tuple[str, ...] = ("Customer",)
    won_opportunity: bool = True

    def is_customer(self, account_type: object, has_won: bool) -> bool:
        if self.won_opportunity and has_won:
            return True
        kind = str(account_type or "").casefold()
        return bool(kind) and any(kind.startswith(p.casefold()) for p in self.account_types)


@dataclass(frozen=True)
class PropertyMap:
    """Which Salesforce fields to read for the criteria's properties, and how each person's
    become the engine's."""

    properties: Sequence[str] = ()  # what the criteria read (engine or Salesforce names)
    industries: Mapping[str, str | None] = field(default_factory=dict)  # label -> value
    customer: CustomerRule = field(default_factory=CustomerRule)
    touches: Sequence[Touch] = TOUCHES  # the marketing automation's fields (marketing.py)

    @property
    def engine(self) -> list[str]:
        wanted = [*IDENTITY, *self.properties, *API_NAMES]
        return [name for name in dict.fromkeys(wanted) if name in SOURCES]

    @property
    def direct(self) -> dict[str, str]:
        """Criteria properties that name Salesforce fields themselves -> the field (path):
        `Rating` or `salesforce.Rating` -> Rating; another CRM's (`hubspot.x`) is never read
        (connectors/crm_fields.py)."""
        found: dict[str, str] = {}
        for name in dict.fromkeys(self.properties):
            if name in SOURCES or name in DERIVED:
                continue
            path = own_field(name, CRM)
            if path is not None:
                found[name] = path
        return found

    def paths(self, sobject: str) -> list[str]:
        """Fields (and `Account.` paths, for Contacts) to read, before visibility."""
        found: list[str] = list(SYSTEM[sobject])
        for name in self.engine:
            source = SOURCES[name]
            found.extend(source.lead if sobject == LEAD else source.contact)
        for path in self.direct.values():
            if sobject == CONTACT or "." not in path:
                found.append(path)
        found.extend(marketing_fields(self.touches))
        if sobject == CONTACT:
            found.extend(f"{ACCOUNT}.{name}" for name in ACCOUNT_SYSTEM[1:])
        return list(dict.fromkeys(found))

    def industry(self, label: object) -> str | None:
        if not isinstance(label, str) or not label.strip():
            return None
        if label in self.industries:
            return self.industries[label]
        if label in INDUSTRIES:
            return INDUSTRIES[label]
        # HubSpot spells "and" out (LOGISTICS_AND_SUPPLY_CHAIN).
        return _NOT_WORD.sub("_", label.upper().replace("&", " AND ")).strip("_") or None

    def values(
        self, row: Mapping[str, Any], sobject: str, *, has_won: bool = False
    ) -> dict[str, str | None]:
        props: dict[str, str | None] = {}
        for name in self.engine:
            source = SOURCES[name]
            paths = source.lead if sobject == LEAD else source.contact
            raw = next((v for v in (read(row, p) for p in paths) if v not in (None, "")), None)
            if name == "industry":
                props[name] = self.industry(raw)
            elif name in NUMBER_FIELDS:
                props[name] = count(raw)
            else:
                props[name] = source.convert(raw)
        for name, path in self.direct.items():
            if sobject == CONTACT or "." not in path:
                props[name] = text(read(row, path))
        for name in marketing_fields(self.touches):
            if (value := text(read(row, name))) is not None:
                props[name] = value  # read back by marketing.activities
        if sobject == LEAD:
            props["lifecyclestage"] = "lead"
        else:
            customer = self.customer.is_customer(read(row, "Account.Type"), has_won)
            props["lifecyclestage"] = "customer" if customer else None
        return props

    def contact(
        self,
        row: Mapping[str, Any],
        sobject: str,
        *,
        has_won: bool = False,
        merged: Sequence[str] = (),
    ) -> CrmContact:
        """One Lead or Contact row; a deleted record, or a converted Lead (which lives on as
        its Contact), is archived."""
        converted = sobject == LEAD and read(row, "IsConverted") is True
        return CrmContact(
            crm_id=str(row["Id"]),
            properties=self.values(row, sobject, has_won=has_won),
            modified_at=parse_time(read(row, "SystemModstamp")) or datetime(1970, 1, 1, tzinfo=UTC),
            kind=KINDS[sobject],
            archived=read(row, "IsDeleted") is True or converted,
            merged_crm_ids=tuple(dict.fromkeys(merged)),
        )


def object_of(record_id: str) -> str | None:
    return PREFIXES.get(record_id[:3])
