"""Outbound Messages as an org defines and writes them: the message set up for an object, the
SOAP `notifications` body, and what counts as the endpoint's acknowledgement.

One message per object, as Setup makes them ("Define Outbound Messages", Salesforce Help): an
endpoint URL, the fields it carries, whether it sends a session id (of the user it is sent
as, the integration user), and its `ActionId`. The record-triggered Flow that calls it ("A
record is created or updated") is modelled by `skip_integration_user`: the condition that
leaves out the integration user's own changes (on by default), so Glengarry's write-backs
send nothing ("Setting Up Outbound Messaging", SOAP API Developer Guide, on circular changes).

The body follows "Understanding the Outbound Messaging WSDL" (SOAP API Developer Guide): a
SOAP 1.1 envelope, `notifications` in `http://soap.sforce.com/2005/09/outbound` holding
`OrganizationId`, `ActionId`, `SessionId` (nil unless sent), `EnterpriseUrl`, `PartnerUrl`,
then 1 to 100 `Notification`s, each its own `Id` and an `sObject xsi:type="sf:Lead"` whose
`sf:` children (`urn:sobject.enterprise.soap.sforce.com`) are `sf:Id` and the message's
fields in the WSDL's (alphabetical) order. A field without a value is left out; a record
deleted since the notification was queued is sent with its `sf:Id` only ("Considerations for
Outbound Messages", Salesforce Help: the notification then "contains no data").

Only an HTTP 2xx whose body is a SOAP envelope holding `notificationsResponse/Ack` true is an
acknowledgement: a bare `<Ack>`, another 2xx body or a 5xx is a failure, retried.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError  # its error type; defusedxml parses  # nosec B405
from xml.sax.saxutils import escape, quoteattr  # escapes what it writes  # nosec B406

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.salesforce.sandbox.catalog import API_VERSION
from connectors.salesforce.sandbox.schema import ObjectDef

SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100
CONTENT_TYPE = "text/xml; charset=utf-8"
SOAP_ACTION = '""'  # the WSDL's binding: soapAction=""
# What a message may be set up on here (an object the org lacks, such as SurveyResponse without
# Feedback Management, is refused as Setup would not list it).
OBJECTS = (
    "Lead", "Contact", "Task", "Event", "Case", "Opportunity", "OpportunityContactRole",
    "SurveyResponse", "SurveyQuestionResponse",
)  # fmt: skip
DEFAULT_OBJECTS = ("Lead", "Contact")  # the Flows Glengarry's set-up asks for first
DEFAULT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Lead": (
        "Company", "CreatedDate", "Email", "FirstName", "Industry", "IsConverted",
        "LastModifiedDate", "LastName", "NumberOfEmployees", "Status", "Title",
    ),
    "Contact": (
        "AccountId", "CreatedDate", "Email", "FirstName", "LastModifiedDate", "LastName",
        "MailingCountry", "Title",
    ),
    "Task": ("CreatedDate", "LastModifiedDate", "Status", "Subject", "TaskSubtype", "WhoId"),
    "Event": ("CreatedDate", "LastModifiedDate", "StartDateTime", "Subject", "WhoId"),
    "Case": ("ContactId", "CreatedDate", "IsClosed", "LastModifiedDate", "Priority", "Status"),
    "Opportunity": ("CreatedDate", "IsClosed", "IsWon", "LastModifiedDate", "StageName"),
    "OpportunityContactRole": ("ContactId", "CreatedDate", "LastModifiedDate", "OpportunityId"),
    "SurveyResponse": ("CreatedDate", "InvitationId", "LastModifiedDate", "Status"),
    "SurveyQuestionResponse": ("CreatedDate", "InvitationId", "LastModifiedDate", "QuestionId"),
}  # fmt: skip
# Characters XML 1.0 cannot carry at all (what Salesforce would not have stored either).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    sobject: str
    action_id: str
    url: str
    fields: tuple[str, ...]  # sorted, as the WSDL lists them
    send_session_id: bool = False
    skip_integration_user: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "action_id": self.action_id,
            "url": self.url,
            "fields": list(self.fields),
            "send_session_id": self.send_session_id,
            "skip_integration_user": self.skip_integration_user,
        }


@dataclass(frozen=True, slots=True)
class Item:
    """One notification as sent: its id, the record's, and the record's values now (None: the
    record is gone)."""

    notification_id: str
    record_id: str
    values: Mapping[str, Any] | None


def check_url(url: object) -> str:
    """An endpoint URL as Setup accepts it (http or https, with a host); ValueError otherwise."""
    if not isinstance(url, str) or not url:
        raise ValueError("the endpoint URL must be a non-empty string")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        raise ValueError(f"the endpoint URL's port is not a port: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the endpoint URL must be http(s)://host/..., not {url!r}")
    return url


def check_fields(obj: ObjectDef, names: Iterable[object]) -> tuple[str, ...]:
    """The fields a message on `obj` may carry, canonically named and sorted (Id is always
    sent); ValueError naming a field the object does not have."""
    chosen: set[str] = set()
    for name in names:
        definition = obj.field(name) if isinstance(name, str) else None
        if definition is None:
            raise ValueError(f"{obj.name} has no field {name!r}")
        if definition.name != "Id":
            chosen.add(definition.name)
    return tuple(sorted(chosen))


def soap_value(value: Any) -> str:
    """A stored value as the enterprise WSDL's XML Schema types write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def render(
    message: OutboundMessage,
    items: Sequence[Item],
    *,
    organization_id: str,
    instance_url: str,
    session_id: str | None,
) -> bytes:
    """The SOAP body of one delivery, with the namespace declarations Salesforce writes."""
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise ValueError(f"a message holds 1 to {MAX_NOTIFICATIONS} notifications")
    org15 = organization_id[:15]
    session = (
        f"<SessionId>{escape(session_id)}</SessionId>"
        if session_id is not None
        else '<SessionId xsi:nil="true"/>'
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE}"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        " <soapenv:Body>",
        f'  <notifications xmlns="{OUTBOUND}">',
        f"   <OrganizationId>{organization_id}</OrganizationId>",
        f"   <ActionId>{message.action_id}</ActionId>",
        f"   {session}",
        f"   <EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{API_VERSION}/{org15}"
        "</EnterpriseUrl>",
        f"   <PartnerUrl>{escape(instance_url)}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>",
    ]
    for item in items:
        parts += [
            "   <Notification>",
            f"    <Id>{item.notification_id}</Id>",
            f'    <sObject xsi:type={quoteattr("sf:" + message.sobject)} xmlns:sf="{SOBJECT}">',
            f"     <sf:Id>{item.record_id}</sf:Id>",
        ]
        values = item.values or {}
        for name in message.fields if item.values is not None else ():
            value = values.get(name)
            if value is not None:
                parts.append(f"     <sf:{name}>{escape(soap_value(value))}</sf:{name}>")
        parts += ["    </sObject>", "   </Notification>"]
    parts += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>", ""]
    return "\n".join(parts).encode()


def refusal(status: int, body: bytes) -> str | None:
    """None when the answer acknowledges the message; otherwise why it does not."""
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException):
        return "the answer is not well-formed XML"
    if root.tag != f"{{{SOAP_ENVELOPE}}}Envelope":
        return f"the answer's root is {root.tag}, not a SOAP 1.1 Envelope"
    ack = root.find(
        f"{{{SOAP_ENVELOPE}}}Body/{{{OUTBOUND}}}notificationsResponse/{{{OUTBOUND}}}Ack"
    )
    if ack is None:
        return "the SOAP answer holds no notificationsResponse/Ack"
    text = (ack.text or "").strip()
    if text not in ("true", "1"):  # xsd:boolean's two spellings of true
        return f"the Ack is {text!r}, not true"
    return None
