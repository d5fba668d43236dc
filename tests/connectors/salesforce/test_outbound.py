"""The Outbound Message parser: the documented sample read verbatim, every refusal the issue
lists, the session id never kept, the acknowledgement, and the path token."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import ChangeEvent, ChangeKind
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.salesforce.outbound import (
    MAX_NOTIFICATIONS,
    OrganizationMismatch,
    OutboundMessages,
    UnsafeXml,
    ack_body,
    new_path_token,
    parse,
    parse_notifications,
    token_matches,
)
from tests.fixtures.salesforce.outbound_wsdl import SAMPLE, validate

ORG = "00DR00000001fWVMAY"
RECEIVED = datetime(2024, 10, 3, 9, 0, tzinfo=UTC)


def envelope(notifications: str, *, namespace: str = "http://soap.sforce.com/2005/09/outbound",
             session: str = '<SessionId xsi:nil="true"/>') -> bytes:  # fmt: skip
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="{namespace}">
   <OrganizationId>{ORG}</OrganizationId>
   <ActionId>04kR00000004CCXIA2</ActionId>
   {session}
   <EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/62.0/00DR00000001fWV</EnterpriseUrl>
   <PartnerUrl>https://x.my.salesforce.com/services/Soap/u/62.0/00DR00000001fWV</PartnerUrl>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def notification(number: int = 1, sobject: str = "Lead", fields: str = "", *,
                 record: str = "00QR000000A1b2cMAB") -> str:  # fmt: skip
    return f"""<Notification><Id>04lR0000000Cc{number:03d}A0</Id>
     <sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
      <sf:Id>{record}</sf:Id>{fields}</sObject></Notification>"""


def test_the_documented_sample_is_parsed_verbatim() -> None:
    body = SAMPLE.read_bytes()
    validate(body, "Lead")  # the fixture is what the WSDL describes
    message = parse_notifications(body, received_at=RECEIVED)
    assert (message.organization_id, message.action_id) == (ORG, "04kR00000004CCXIA2")
    assert message.enterprise_url == (
        "https://glengarry-dev-ed.my.salesforce.com/services/Soap/c/62.0/00DR00000001fWV"
    )
    assert message.partner_url == (
        "https://glengarry-dev-ed.my.salesforce.com/services/Soap/u/62.0/00DR00000001fWV"
    )
    assert not message.session_id_sent
    assert (message.ignored, message.unknown_elements) == ({}, 0)
    first = {
        "Company": "Acme Widgets", "CreatedDate": "2024-10-01T08:15:27.000Z",
        "Email": "jane.doe@acme-widgets.example", "FirstName": "Jane",
        "Industry": "Manufacturing", "IsConverted": "false",
        "LastModifiedDate": "2024-10-02T14:03:11.000Z", "LastName": "Doe",
        "NumberOfEmployees": "250", "Status": "Working - Contacted", "Title": "VP Sales",
    }  # fmt: skip
    second = {
        "Company": "Beta Logistics", "CreatedDate": "2024-10-02T14:05:00.000Z",
        "IsConverted": "false", "LastModifiedDate": "2024-10-02T14:05:00.000Z",
        "LastName": "Roe", "Status": "Open - Not Contacted",
    }  # fmt: skip
    assert message.events == (
        ChangeEvent(
            dedup_key=f"{ORG}:04lR0000000CcIFIA0",
            account_id=ORG,
            kind=ChangeKind.PROPERTY_CHANGED,
            crm_id="00QR000000A1b2cMAB",
            occurred_at=datetime(2024, 10, 2, 14, 3, 11, tzinfo=UTC),
            raw={
                "sobject": "Lead",
                "notification_id": "04lR0000000CcIFIA0",
                "action_id": "04kR00000004CCXIA2",
                "fields": first,
            },
        ),
        ChangeEvent(
            dedup_key=f"{ORG}:04lR0000000CcIGIA0",
            account_id=ORG,
            kind=ChangeKind.CREATED,  # created and last modified at the same moment
            crm_id="00QR000000A1b2dMAB",
            occurred_at=datetime(2024, 10, 2, 14, 5, tzinfo=UTC),
            raw={
                "sobject": "Lead",
                "notification_id": "04lR0000000CcIGIA0",
                "action_id": "04kR00000004CCXIA2",
                "fields": second,
            },
        ),
    )


def test_the_dedup_key_is_the_orgs_notification_id_never_the_records() -> None:
    body = envelope(notification(1) + notification(2))  # the same record twice
    events = parse(body)
    assert [e.crm_id for e in events] == ["00QR000000A1b2cMAB"] * 2
    assert [e.dedup_key for e in events] == [
        f"{ORG}:04lR0000000Cc001A0",
        f"{ORG}:04lR0000000Cc002A0",
    ]


def test_a_message_without_dates_happened_when_it_was_received() -> None:
    (event,) = parse_notifications(envelope(notification()), received_at=RECEIVED).events
    assert (event.kind, event.occurred_at) == (ChangeKind.PROPERTY_CHANGED, RECEIVED)
    assert event.raw["fields"] == {}  # a Flow that sends too few fields: the worker re-reads


def test_nil_fields_are_none_and_contacts_are_people_too() -> None:
    fields = '<sf:Title xsi:nil="true"/><sf:AccountId>001R000000B2c3dMAC</sf:AccountId>'
    (event,) = parse(envelope(notification(1, "Contact", fields, record="003R000000C3d4eMAD")))
    assert event.raw["sobject"] == "Contact"
    assert event.raw["fields"] == {"Title": None, "AccountId": "001R000000B2c3dMAC"}


@pytest.mark.parametrize("sobject", ["Task", "Event"])
def test_task_and_event_name_the_person_to_rescore(sobject: str) -> None:
    fields = "<sf:Subject>Call</sf:Subject><sf:WhoId>00QR000000A1b2cMAB</sf:WhoId>"
    (event,) = parse(envelope(notification(1, sobject, fields, record="00TR000000D4e5fMAE")))
    assert event.crm_id == "00TR000000D4e5fMAE"
    assert (event.raw["sobject"], event.raw["who_id"]) == (sobject, "00QR000000A1b2cMAB")
    (bare,) = parse(envelope(notification(2, sobject, record="00TR000000D4e5fMAE")))
    assert bare.raw["who_id"] is None  # not carried: the worker re-reads the activity


@pytest.mark.parametrize(
    ("sobject", "record"),
    [
        ("Case", "500R000000E5f6gMAF"),
        ("Opportunity", "006R000000F6g7hMAG"),
        ("OpportunityContactRole", "00KR000000G7h8iMAH"),
        ("SurveyResponse", "0KrR000000H8i9jMAI"),
        ("SurveyQuestionResponse", "0KxR000000I9j0kMAJ"),
    ],
)
def test_what_became_of_people_is_an_event_about_that_record(sobject: str, record: str) -> None:
    fields = "<sf:CreatedDate>2024-10-03T08:00:00.000Z</sf:CreatedDate>"
    message = parse_notifications(envelope(notification(1, sobject, fields, record=record)))
    (event,) = message.events
    assert (event.crm_id, event.raw["sobject"], message.ignored) == (record, sobject, {})
    assert "who_id" not in event.raw  # its people are found when the record is re-read


def test_other_objects_are_left_out_and_counted() -> None:
    body = envelope(notification(1, "Account", record="001R000000B2c3dMAC") + notification(2))
    message = parse_notifications(body)
    assert [e.raw["sobject"] for e in message.events] == ["Lead"]
    assert message.ignored == {"Account": 1}


def test_unknown_elements_are_ignored_and_counted() -> None:
    extra = "<Extra>1</Extra>" + notification(1, fields="<other:X xmlns:other='urn:x'>1</other:X>")
    message = parse_notifications(envelope(extra))
    assert len(message.events) == 1
    assert message.unknown_elements == 2


def test_the_session_id_is_dropped_before_anything_is_kept() -> None:
    secret = "00DR00000001fWV!AQ0AQSECRETSESSIONMARKER"
    body = envelope(notification(1), session=f"<SessionId>{secret}</SessionId>")
    message = parse_notifications(body)
    assert message.session_id_sent
    assert "SECRETSESSIONMARKER" not in repr(message)


def test_at_most_one_hundred_notifications() -> None:
    assert len(parse(envelope("".join(notification(n) for n in range(MAX_NOTIFICATIONS))))) == 100
    with pytest.raises(WebhookPayloadError, match="101 Notification elements, more than"):
        parse(envelope("".join(notification(n) for n in range(MAX_NOTIFICATIONS + 1))))


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>&lol2;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>"""


def test_an_entity_bomb_is_refused_unexpanded() -> None:
    with pytest.raises(UnsafeXml, match="entity declaration 'lol' refused") as refused:
        parse(BOMB)
    assert isinstance(refused.value, WebhookPayloadError)  # the receiver's 400


def test_an_external_entity_is_refused_unresolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-FROM-DISK")
    body = envelope(notification(1, fields="<sf:Title>&xxe;</sf:Title>")).replace(
        b"<soapenv:Envelope",
        f'<!DOCTYPE e [<!ENTITY xxe SYSTEM "file://{secret}">]><soapenv:Envelope'.encode(),
    )
    with pytest.raises(UnsafeXml, match="external entity 'xxe'") as refused:
        parse(body)
    assert "MARKER-FROM-DISK" not in str(refused.value)


def test_any_document_type_declaration_is_refused() -> None:
    body = envelope(notification()).replace(
        b"<soapenv:Envelope", b'<!DOCTYPE e SYSTEM "http://127.0.0.1:9/e.dtd"><soapenv:Envelope'
    )
    with pytest.raises(UnsafeXml, match="document type declaration is not allowed"):
        parse(body)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "the body is empty"),
        (b"<soapenv:Envelope", "not well-formed XML"),
        (b'{"not": "xml"}', "not well-formed XML"),
        (b"<notifications/>", "root element is 'notifications', not a SOAP Envelope"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>',
         "not SOAP 1.1's"),
        (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>', "has no Body"),
        (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
         b'<x xmlns="http://soap.sforce.com/2005/09/outbound"/></e:Body></e:Envelope>',
         "holds 'x', not notifications"),
    ],
)  # fmt: skip
def test_malformed_soap_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(WebhookPayloadError, match=problem):
        parse(body)


def test_notifications_in_another_namespace_are_refused() -> None:
    body = envelope(notification(), namespace="http://soap.sforce.com/2005/09/inbound")
    with pytest.raises(WebhookPayloadError, match="notifications is in namespace"):
        parse(body)


@pytest.mark.parametrize(
    ("notifications", "problem"),
    [
        ("", "holds no Notification"),
        ("<Notification><sObject/></Notification>", "Notification 1 has no Id"),
        (notification(1) + "<Notification><Id> </Id></Notification>", "Notification 2 has no Id"),
        ("<Notification><Id>not an id</Id></Notification>", "'not an id' is not a Salesforce"),
        ("<Notification><Id>04lR0000000CcIFIA0</Id></Notification>",
         "Notification 04lR0000000CcIFIA0 has no sObject"),
        (notification().replace(' xsi:type="sf:Lead"', ""), "the sObject has no xsi:type"),
        (notification().replace("<sf:Id>00QR000000A1b2cMAB</sf:Id>", ""),
         "the sObject has no sf:Id"),
    ],
)  # fmt: skip
def test_a_notification_must_name_itself_and_its_record(notifications: str, problem: str) -> None:
    with pytest.raises(WebhookPayloadError, match=problem):
        parse(envelope(notifications))


def test_the_organization_id_is_required() -> None:
    body = envelope(notification()).replace(f"<OrganizationId>{ORG}</OrganizationId>".encode(), b"")
    with pytest.raises(WebhookPayloadError, match="notifications has no OrganizationId"):
        parse(body)


def test_the_acknowledgement_is_the_documented_one() -> None:
    body = ack_body()
    validate(body, "Lead", response=True)
    assert body.endswith(
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
        b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
    )


def test_path_tokens_are_long_url_safe_and_fresh() -> None:
    tokens = {new_path_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) >= 43  # 32 random bytes in URL-safe base64: 256 bits
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")


def test_token_matching() -> None:
    token = new_path_token()
    assert token_matches(token, token)
    assert not token_matches(token, token[:-1])
    assert not token_matches(token, token + "x")
    assert not token_matches(token, "")
    assert not token_matches("", "")  # a connection without a token matches nothing
    assert not token_matches(token, "é" * 10)  # non-ASCII: refused, not an error


def test_the_source_checks_the_path_token_and_the_organization() -> None:
    token = new_path_token()
    source = OutboundMessages(ORG[:15], token)  # 15 or 18 characters: the same org
    url = f"https://glengarry.example.com/webhooks/salesforce/acme/{token}"
    source.verify("POST", url, {}, b"")
    source.verify("POST", url + "/", {}, b"")
    with pytest.raises(SignatureError, match="not this connection's"):
        source.verify("POST", f"https://glengarry.example.com/webhooks/salesforce/acme/{token}x",
                      {}, b"")  # fmt: skip
    assert len(source.parse(SAMPLE.read_bytes())) == 2
    other = OutboundMessages("00DR00000009zZZMAY", token)
    with pytest.raises(OrganizationMismatch, match="from organization 00DR00000001fWVMAY"):
        other.parse(SAMPLE.read_bytes())
