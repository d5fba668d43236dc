"""Salesforce Outbound Messages, received: the SOAP `notifications` body parsed into change
events, the acknowledgement Salesforce waits for, and the secret path token that stands in
for a signature (Outbound Messages are not signed).

What Salesforce sends ("Understanding the Outbound Messaging WSDL", "Understanding
Notifications", SOAP API Developer Guide): a SOAP 1.1 envelope whose Body holds one
`notifications` element (namespace `http://soap.sforce.com/2005/09/outbound`) with, in
order, `OrganizationId`, `ActionId`, `SessionId` (nil unless the message is set to send one),
`EnterpriseUrl`, `PartnerUrl` and 1 to 100 `Notification`s, each an `Id` (the notification's
own, stable across Salesforce's retries) and an `sObject` whose `xsi:type` names the object
(`sf:Lead`) and whose children (namespace `urn:sobject.enterprise.soap.sforce.com`) are
`sf:Id` and the fields the message was set up with (fields without a value are left out).
Salesforce retries until it gets `<Ack>true</Ack>` in a `notificationsResponse`, for up to 24
hours, so a notification can arrive more than once: its `Id` is the deduplication key.

Parsing uses `defusedxml`: a document type declaration (and so any entity, internal or
external) is refused, as SOAP forbids one; the `SessionId` is taken out of the tree before
anything else is read and is never returned. Lead and Contact notifications become events
about the person; Task and Event ones (an org may send those too) carry the `WhoId` they name,
if the message carries it, so that the person can be rescored; Case, Opportunity,
OpportunityContactRole, SurveyResponse and SurveyQuestionResponse ones are events about that
record, whose people the connector finds when it re-reads it (related.py); other objects are
left out (counted in `ignored`). Every refusal is a `WebhookPayloadError` naming the problem
(`UnsafeXml` for a declaration); a wrong organisation is `OrganizationMismatch`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

# Types only: every document is parsed by defusedxml below.
from xml.etree.ElementTree import Element, ParseError  # nosec B405

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.ElementTree import fromstring

from connectors.base import ChangeEvent, ChangeKind
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.salesforce.related import NAMED

SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
CONTENT_TYPE = "text/xml; charset=utf-8"  # of the message, and of the acknowledgement
PERSON_TYPES = frozenset({"Lead", "Contact"})
ACTIVITY_TYPES = frozenset({"Task", "Event"})
# Records about people: the worker re-reads the people they name (related.py) and so their
# tickets, survey answers and outcomes.
RELATED_TYPES = frozenset(NAMED)
TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128

_HEADER_ELEMENTS = ("OrganizationId", "ActionId", "SessionId", "EnterpriseUrl", "PartnerUrl")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)


class UnsafeXml(WebhookPayloadError):
    """The body declares a DTD, entities or external references (refused, never expanded)."""


class OrganizationMismatch(SignatureError):
    """A valid path token, but the message comes from another org than the connection's."""

    def __init__(self, expected: str, received: str) -> None:
        super().__init__(f"the message is from organization {received}, not {expected}")
        self.expected = expected
        self.received = received


@dataclass(frozen=True, slots=True)
class Notifications:
    """One `notifications` message, without its session id."""

    organization_id: str
    action_id: str
    enterprise_url: str | None
    partner_url: str | None
    events: tuple[ChangeEvent, ...]
    session_id_sent: bool = False  # the message carried a session id (dropped, never kept)
    ignored: Mapping[str, int] = field(default_factory=dict)  # sObject type -> left out
    unknown_elements: int = 0  # elements Salesforce does not document, ignored


def ack_body() -> bytes:
    """The acknowledgement Salesforce needs before it stops retrying (send as CONTENT_TYPE)."""
    return _ACK


def new_path_token() -> str:
    """A fresh per-connection secret for the receiver's path (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, presented: str) -> bool:
    """Whether a presented path token is the connection's, compared in constant time; an
    empty expected token never matches."""
    if not expected:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def same_organization(expected: str, received: str) -> bool:
    """Org ids compared on their case-sensitive 15-character form (18 adds a checksum)."""
    return len(expected) >= 15 and expected[:15] == received[:15]


class OutboundMessages:
    """The `WebhookSource` of one connection: its path token and its org's id."""

    def __init__(
        self,
        organization_id: str,
        path_token: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.organization_id = organization_id
        self._token = path_token
        self._now = now

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """The token is the URL path's last segment (`.../{connection}/{token}`)."""
        segment = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
        if not token_matches(self._token, segment):
            raise SignatureError("the path token is not this connection's")

    def parse(self, body: bytes) -> Sequence[ChangeEvent]:
        return self.parse_notifications(body).events

    def parse_notifications(self, body: bytes) -> Notifications:
        message = parse_notifications(body, received_at=self._now())
        if not same_organization(self.organization_id, message.organization_id):
            raise OrganizationMismatch(self.organization_id, message.organization_id)
        return message


def parse(body: bytes) -> list[ChangeEvent]:
    return list(parse_notifications(body).events)


def parse_notifications(body: bytes, *, received_at: datetime | None = None) -> Notifications:
    """The message's events; WebhookPayloadError naming what is wrong with it."""
    notifications = _notifications_element(_document(body))
    session = notifications.find(f"{{{OUTBOUND}}}SessionId")
    session_sent = False
    if session is not None:
        session_sent = bool((session.text or "").strip())
        session.text = None  # dropped before anything is read or kept
        notifications.remove(session)
    organization_id = _required_id(notifications, "OrganizationId")
    action_id = _required_id(notifications, "ActionId")
    unknown = 0
    items: list[Element] = []
    for child in notifications:
        if child.tag == f"{{{OUTBOUND}}}Notification":
            items.append(child)
        elif child.tag not in {f"{{{OUTBOUND}}}{name}" for name in _HEADER_ELEMENTS}:
            unknown += 1
    if not items:
        raise WebhookPayloadError("notifications holds no Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise WebhookPayloadError(
            f"notifications holds {len(items)} Notification elements, "
            f"more than Salesforce's {MAX_NOTIFICATIONS}"
        )
    received = received_at or datetime.now(UTC)
    events: list[ChangeEvent] = []
    ignored: Counter[str] = Counter()
    for number, item in enumerate(items, start=1):
        parsed = _notification(number, item, organization_id, action_id, received)
        unknown += parsed.unknown
        if parsed.event is None:
            ignored[parsed.sobject] += 1
        else:
            events.append(parsed.event)
    return Notifications(
        organization_id=organization_id,
        action_id=action_id,
        enterprise_url=_text(notifications, "EnterpriseUrl"),
        partner_url=_text(notifications, "PartnerUrl"),
        events=tuple(events),
        session_id_sent=session_sent,
        ignored=dict(ignored),
        unknown_elements=unknown,
    )


# --- the document ---------------------------------------------------------------------------


def _document(body: bytes) -> Element:
    if not body.strip():
        raise WebhookPayloadError("the body is empty, not a SOAP message")
    try:
        return fromstring(body, forbid_dtd=True)
    except DTDForbidden:
        raise UnsafeXml(_what_the_dtd_does(body)) from None
    except DefusedXmlException as exc:
        raise UnsafeXml(f"the body is refused as unsafe XML: {exc}") from None
    except ParseError as exc:
        raise WebhookPayloadError(f"the body is not well-formed XML: {exc}") from None


def _what_the_dtd_does(body: bytes) -> str:
    """A refused DTD, named more precisely by a second (still defused) look at it."""
    try:
        fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            return (
                f"external entity {exc.name!r} ({exc.sysid or exc.pubid}) refused: "
                "external entities are never resolved"
            )
        return f"entity declaration {exc.name!r} refused: entity expansion is not allowed"
    except ExternalReferenceForbidden as exc:
        return f"external reference ({exc.sysid or exc.pubid}) refused: never resolved"
    except (DefusedXmlException, ParseError):
        pass
    return "a document type declaration is not allowed in a SOAP message"


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _notifications_element(root: Element) -> Element:
    namespace, name = _local(root.tag)
    if name != "Envelope":
        raise WebhookPayloadError(f"the root element is {name!r}, not a SOAP Envelope")
    if namespace != SOAP_ENVELOPE:
        raise WebhookPayloadError(
            f"the Envelope is in namespace {namespace or 'none'!r}, not SOAP 1.1's {SOAP_ENVELOPE}"
        )
    body = root.find(f"{{{SOAP_ENVELOPE}}}Body")
    if body is None:
        raise WebhookPayloadError("the SOAP Envelope has no Body")
    children = list(body)
    if len(children) != 1:
        raise WebhookPayloadError(
            f"the SOAP Body holds {len(children)} elements, not one notifications"
        )
    namespace, name = _local(children[0].tag)
    if name != "notifications":
        raise WebhookPayloadError(f"the SOAP Body holds {name!r}, not notifications")
    if namespace != OUTBOUND:
        raise WebhookPayloadError(
            f"notifications is in namespace {namespace or 'none'!r}, not {OUTBOUND}"
        )
    return children[0]


def _text(parent: Element, name: str, namespace: str = OUTBOUND) -> str | None:
    found = parent.find(f"{{{namespace}}}{name}")
    if found is None:
        return None
    text = (found.text or "").strip()
    return text or None


def _required_id(parent: Element, name: str, where: str = "notifications") -> str:
    value = _text(parent, name)
    if value is None:
        raise WebhookPayloadError(f"{where} has no {name}")
    if not _ID.match(value):
        raise WebhookPayloadError(f"{where}: {name} {value!r} is not a Salesforce id")
    return value


# --- one notification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    sobject: str
    event: ChangeEvent | None
    unknown: int


def _notification(
    number: int, item: Element, organization_id: str, action_id: str, received: datetime
) -> _Parsed:
    notification_id = _required_id(item, "Id", f"Notification {number}")
    where = f"Notification {notification_id}"
    sobject = item.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise WebhookPayloadError(f"{where} has no sObject")
    declared = (sobject.get(f"{{{XSI}}}type") or "").strip()
    if not declared:
        raise WebhookPayloadError(f"{where}: the sObject has no xsi:type")
    sobject_type = declared.rpartition(":")[2]
    fields: dict[str, str | None] = {}
    unknown = sum(1 for child in item if child.tag not in _NOTIFICATION_CHILDREN)
    for child in sobject:
        namespace, name = _local(child.tag)
        if namespace != SOBJECT:
            unknown += 1
            continue
        nil = (child.get(f"{{{XSI}}}nil") or "").strip() in ("true", "1")
        fields[name] = None if nil else (child.text or "")
    record_id = (fields.pop("Id", None) or "").strip()
    if not record_id:
        raise WebhookPayloadError(f"{where}: the sObject has no sf:Id")
    if not _ID.match(record_id):
        raise WebhookPayloadError(f"{where}: sf:Id {record_id!r} is not a Salesforce id")
    if sobject_type not in PERSON_TYPES | ACTIVITY_TYPES | RELATED_TYPES:
        return _Parsed(sobject_type, None, unknown)
    raw: dict[str, Any] = {
        "sobject": sobject_type,
        "notification_id": notification_id,
        "action_id": action_id,
        "fields": fields,
    }
    if sobject_type in ACTIVITY_TYPES:
        raw["who_id"] = fields.get("WhoId") or None
    created = _datetime(fields.get("CreatedDate"))
    modified = _datetime(fields.get("LastModifiedDate"))
    kind = ChangeKind.CREATED if created and created == modified else ChangeKind.PROPERTY_CHANGED
    occurred = modified or _datetime(fields.get("SystemModstamp")) or created or received
    event = ChangeEvent(
        # Notification ids are an org's own: two orgs' may meet in one inbox.
        dedup_key=f"{organization_id}:{notification_id}",
        account_id=organization_id,
        kind=kind,
        crm_id=record_id,
        occurred_at=occurred,
        raw=raw,
    )
    return _Parsed(sobject_type, event, unknown)


_NOTIFICATION_CHILDREN = frozenset({f"{{{OUTBOUND}}}Id", f"{{{OUTBOUND}}}sObject"})


def _datetime(text: str | None) -> datetime | None:
    """An xsd:dateTime as Salesforce writes it (2024-05-01T12:00:00.000Z); None otherwise."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None
