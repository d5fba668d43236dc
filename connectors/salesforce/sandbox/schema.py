"""The org's objects and fields as describe reports them (Object Reference for Salesforce and
Lightning Platform: Lead, Contact, Account, Task, Event, Campaign, CampaignMember, Opportunity,
OpportunityContactRole, Case, Organization, User, PermissionSet, ObjectPermissions,
FieldPermissions, PermissionSetAssignment; with Feedback Management, Survey, SurveyVersion,
SurveyQuestion, SurveyInvitation, SurveyResponse and SurveyQuestionResponse), and custom fields
added through the Tooling API. Only the fields Glengarry and its tests use are modelled.

What an org has depends on its settings (`OrgSettings`): with multi-currency on, Opportunity
has `CurrencyIsoCode` (a picklist of the org's active currencies, defaulting to the corporate
one: "Manage Multiple Currencies", Salesforce Help; "CurrencyIsoCode", Object Reference); without
the Feedback Management licence the survey objects do not exist (absent from describe, a query
naming one is `INVALID_TYPE`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from connectors.salesforce.sandbox.soql import FieldType

T = FieldType

# Salesforce's standard Industry picklist (Account and Lead), in its set-up order.
INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit", "Other",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities",
)  # fmt: skip
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
CAMPAIGN_TYPES = (
    "Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
    "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other",
)  # fmt: skip
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
CONTACT_ROLES = (
    "Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker",
    "Evaluator", "Executive Sponsor", "Influencer", "Technical Buyer", "Other",
)  # fmt: skip
STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
    "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won",
    "Closed Lost",
)  # fmt: skip
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
# Salesforce's standard Case priorities, and the value this org added for its worst cases
# (Priority is unrestricted, like Industry).
CASE_PRIORITIES = ("High", "Medium", "Low", "Critical")
CASE_ORIGINS = ("Phone", "Email", "Web")
# SurveyQuestion.QuestionType ("SurveyQuestion", Object Reference, API v55.0 and later).
QUESTION_TYPES = (
    "Boolean", "CSAT", "Currency", "Date", "DateTime", "FreeText", "Image", "Matrix",
    "MultipleChoice", "MultiSelectPicklist", "NPS", "Number", "Picklist", "RadioButton",
    "StackRank", "Rating", "ShortText", "Slider", "Toggle",
)  # fmt: skip
RESPONSE_DATATYPES = ("Boolean", "Date", "Double", "Int", "Number", "String")
SURVEY_OBJECTS = (
    "Survey",
    "SurveyVersion",
    "SurveyQuestion",
    "SurveyInvitation",
    "SurveyResponse",
    "SurveyQuestionResponse",
)
LONG_TEXT = 32_768  # a long text area's length in describe
# Objects that hold records an admin manages in Setup: FLS does not apply to their fields.
SETUP_OBJECTS = frozenset(
    {"User", "PermissionSet", "ObjectPermissions", "FieldPermissions", "PermissionSetAssignment"}
)


@dataclass(frozen=True, slots=True)
class OrgSettings:
    """What the org's admin (or its licences) decided, which changes its schema."""

    multi_currency: bool = False
    currency: str = "USD"  # the corporate currency (the org's default, with or without)
    # The other active currencies, with multi-currency on.
    currencies: tuple[str, ...] = ("EUR", "GBP", "CAD", "AUD", "SEK", "INR", "BRL", "MXN")
    feedback_management: bool = True  # the licence that brings the survey objects

    def __post_init__(self) -> None:
        for code in (self.currency, *self.currencies):
            if not (len(code) == 3 and code.isalpha() and code.isupper()):
                raise ValueError(f"a currency is an ISO 4217 code like USD, not {code!r}")

    @property
    def active_currencies(self) -> tuple[str, ...]:
        if not self.multi_currency:
            return (self.currency,)
        return (self.currency, *(c for c in self.currencies if c != self.currency))


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: FieldType
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    restricted: bool = False  # a restricted picklist refuses values it does not list
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    default: object = None  # the value a create without the field gets
    defaulted: bool = False  # filled in on create by Salesforce itself (OwnerId: the user)
    description: str = ""

    @property
    def long_text(self) -> bool:
        return self.type is T.TEXTAREA and self.length > 255

    @property
    def filterable(self) -> bool:
        return not self.long_text

    @property
    def sortable(self) -> bool:
        return not self.long_text

    @property
    def required(self) -> bool:
        """Describe's createable and not nillable, without a default: must be given on create."""
        return (
            self.createable
            and not self.nillable
            and self.type is not T.BOOLEAN
            and self.default is None
            and not self.defaulted
        )


@dataclass(slots=True)
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    replicateable: bool = True

    def field(self, name: str) -> FieldDef | None:
        """A field by name, case-insensitively."""
        found = self.fields.get(name)
        if found is not None:
            return found
        folded = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == folded), None)

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind a parent relationship name, case-insensitively."""
        folded = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationship_name is not None and f.relationship_name.lower() == folded
            ),
            None,
        )


def _text(name: str, label: str, length: int = 255, **extra: Any) -> FieldDef:
    return FieldDef(name, T.STRING, label, length=length, **extra)


def _pick(name: str, label: str, values: Iterable[str], **extra: Any) -> FieldDef:
    return FieldDef(name, T.PICKLIST, label, length=255, picklist=tuple(values), **extra)


def _ref(name: str, label: str, target: str, relationship: str, **extra: Any) -> FieldDef:
    return FieldDef(
        name,
        T.REFERENCE,
        label,
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **extra,
    )


def _flag(name: str, label: str, **extra: Any) -> FieldDef:
    return FieldDef(name, T.BOOLEAN, label, nillable=False, default=False, **extra)


def _system_fields() -> list[FieldDef]:
    """What every object has; none of it can be written."""
    fixed: dict[str, Any] = {"createable": False, "updateable": False}
    return [
        FieldDef("Id", T.ID, "Record ID", length=18, nillable=False, **fixed),
        FieldDef("IsDeleted", T.BOOLEAN, "Deleted", nillable=False, default=False, **fixed),
        FieldDef("CreatedDate", T.DATETIME, "Created Date", nillable=False, **fixed),
        _ref("CreatedById", "Created By ID", "User", "CreatedBy", nillable=False, **fixed),
        FieldDef("LastModifiedDate", T.DATETIME, "Last Modified Date", nillable=False, **fixed),
        _ref(
            "LastModifiedById",
            "Last Modified By ID",
            "User",
            "LastModifiedBy",
            nillable=False,
            **fixed,
        ),
        FieldDef("SystemModstamp", T.DATETIME, "System Modstamp", nillable=False, **fixed),
    ]


def _owner() -> FieldDef:
    return _ref("OwnerId", "Owner ID", "User", "Owner", nillable=False, defaulted=True)


# What the org's marketing automation syncs onto Leads and Contacts (custom fields its
# connector fills; readable through the profile's permission set, seed.seed_org): the last
# page seen, the last marketing-email open, the first and the most recent conversion.
MARKETING_FIELDS = (
    ("Last_Page_Seen_Date__c", T.DATETIME, "Last Page Seen Date"),
    ("Last_Page_Seen__c", T.URL, "Last Page Seen"),
    ("Last_Email_Open_Date__c", T.DATETIME, "Last Email Open Date"),
    ("First_Conversion_Date__c", T.DATETIME, "First Conversion Date"),
    ("First_Conversion__c", T.STRING, "First Conversion"),
    ("Recent_Conversion_Date__c", T.DATETIME, "Recent Conversion Date"),
    ("Recent_Conversion__c", T.STRING, "Recent Conversion"),
)


def _marketing_fields() -> list[FieldDef]:
    return [
        FieldDef(name, kind, label, length=0 if kind is T.DATETIME else 255, custom=True)
        for name, kind, label in MARKETING_FIELDS
    ]


def _person_fields() -> list[FieldDef]:
    return [
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        _text("Name", "Full Name", 121, createable=False, updateable=False),
        _text("Title", "Title", 128),
        FieldDef("Email", T.EMAIL, "Email", length=80),
        FieldDef("Phone", T.PHONE, "Phone", length=40),
        _pick("LeadSource", "Lead Source", LEAD_SOURCES),
        _flag("HasOptedOutOfEmail", "Email Opt Out"),
        _text("EmailBouncedReason", "Email Bounced Reason", 255),
        FieldDef("EmailBouncedDate", T.DATETIME, "Email Bounced Date"),
        *_marketing_fields(),
        FieldDef("LastActivityDate", T.DATE, "Last Activity", createable=False, updateable=False),
        FieldDef("Description", T.TEXTAREA, "Description", length=LONG_TEXT),
    ]


def _object(
    name: str, label: str, plural: str, prefix: str, fields: Iterable[FieldDef], **extra: Any
) -> ObjectDef:
    found = ObjectDef(name, label, plural, prefix, **extra)
    for item in [*_system_fields(), *fields]:
        found.fields[item.name] = item
    return found


def standard_objects(settings: OrgSettings | None = None) -> dict[str, ObjectDef]:
    settings = settings or OrgSettings()
    fixed: dict[str, Any] = {"createable": False, "updateable": False}
    objects = [
        _object(
            "Lead", "Lead", "Leads", "00Q",
            [
                *_person_fields(),
                _owner(),
                _text("Company", "Company", 255, nillable=False),
                FieldDef("Website", T.URL, "Website", length=255),
                _pick("Industry", "Industry", INDUSTRIES),
                FieldDef("NumberOfEmployees", T.INT, "Employees", precision=8),
                FieldDef("AnnualRevenue", T.CURRENCY, "Annual Revenue", precision=18),
                _text("Country", "Country", 80),
                _pick("Status", "Status", LEAD_STATUSES, nillable=False,
                      default="Open - Not Contacted"),
                _pick("Rating", "Rating", ("Hot", "Warm", "Cold")),
                _flag("IsConverted", "Converted", **fixed),
                FieldDef("ConvertedDate", T.DATE, "Converted Date", **fixed),
                _ref("ConvertedAccountId", "Converted Account ID", "Account", "ConvertedAccount",
                     **fixed),
                _ref("ConvertedContactId", "Converted Contact ID", "Contact", "ConvertedContact",
                     **fixed),
                _ref("ConvertedOpportunityId", "Converted Opportunity ID", "Opportunity",
                     "ConvertedOpportunity", **fixed),
                _ref("MasterRecordId", "Master Record ID", "Lead", "MasterRecord", **fixed),
            ],
        ),
        _object(
            "Contact", "Contact", "Contacts", "003",
            [
                *_person_fields(),
                _owner(),
                _ref("AccountId", "Account ID", "Account", "Account"),
                _text("Department", "Department", 80),
                _text("MailingCountry", "Mailing Country", 80),
                _ref("MasterRecordId", "Master Record ID", "Contact", "MasterRecord", **fixed),
            ],
        ),
        _object(
            "Account", "Account", "Accounts", "001",
            [
                _owner(),
                _text("Name", "Account Name", 255, nillable=False),
                _pick("Type", "Account Type", ("Prospect", "Customer - Direct",
                      "Customer - Channel", "Channel Partner / Reseller", "Installation Partner",
                      "Technology Partner", "Other")),
                _pick("Industry", "Industry", INDUSTRIES),
                FieldDef("NumberOfEmployees", T.INT, "Employees", precision=8),
                FieldDef("AnnualRevenue", T.CURRENCY, "Annual Revenue", precision=18),
                FieldDef("Website", T.URL, "Website", length=255),
                _text("BillingCountry", "Billing Country", 80),
                FieldDef("Description", T.TEXTAREA, "Account Description", length=LONG_TEXT),
                _ref("MasterRecordId", "Master Record ID", "Account", "MasterRecord", **fixed),
            ],
        ),
        _object(
            "Opportunity", "Opportunity", "Opportunities", "006",
            [
                _owner(),
                _text("Name", "Name", 120, nillable=False),
                _ref("AccountId", "Account ID", "Account", "Account"),
                _ref("ContactId", "Contact ID", "Contact", "Contact"),
                _pick("StageName", "Stage", STAGES, nillable=False),
                FieldDef("CloseDate", T.DATE, "Close Date", nillable=False),
                FieldDef("Amount", T.CURRENCY, "Amount", precision=18, scale=2),
                _flag("IsClosed", "Closed", **fixed),
                _flag("IsWon", "Won", **fixed),
            ],
        ),
        _object(
            "OpportunityContactRole", "Opportunity Contact Role", "Opportunity Contact Role", "00K",
            [
                _ref("OpportunityId", "Opportunity ID", "Opportunity", "Opportunity",
                     nillable=False),
                _ref("ContactId", "Contact ID", "Contact", "Contact"),
                _pick("Role", "Role", CONTACT_ROLES),
                _flag("IsPrimary", "Primary"),
            ],
        ),
        _object(
            "Case", "Case", "Cases", "500",
            [
                _owner(),
                _ref("ContactId", "Contact ID", "Contact", "Contact"),
                _ref("AccountId", "Account ID", "Account", "Account"),
                _text("Subject", "Subject", 255),
                _pick("Status", "Status", CASE_STATUSES, nillable=False, default="New"),
                _pick("Priority", "Priority", CASE_PRIORITIES, default="Medium"),
                _pick("Origin", "Case Origin", CASE_ORIGINS),
                _flag("IsClosed", "Closed", **fixed),
                FieldDef("ClosedDate", T.DATETIME, "Closed Date", **fixed),
                _flag("IsEscalated", "Escalated"),
                FieldDef("Description", T.TEXTAREA, "Description", length=LONG_TEXT),
            ],
        ),
        _object(
            "Organization", "Organization", "Organizations", "00D",
            [
                _text("Name", "Name", 80, nillable=False),
                _pick("DefaultCurrencyIsoCode", "Locale Currency", settings.active_currencies),
                _text("OrganizationType", "Edition", 40, **fixed),
                _flag("IsSandbox", "Is Sandbox", **fixed),
            ],
            createable=False, deletable=False, replicateable=False,
        ),
        _object(
            "Campaign", "Campaign", "Campaigns", "701",
            [
                _owner(),
                _text("Name", "Name", 80, nillable=False),
                _pick("Type", "Type", CAMPAIGN_TYPES),
                _pick("Status", "Status", ("Planned", "In Progress", "Completed", "Aborted")),
                _flag("IsActive", "Active"),
                FieldDef("StartDate", T.DATE, "Start Date"),
            ],
        ),
        _object(
            "CampaignMember", "Campaign Member", "Campaign Members", "00v",
            [
                _ref("CampaignId", "Campaign ID", "Campaign", "Campaign", nillable=False,
                     updateable=False),
                _ref("LeadId", "Lead ID", "Lead", "Lead", updateable=False),
                _ref("ContactId", "Contact ID", "Contact", "Contact", updateable=False),
                _pick("Status", "Status", ("Sent", "Opened", "Responded")),
                _flag("HasResponded", "Responded", **fixed),
                FieldDef("FirstRespondedDate", T.DATE, "First Responded Date", **fixed),
            ],
        ),
        _object(
            "Task", "Task", "Tasks", "00T",
            [
                _owner(),
                _ref("WhoId", "Name ID", "Lead", "Who"),  # polymorphic: Lead or Contact
                _ref("WhatId", "Related To ID", "Account", "What"),
                _text("Subject", "Subject", 255),
                _pick("Status", "Status", ("Not Started", "In Progress", "Completed",
                      "Waiting on someone else", "Deferred"), nillable=False,
                      default="Not Started"),
                _pick("Priority", "Priority", ("High", "Normal", "Low"), nillable=False,
                      default="Normal"),
                FieldDef("ActivityDate", T.DATE, "Due Date Only"),
                _pick("TaskSubtype", "Task Subtype", TASK_SUBTYPES, updateable=False),
                _pick("Type", "Type", ("Call", "Email", "Meeting", "Other")),
                _pick("CallType", "Call Type", ("Internal", "Inbound", "Outbound")),
                FieldDef("CallDurationInSeconds", T.INT, "Call Duration", precision=8),
                _text("CallDisposition", "Call Result", 255),
                _flag("IsClosed", "Closed", **fixed),
                FieldDef("CompletedDateTime", T.DATETIME, "Completed Date/Time", **fixed),
                FieldDef("Description", T.TEXTAREA, "Description", length=LONG_TEXT),
            ],
        ),
        _object(
            "Event", "Event", "Events", "00U",
            [
                _owner(),
                _ref("WhoId", "Name ID", "Lead", "Who"),
                _ref("WhatId", "Related To ID", "Account", "What"),
                _text("Subject", "Subject", 255),
                FieldDef("StartDateTime", T.DATETIME, "Start Date Time"),
                FieldDef("EndDateTime", T.DATETIME, "End Date Time"),
                FieldDef("ActivityDateTime", T.DATETIME, "Due Date Time"),
                FieldDef("ActivityDate", T.DATE, "Due Date Only"),
                FieldDef("DurationInMinutes", T.INT, "Duration", precision=8),
                _pick("Type", "Type", ("Call", "Email", "Meeting", "Other")),
                _pick("EventSubtype", "Event Subtype", ("Event",), updateable=False),
                FieldDef("Description", T.TEXTAREA, "Description", length=LONG_TEXT),
            ],
        ),
        _object(
            "User", "User", "Users", "005",
            [
                _text("Username", "Username", 80, nillable=False),
                _text("FirstName", "First Name", 40),
                _text("LastName", "Last Name", 80, nillable=False),
                _text("Name", "Full Name", 121, createable=False, updateable=False),
                FieldDef("Email", T.EMAIL, "Email", length=128, nillable=False),
                _flag("IsActive", "Active"),
            ],
            createable=False, deletable=False,
        ),
        _object(
            "PermissionSet", "Permission Set", "Permission Sets", "0PS",
            [
                _text("Name", "Name", 80, nillable=False),
                _text("Label", "Label", 80, nillable=False),
                _text("Description", "Description", 255),
                _flag("IsOwnedByProfile", "Is Owned by Profile", **fixed),
            ],
        ),
        _object(
            "ObjectPermissions", "Object Permissions", "Object Permissions", "110",
            [
                _ref("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False,
                     updateable=False),
                _text("SobjectType", "Sobject Type Name", 40, nillable=False, updateable=False),
                _flag("PermissionsRead", "Read Permissions"),
                _flag("PermissionsCreate", "Create Permissions"),
                _flag("PermissionsEdit", "Edit Permissions"),
                _flag("PermissionsDelete", "Delete Permissions"),
                _flag("PermissionsViewAllRecords", "View All Records"),
                _flag("PermissionsModifyAllRecords", "Modify All Records"),
            ],
        ),
        _object(
            "FieldPermissions", "Field Permissions", "Field Permissions", "01k",
            [
                _ref("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False,
                     updateable=False),
                _text("SobjectType", "Sobject Type Name", 40, nillable=False, updateable=False),
                _text("Field", "Field Name", 255, nillable=False, updateable=False),
                _flag("PermissionsRead", "Read Access"),
                _flag("PermissionsEdit", "Edit Access"),
            ],
        ),
        _object(
            "PermissionSetAssignment", "Permission Set Assignment", "Permission Set Assignments",
            "0Pa",
            [
                _ref("AssigneeId", "Assignee ID", "User", "Assignee", nillable=False,
                     updateable=False),
                _ref("PermissionSetId", "Permission Set ID", "PermissionSet", "PermissionSet",
                     nillable=False, updateable=False),
            ],
            updateable=False,
        ),
    ]  # fmt: skip
    if settings.feedback_management:
        objects += _survey_objects()
    found = {obj.name: obj for obj in objects}
    if settings.multi_currency:
        found["Opportunity"].fields["CurrencyIsoCode"] = _pick(
            "CurrencyIsoCode",
            "Opportunity Currency",
            settings.active_currencies,
            restricted=True,
            default=settings.currency,
        )
    return found


def _survey_objects() -> list[ObjectDef]:
    """Feedback Management ("Survey", "SurveyVersion", "SurveyQuestion", "SurveyInvitation",
    "SurveyResponse", "SurveyQuestionResponse", Object Reference): responses and their answers
    are made by the survey runtime, never through the API (neither createable nor updateable).
    Key prefixes other than Survey's 0Kd are the sandbox's."""
    fixed: dict[str, Any] = {"createable": False, "updateable": False}
    read_only: dict[str, Any] = {"createable": False, "updateable": False, "deletable": False}
    return [
        _object(
            "Survey", "Survey", "Surveys", "0Kd",
            [
                _owner(),
                _text("Name", "Survey Name", 80, nillable=False),
                _text("DeveloperName", "Survey API Name", 80, nillable=False),
            ],
        ),
        _object(
            "SurveyVersion", "Survey Version", "Survey Versions", "0Kv",
            [
                _ref("SurveyId", "Survey ID", "Survey", "Survey", nillable=False, **fixed),
                _text("Name", "Version Name", 80, nillable=False, **fixed),
                FieldDef("VersionNumber", T.INT, "Version Number", precision=9, **fixed),
            ],
            **read_only,
        ),
        _object(
            "SurveyQuestion", "Survey Question", "Survey Questions", "0Kq",
            [
                _ref("SurveyVersionId", "Survey Version ID", "SurveyVersion", "SurveyVersion",
                     nillable=False, **fixed),
                _text("DeveloperName", "API Name", 80, nillable=False, **fixed),
                _text("Name", "Question", 250, nillable=False, **fixed),
                FieldDef("QuestionName", T.TEXTAREA, "Question Label", length=LONG_TEXT,
                         **fixed),
                _pick("QuestionType", "Question Type", QUESTION_TYPES, restricted=True,
                      nillable=False, **fixed),
                _flag("IsDeprecated", "Deprecated", **fixed),
            ],
            **read_only,
        ),
        _object(
            "SurveyInvitation", "Survey Invitation", "Survey Invitations", "0Ki",
            [
                _owner(),
                _text("Name", "Invitation Name", 80, nillable=False),
                _ref("SurveyId", "Survey ID", "Survey", "Survey", nillable=False),
                # Polymorphic: a Contact, a Lead or a User (its id's prefix says which).
                _ref("ParticipantId", "Participant ID", "Contact", "Participant"),
                _ref("ContactId", "Contact ID", "Contact", "Contact", **fixed),
                _pick("ResponseStatus", "Response Status", ("Completed", "Started")),
            ],
        ),
        _object(
            "SurveyResponse", "Survey Response", "Survey Responses", "0Kr",
            [
                _ref("SurveyId", "Survey ID", "Survey", "Survey", nillable=False, **fixed),
                _ref("SurveyVersionId", "Survey Version ID", "SurveyVersion", "SurveyVersion",
                     nillable=False, **fixed),
                _ref("InvitationId", "Invitation ID", "SurveyInvitation", "Invitation", **fixed),
                _ref("SubmitterId", "Submitter ID", "Contact", "Submitter", **fixed),
                _text("Name", "Response Name", 80, **fixed),
                _pick("Status", "Status", ("Completed", "Started"), **fixed),
                FieldDef("CompletionDateTime", T.DATETIME, "Completion Date", **fixed),
            ],
            createable=False, updateable=False,
        ),
        _object(
            "SurveyQuestionResponse", "Survey Question Response", "Survey Question Responses",
            "0Kx",
            [
                _ref("ResponseId", "Response ID", "SurveyResponse", "Response", nillable=False,
                     **fixed),
                _ref("QuestionId", "Question ID", "SurveyQuestion", "Question", nillable=False,
                     **fixed),
                _ref("InvitationId", "Invitation ID", "SurveyInvitation", "Invitation", **fixed),
                _ref("SurveyVersionId", "Survey Version ID", "SurveyVersion", "SurveyVersion",
                     nillable=False, **fixed),
                _pick("Datatype", "Data Type", RESPONSE_DATATYPES, restricted=True, **fixed),
                # NPS, Rating, Score and Slider answers. The Object Reference has no
                # ResponseValue here (that name is the Connect API's, in request bodies).
                FieldDef("NumberValue", T.INT, "Number Value", precision=9, **fixed),
                FieldDef("ChoiceValue", T.TEXTAREA, "Choice Value", length=LONG_TEXT, **fixed),
                FieldDef("DateValue", T.DATE, "Date Value", **fixed),
                FieldDef("DateTimeValue", T.DATETIME, "Date Time Value", **fixed),
                _text("ResponseShortText", "Response Short Text", 255, **fixed),
                FieldDef("IsTrueOrFalse", T.BOOLEAN, "True or False", nillable=False,
                         default=False, **fixed),
            ],
            **read_only,
        ),
    ]  # fmt: skip


def with_field(found: ObjectDef, definition: FieldDef) -> None:
    found.fields[definition.name] = replace(definition)
