"""HubSpot request signatures: v3 (HMAC-SHA256, timestamped), and the legacy v1 and v2 hashes.

Shared by the sandbox (which signs its webhook deliveries) and the connector (which verifies
them). v3 is `base64(HMAC-SHA256(client_secret, method + uri + body + timestamp))`, with a few
percent-encoded characters of the URI decoded first, as HubSpot's validation guide lists them;
requests whose `X-HubSpot-Request-Timestamp` is more than five minutes old are refused.
v1 is `sha256_hex(client_secret + body)`, v2 is `sha256_hex(client_secret + method + uri + body)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from connectors.errors import SignatureError

V3_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
V3_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
LEGACY_SIGNATURE_HEADER = "X-HubSpot-Signature"
LEGACY_VERSION_HEADER = "X-HubSpot-Signature-Version"

# The percent-encodings HubSpot decodes in the URI before it signs (v3 only).
_V3_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_V3_ENCODED = re.compile("|".join(_V3_DECODED), re.IGNORECASE)
# Epoch milliseconds: 13 digits until the year 2286; 15 leaves room and bounds the number.
_EPOCH_MS = re.compile(r"[0-9]{1,15}")


def v3_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-encodings decoded, nothing else."""
    return _V3_ENCODED.sub(lambda match: _V3_DECODED[match.group(0).upper()], uri)


def sign_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    source = f"{method.upper()}{v3_uri(uri)}".encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(client_secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v3(
    client_secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
) -> None:
    """Raise `SignatureError` (saying why) unless the v3 signature is valid and fresh."""
    if not signature_header:
        raise SignatureError(f"missing {V3_SIGNATURE_HEADER} header", reason="missing")
    if not timestamp_header:
        raise SignatureError(f"missing {V3_TIMESTAMP_HEADER} header", reason="missing")
    # Plain digits of a plausible length only: `int()` would take "+1_000" or 400 digits, and
    # the age computed from them would be echoed into messages.
    if not _EPOCH_MS.fullmatch(timestamp_header.strip()):
        raise SignatureError(f"{V3_TIMESTAMP_HEADER} is not epoch milliseconds", reason="malformed")
    timestamp_ms = int(timestamp_header.strip())
    age_ms = int(now.timestamp() * 1000) - timestamp_ms
    limit_ms = int(max_age.total_seconds() * 1000)
    if age_ms > limit_ms:
        raise SignatureError(
            f"stale request: signed {age_ms // 1000} s ago (limit {max_age})", reason="stale"
        )
    if -age_ms > limit_ms:
        raise SignatureError(
            f"request timestamp is {-age_ms // 1000} s in the future", reason="stale"
        )
    expected = sign_v3(client_secret, method, uri, body, timestamp_ms)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode()):
        raise SignatureError("v3 signature does not match")


def sign_v1(client_secret: str, body: bytes) -> str:
    return hashlib.sha256(client_secret.encode() + body).hexdigest()


def verify_v1(client_secret: str, body: bytes, signature_header: str | None) -> None:
    if not signature_header:
        raise SignatureError(f"missing {LEGACY_SIGNATURE_HEADER} header", reason="missing")
    expected = sign_v1(client_secret, body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().lower().encode()):
        raise SignatureError("v1 signature does not match")


def sign_v2(client_secret: str, method: str, uri: str, body: bytes) -> str:
    source = f"{client_secret}{method.upper()}{uri}".encode() + body
    return hashlib.sha256(source).hexdigest()


def verify_v2(
    client_secret: str, method: str, uri: str, body: bytes, signature_header: str | None
) -> None:
    if not signature_header:
        raise SignatureError(f"missing {LEGACY_SIGNATURE_HEADER} header", reason="missing")
    expected = sign_v2(client_secret, method, uri, body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().lower().encode()):
        raise SignatureError("v2 signature does not match")


__all__ = [
    "LEGACY_SIGNATURE_HEADER",
    "LEGACY_VERSION_HEADER",
    "V3_SIGNATURE_HEADER",
    "V3_TIMESTAMP_HEADER",
    "sign_v1",
    "sign_v2",
    "sign_v3",
    "v3_uri",
    "verify_v1",
    "verify_v2",
    "verify_v3",
]
