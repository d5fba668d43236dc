"""HubSpot signatures: v3 HMAC with freshness and URI decoding, and the legacy v1/v2 hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from connectors.errors import SignatureError
from connectors.hubspot.signature import (
    sign_v1,
    sign_v2,
    sign_v3,
    v3_uri,
    verify_v1,
    verify_v2,
    verify_v3,
)

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
URI = "https://example.com/webhooks/hubspot"
BODY = b'[{"eventId":1,"objectId":123}]'

# HubSpot's own examples (validating-requests guide).
DOC_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1_SIGNATURE = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
DOC_V2_SIGNATURE = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"


def test_v1_matches_hubspots_documented_example() -> None:
    assert sign_v1(SECRET, DOC_V1_BODY) == DOC_V1_SIGNATURE
    verify_v1(SECRET, DOC_V1_BODY, DOC_V1_SIGNATURE)
    with pytest.raises(SignatureError, match="v1"):
        verify_v1(SECRET, DOC_V1_BODY + b" ", DOC_V1_SIGNATURE)


def test_v2_matches_hubspots_documented_example() -> None:
    signature = sign_v2(SECRET, "GET", "https://www.example.com/webhook_uri", b"")
    assert signature == DOC_V2_SIGNATURE
    verify_v2(SECRET, "GET", "https://www.example.com/webhook_uri", b"", signature)
    with pytest.raises(SignatureError, match="v2"):
        verify_v2(SECRET, "POST", "https://www.example.com/webhook_uri", b"", signature)


def test_v3_is_base64_hmac_of_method_uri_body_timestamp() -> None:
    source = b"POST" + URI.encode() + BODY + str(NOW_MS).encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest())
    assert sign_v3(SECRET, "POST", URI, BODY, NOW_MS) == expected.decode()


def test_v3_round_trip() -> None:
    signature = sign_v3(SECRET, "POST", URI, BODY, NOW_MS)
    verify_v3(SECRET, "POST", URI, BODY, str(NOW_MS), signature, NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY + b"x"}, "does not match"),
        ({"secret": "other"}, "does not match"),
        ({"method": "PUT"}, "does not match"),
        ({"uri": URI + "?x=1"}, "does not match"),
        ({"signature": None}, "missing X-HubSpot-Signature-v3"),
        ({"timestamp": None}, "missing X-HubSpot-Request-Timestamp"),
        ({"timestamp": "yesterday"}, "epoch milliseconds"),
        ({"now": NOW + timedelta(minutes=5, seconds=1)}, "stale"),
        ({"now": NOW - timedelta(minutes=6)}, "future"),
    ],
)
def test_v3_refuses_with_a_reason(change: dict[str, object], reason: str) -> None:
    signature = sign_v3(SECRET, "POST", URI, BODY, NOW_MS)
    args: dict[str, object] = {
        "secret": SECRET,
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": str(NOW_MS),
        "signature": signature,
        "now": NOW,
    }
    args.update(change)
    with pytest.raises(SignatureError, match=reason):
        verify_v3(
            str(args["secret"]),
            str(args["method"]),
            str(args["uri"]),
            args["body"],
            args["timestamp"],
            args["signature"],
            args["now"],
        )


def test_v3_accepts_a_request_just_within_max_age() -> None:
    signature = sign_v3(SECRET, "POST", URI, BODY, NOW_MS)
    verify_v3(SECRET, "POST", URI, BODY, str(NOW_MS), signature, NOW + timedelta(minutes=5))
    verify_v3(
        SECRET,
        "POST",
        URI,
        BODY,
        str(NOW_MS),
        signature,
        NOW + timedelta(minutes=9),
        max_age=timedelta(minutes=10),
    )


def test_v3_decodes_the_listed_percent_encodings_only() -> None:
    assert v3_uri("https://x.test/a%3Ab%2fc?d=%40%21%24%27%28%29%2A%2C%3B%3F") == (
        "https://x.test/a:b/c?d=@!$'()*,;?"
    )
    # Other encodings (a space, an ampersand) stay as they are.
    assert v3_uri("https://x.test/a%20b?c=%26") == "https://x.test/a%20b?c=%26"


def test_v3_signature_survives_the_uri_encoding_hubspot_ignores() -> None:
    encoded = "https://x.test/hook%3Fa=1%2C2"
    signature = sign_v3(SECRET, "POST", "https://x.test/hook?a=1,2", BODY, NOW_MS)
    verify_v3(SECRET, "POST", encoded, BODY, str(NOW_MS), signature, NOW)


@pytest.mark.parametrize("timestamp", ["9" * 400, "+1_000", "١٢٣", "12.5", "1" * 16])
def test_a_timestamp_that_is_not_plain_epoch_milliseconds_is_malformed_and_not_echoed(
    timestamp: str,
) -> None:
    with pytest.raises(SignatureError, match="not epoch milliseconds") as refused:
        verify_v3(SECRET, "POST", URI, BODY, timestamp, "AAAA", NOW)
    assert refused.value.reason == "malformed"
    assert timestamp not in str(refused.value)


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (None, "AAAA", "missing"),
        (str(NOW_MS - 600_000), "AAAA", "stale"),
        (str(NOW_MS), "AAAA", "mismatch"),
    ],
)
def test_each_refusal_says_why_in_one_word(
    timestamp: str | None, signature: str, reason: str
) -> None:
    with pytest.raises(SignatureError) as refused:
        verify_v3(SECRET, "POST", URI, BODY, timestamp, signature, NOW)
    assert refused.value.reason == reason
