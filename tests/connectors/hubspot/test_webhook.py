from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import ChangeKind
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.hubspot.signature import sign_v1, sign_v3
from connectors.hubspot.webhook import HubSpotWebhooks, SignatureVersion, dedup_key, parse_delivery

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SECRET = "app-client-secret"
URL = "https://glengarry.example.com/webhooks/hubspot?x=1"


def event(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "eventId": 100,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(NOW.timestamp() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "propertyName": "jobtitle",
        "propertyValue": "VP Sales",
        "changeSource": "CRM_UI",
    }
    base.update(extra)
    return base


def signed_headers(body: bytes, *, url: str = URL, at: datetime = NOW) -> dict[str, str]:
    ts = int(at.timestamp() * 1000)
    return {
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts),
        "X-HubSpot-Request-Timestamp": str(ts),
    }


def test_a_v3_signed_delivery_verifies_and_parses() -> None:
    body = json.dumps([event()]).encode()
    hooks = HubSpotWebhooks(SECRET, now=lambda: NOW)
    hooks.verify("POST", URL, signed_headers(body), body)
    (parsed,) = hooks.parse(body)
    assert parsed.kind is ChangeKind.PROPERTY_CHANGED
    assert (parsed.account_id, parsed.crm_id) == ("62515", "123")
    assert parsed.property_name == "jobtitle"


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda h: h.pop("X-HubSpot-Signature-v3"), "missing"),
        (lambda h: h.update({"X-HubSpot-Signature-v3": "AAAA"}), "does not match"),
        (lambda h: h.update({"X-HubSpot-Request-Timestamp": "not-a-number"}), "milliseconds"),
    ],
)
def test_unsigned_or_wrongly_signed_deliveries_are_refused(mutate: Any, why: str) -> None:
    body = json.dumps([event()]).encode()
    headers = signed_headers(body)
    mutate(headers)
    with pytest.raises(SignatureError, match=why):
        HubSpotWebhooks(SECRET, now=lambda: NOW).verify("POST", URL, headers, body)


def test_a_stale_delivery_is_refused_even_when_correctly_signed() -> None:
    body = json.dumps([event()]).encode()
    headers = signed_headers(body, at=NOW - timedelta(minutes=6))
    with pytest.raises(SignatureError, match="stale"):
        HubSpotWebhooks(SECRET, now=lambda: NOW).verify("POST", URL, headers, body)


def test_a_tampered_body_is_refused() -> None:
    body = json.dumps([event()]).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"VP Sales", b"Student")
    with pytest.raises(SignatureError):
        HubSpotWebhooks(SECRET, now=lambda: NOW).verify("POST", URL, headers, tampered)


def test_behind_a_proxy_the_public_url_is_rebuilt_from_forwarded_headers() -> None:
    body = json.dumps([event()]).encode()
    headers = signed_headers(body)  # HubSpot signed the public https URL
    headers |= {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "glengarry.example.com"}
    internal = "http://10.0.0.5:8000/webhooks/hubspot?x=1"
    HubSpotWebhooks(SECRET, now=lambda: NOW).verify("POST", internal, headers, body)
    with pytest.raises(SignatureError):
        HubSpotWebhooks(SECRET, now=lambda: NOW).verify(
            "POST", internal, signed_headers(body), body
        )


def test_v1_is_accepted_only_when_configured() -> None:
    body = json.dumps([event()]).encode()
    legacy = {"X-HubSpot-Signature": sign_v1(SECRET, body), "X-HubSpot-Signature-Version": "v1"}
    HubSpotWebhooks(SECRET, version=SignatureVersion.V1).verify("POST", URL, legacy, body)
    with pytest.raises(SignatureError):
        HubSpotWebhooks(SECRET, now=lambda: NOW).verify("POST", URL, legacy, body)


def test_retries_of_one_event_share_a_dedup_key_and_distinct_events_do_not() -> None:
    assert dedup_key(event(attemptNumber=0)) == dedup_key(event(attemptNumber=3))
    # eventId is documented as not unique: two changes with one id stay two events.
    assert dedup_key(event(propertyValue="CEO")) != dedup_key(event(propertyValue="CTO"))


def test_merges_name_the_survivor_and_the_merged_ids() -> None:
    body = json.dumps(
        [
            event(
                subscriptionType="contact.merge",
                objectId=5,
                primaryObjectId=5,
                mergedObjectIds=[5, 9],
                newObjectId=5,
            )
        ]
    ).encode()
    (merge,) = parse_delivery(body)
    assert (merge.kind, merge.crm_id, merge.merged_crm_ids) == (ChangeKind.MERGED, "5", ("9",))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"eventId": 1}', "JSON array"),
        (json.dumps([{"eventId": 1}]).encode(), "0.subscriptionId"),
        (json.dumps([event(portalId="abc")]).encode(), "0.portalId"),
    ],
)
def test_bodies_that_are_not_hubspot_events_are_refused_by_name(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_delivery(body)


def test_events_for_other_objects_are_left_out() -> None:
    body = json.dumps([event(subscriptionType="company.creation"), event()]).encode()
    assert [e.kind for e in parse_delivery(body)] == [ChangeKind.PROPERTY_CHANGED]


def test_an_association_change_names_the_contact_by_its_from_end() -> None:
    raw = event(subscriptionType="contact.associationChange", associationType="CONTACT_TO_MEETING")
    del raw["objectId"], raw["propertyName"], raw["propertyValue"]
    raw |= {"fromObjectId": 321, "toObjectId": 9001, "associationRemoved": False}
    (change,) = parse_delivery(json.dumps([raw]).encode())
    assert (change.kind, change.crm_id) == (ChangeKind.ASSOCIATION_CHANGED, "321")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # fromtimestamp() overflowed on these: a 500 before the bounds
        (json.dumps([event(occurredAt=10**18)]).encode(), "0.occurredAt"),
        (json.dumps([event(occurredAt=-(10**18))]).encode(), "0.occurredAt"),
        # ids past a Java long would not fit the 64-character object column
        (json.dumps([event(objectId=10**70)]).encode(), "0.objectId"),
        (json.dumps([event(mergedObjectIds=[1, 10**70])]).encode(), "0.mergedObjectIds.1"),
        (json.dumps([event(portalId=0)]).encode(), "0.portalId"),
        # NaN, Infinity and 1e999 are no JSON numbers a database stores
        (b'[{"eventId": NaN}]', "NaN is not a JSON number"),
        (b'[{"eventId": 1, "x": -Infinity}]', "-Infinity is not a JSON number"),
        (b'[{"eventId": 1, "x": 1e999}]', "out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (
            json.dumps(
                [event(x=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])]
            ).encode(),
            "nested deeper",
        ),
        (b"\xff\xfe\x00", "not JSON"),
    ],
)
def test_values_no_real_delivery_holds_are_refused_by_name(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_delivery(body)


def test_nesting_within_the_bound_and_the_ends_of_the_time_range_are_taken() -> None:
    nested: object = []
    for _ in range(29):  # the array of events and the event itself make 31 levels
        nested = [nested]
    body = json.dumps(
        [event(occurredAt=946_684_800_000, x=nested), event(occurredAt=4_102_444_799_999)]
    ).encode()
    first, last = parse_delivery(body)
    assert first.occurred_at == datetime(2000, 1, 1, tzinfo=UTC)
    assert last.occurred_at.year == 2099


def _related_event(subscription: str, **extra: object) -> dict[str, object]:
    return {
        "eventId": 7, "subscriptionId": 9, "portalId": 62515, "occurredAt": 1_700_000_000_000,
        "subscriptionType": subscription, "attemptNumber": 0, **extra,
    }  # fmt: skip


def test_deal_ticket_and_feedback_events_are_about_that_record() -> None:
    import json

    from connectors.hubspot.webhook import parse_delivery, split_related

    body = json.dumps(
        [
            _related_event(
                "deal.propertyChange",
                objectId=11,
                propertyName="dealstage",
                propertyValue="closedwon",
            ),
            _related_event("ticket.creation", objectId=12),
            _related_event(
                "deal.associationChange",
                fromObjectId=13,
                toObjectId=5,
                associationType="DEAL_TO_CONTACT",
            ),
            _related_event("object.creation", objectId=14, objectTypeId="0-19"),
            _related_event("object.creation", objectId=15, objectTypeId="0-7"),  # products
            _related_event("deal.deletion", objectId=16),  # left to the sync
        ]
    ).encode()
    events = parse_delivery(body)
    assert [e.crm_id for e in events] == [
        "deals:11", "tickets:12", "deals:13", "feedback_submissions:14",
    ]  # fmt: skip
    assert events[0].property_value == "closedwon"
    assert split_related("deals:11") == ("deals", "11")
    assert split_related("501") is None
