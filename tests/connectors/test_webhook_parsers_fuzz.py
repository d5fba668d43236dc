"""Every webhook and Outbound Message parser, called directly with hypothesis-made bodies: each
body is either parsed into events fit for the inbox or refused with `WebhookPayloadError` (or,
for a message of another org, `OrganizationMismatch`), never another exception.

The HTTP routes over these parsers are fuzzed in tests/api/test_no_500.py. Derandomized and
bounded, so a run is the same run every time and takes seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.inbox import event_document
from connectors.base import ChangeEvent
from connectors.errors import WebhookPayloadError
from connectors.hubspot.webhook import parse_delivery
from connectors.salesforce.outbound import (
    OUTBOUND,
    SOAP_ENVELOPE,
    SOBJECT,
    XSI,
    OrganizationMismatch,
    OutboundMessages,
    parse_notifications,
)

T = TypeVar("T")
EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "²", "١٢", "x" * 300, "<", "&amp;"]),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**30, 946_684_800_000, 4_102_444_800_000]),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=10,
)


def _corrupted(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events, most left so (the parse must succeed too), some with one key made
    anything at all or dropped."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        event = draw(valid)
        what = draw(st.sampled_from(["keep", "keep", "keep", "replace", "drop"]))
        if what != "keep":
            key = draw(st.sampled_from(sorted(event)))
            if what == "drop":
                del event[key]
            else:
                event[key] = draw(json_values)
        return event

    return build()


def _fit_for_the_inbox(events: list[ChangeEvent]) -> None:
    """What the receiver stores of each event: plain JSON, with no NaN and no infinity."""
    for event in events:
        assert event.dedup_key
        assert event.crm_id
        assert event.account_id
        assert event.occurred_at.tzinfo is not None
        json.dumps(event_document(event), allow_nan=False)


def _attempt(parse: Callable[[bytes], T], body: bytes) -> tuple[T | None, Exception | None]:
    """What the parser returned, or the exception it raised (whichever it was)."""
    try:
        return parse(body), None
    except Exception as exc:  # every kind is caught here, to be checked by the caller
        return None, exc


# --- HubSpot ------------------------------------------------------------------------------

hubspot_events = st.fixed_dictionaries(
    {
        "eventId": (st.integers(min_value=0, max_value=2**63 - 1)),
        "subscriptionId": (st.integers(min_value=0, max_value=10**6)),
        "portalId": (st.integers(min_value=1, max_value=2**63 - 1)),
        "occurredAt": (st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)),
        "subscriptionType": (
            st.sampled_from(
                [
                    "contact.creation",
                    "contact.propertyChange",
                    "contact.deletion",
                    "contact.restore",
                    "contact.merge",
                    "contact.privacyDeletion",
                    "contact.associationChange",
                    "deal.creation",
                ]
            )
        ),
        "objectId": st.integers(min_value=0, max_value=2**63 - 1),
    },
    optional={
        "propertyName": (hostile_text),
        "propertyValue": (hostile_text),
        "mergedObjectIds": (st.lists(st.integers(min_value=0, max_value=10**9))),
        "newObjectId": (st.integers(min_value=0, max_value=10**9)),
        "primaryObjectId": (st.integers(min_value=0, max_value=10**9)),
        "fromObjectId": (st.integers(min_value=0, max_value=10**9)),
        "attemptNumber": (st.integers(min_value=0, max_value=10)),
        "appId": (st.integers(min_value=0, max_value=10**6)),
        "extra": json_values,
    },
)
hubspot_bodies = st.one_of(
    st.lists(_corrupted(hubspot_events), max_size=4).map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=80),
    st.integers(min_value=1, max_value=2000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b"",
            b"[",
            b'[{"eventId": NaN}]',
            b"[1e999]",
            b"[" + b"9" * 5000 + b"]",
            b'["\\u0000", "\\ud800"]',
            b"\xef\xbb\xbf[]",
            "[]".encode("utf-16"),
        ]
    ),
)


@EXAMPLES
@given(body=hubspot_bodies)
def test_a_hubspot_delivery_is_parsed_or_refused_naming_the_problem(body: bytes) -> None:
    events, refusal = _attempt(parse_delivery, body)
    if refusal is not None:
        assert isinstance(refusal, WebhookPayloadError), refusal
        assert str(refusal)
        return
    assert events is not None
    _fit_for_the_inbox(events)
    for event in events:
        assert event.account_id.isdigit()
        # A contact's id, or the record a deal, ticket or object event names ("deals:7").
        kind, _, number = event.crm_id.rpartition(":")
        assert number.isdigit()
        assert kind in ("", "deals", "tickets", "feedback_submissions"), event.crm_id
        assert (
            datetime(2000, 1, 1, tzinfo=UTC) <= event.occurred_at < datetime(2100, 1, 1, tzinfo=UTC)
        )
        assert len(event.dedup_key) == 64


# --- Salesforce Outbound Messages ---------------------------------------------------------

ORG = "00DR00000001fWVMAY"


def _mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` eight times in ten: a message must get past its first element to be fuzzed."""
    return st.integers(0, 9).flatmap(lambda n: valid if n < 8 else other)


usually = _mostly(st.just(True), st.just(False))
ids = _mostly(
    st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=15, max_size=15
    )
    | st.sampled_from(["00QR0000001cA9aMAE", "003R000000abcde", "04lR0000000CcIFIA0"]),
    st.text(st.characters(min_codepoint=48, max_codepoint=122), max_size=20) | hostile_text,
)
dates = _mostly(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
    | st.sampled_from(["2024-10-02T14:05:00.000Z", "2024-10-02T14:05:00"]),
    hostile_text,
)


def _xml_text(value: str) -> str:
    """Text as it may appear in an XML document (XML 1.0 has no NUL, no lone surrogate)."""
    cleaned = "".join(
        c
        for c in value
        if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd") or c > "\uffff"
    )
    return escape(cleaned)


@st.composite
def notification(draw: st.DrawFn) -> str:
    sobject = draw(
        st.sampled_from(["Lead", "Contact", "Lead", "Task", "Event", "Account", "", "sf:x:y"])
    )
    fields = draw(
        st.dictionaries(
            st.sampled_from(["CreatedDate", "LastModifiedDate", "SystemModstamp", "WhoId"]),
            st.one_of(ids, dates),
            max_size=4,
        )
    )
    if draw(usually):
        fields = {"Id": draw(ids), **fields}
    children = "".join(
        f'<sf:{name} xsi:nil="true"/>'
        if draw(st.booleans()) and name != "Id"
        else f"<sf:{name}>{_xml_text(value)}</sf:{name}>"
        for name, value in fields.items()
    )
    if draw(st.booleans()):
        children += "<other:Thing xmlns:other='urn:x'>1</other:Thing>"
    kind = f" xsi:type={quoteattr('sf:' + sobject)}" if sobject else ""
    parts = []
    if draw(usually):
        parts.append(f"<Id>{_xml_text(draw(ids))}</Id>")
    if draw(usually):
        parts.append(f"<sObject{kind} xmlns:sf='{SOBJECT}'>{children}</sObject>")
    if not draw(usually):
        parts.append("<Unexpected/>")
    return f"<Notification>{''.join(parts)}</Notification>"


@st.composite
def outbound_messages(draw: st.DrawFn) -> bytes:
    header = [
        f"<OrganizationId>{_xml_text(draw(st.one_of(st.just(ORG), ids)))}</OrganizationId>",
        f"<ActionId>{_xml_text(draw(ids))}</ActionId>",
        draw(
            st.sampled_from(
                ['<SessionId xsi:nil="true"/>', "<SessionId>00D!SECRETSESSION</SessionId>", ""]
            )
        ),
        "<EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/61.0</EnterpriseUrl>",
    ]
    items = draw(st.lists(notification(), min_size=1 if draw(usually) else 0, max_size=4))
    inner = "".join(draw(st.permutations(header)) if draw(st.booleans()) else header)
    inner += "".join(items)
    namespace = draw(_mostly(st.just(OUTBOUND), st.sampled_from(["urn:wrong", ""])))
    body_children = draw(_mostly(st.just(1), st.sampled_from([0, 2])))
    notifications = f"<notifications xmlns={quoteattr(namespace)}>{inner}</notifications>"
    envelope_ns = draw(_mostly(st.just(SOAP_ENVELOPE), st.just("urn:not-soap")))
    document = (
        f"<soapenv:Envelope xmlns:soapenv={quoteattr(envelope_ns)} xmlns:xsi='{XSI}'>"
        f"<soapenv:Body>{notifications * body_children}</soapenv:Body></soapenv:Envelope>"
    )
    text = (
        document
        if draw(usually)
        else draw(
            st.sampled_from(
                [
                    '<?xml version="1.0" encoding="UTF-8"?>' + document,
                    document[: len(document) // 2],  # cut short
                    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]>' + document,
                    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                    + document.replace("<soapenv:Body>", "<soapenv:Body>&e;"),
                ]
            )
        )
    )
    if draw(usually):
        return text.encode()
    encoding = draw(st.sampled_from(["utf-16", "latin-1"]))
    return text.encode(encoding, "replace")


salesforce_bodies = st.one_of(
    outbound_messages(),
    outbound_messages(),
    st.binary(max_size=80),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"<a>" * n + b"</a>" * n),
    st.sampled_from([b"", b"   ", b"<", b"\x00", b"<?xml version='1.0'?>", b"\xff\xfe<"]),
)


@EXAMPLES
@given(body=salesforce_bodies)
def test_an_outbound_message_is_parsed_or_refused_naming_the_problem(body: bytes) -> None:
    message, refusal = _attempt(parse_notifications, body)
    if refusal is not None:
        assert isinstance(refusal, WebhookPayloadError), refusal
        assert str(refusal)
        return
    assert message is not None
    assert 1 <= len(message.events) + sum(message.ignored.values()) <= 100
    _fit_for_the_inbox(list(message.events))
    stored = json.dumps([event_document(e) for e in message.events])
    assert "SECRETSESSION" not in stored
    assert message.organization_id
    assert message.action_id


@EXAMPLES
@given(body=salesforce_bodies)
def test_a_connections_source_parses_its_orgs_messages_and_refuses_anothers(body: bytes) -> None:
    source = OutboundMessages(ORG, "token", now=lambda: datetime.fromtimestamp(time.time(), UTC))
    events, refusal = _attempt(source.parse, body)
    if isinstance(refusal, OrganizationMismatch):
        assert refusal.expected == ORG
        assert refusal.received[:15] != ORG[:15]
        return
    if refusal is not None:  # any other SignatureError would be answered as a bad token
        assert isinstance(refusal, WebhookPayloadError), refusal
        return
    assert events is not None
    assert {event.account_id[:15] for event in events} <= {ORG[:15]}
