"""The connected app's token endpoint and the sessions it hands out.

Two grants ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration" and "OAuth 2.0
Client Credentials Flow for Server-to-Server Integration", Salesforce Help):

- `urn:ietf:params:oauth:grant-type:jwt-bearer`: an RS256 assertion signed with the key whose
  certificate the connected app holds, `iss` the consumer key, `sub` a pre-authorised user's
  username, `aud` https://login.salesforce.com or https://test.salesforce.com, `exp` in the
  future (an integer or, as some clients send it, a numeric string).
- `client_credentials`: the consumer key and secret in HTTP Basic (or the form); the session
  runs as the app's "run as" user (the integration user).

A refusal is `400 {"error", "error_description"}`. A session expires after its time to live,
on the org's clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509

from connectors.salesforce.sandbox.clock import Clock

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class TokenRefused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    client_id: str
    client_secret: str
    certificate_pem: bytes  # the certificate whose key signs JWT assertions
    run_as: str  # the client credentials flow's user id
    authorised: Mapping[str, str]  # username -> user id, pre-authorised for the JWT flow


class Sessions:
    def __init__(self, clock: Clock, ttl_seconds: int) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self._sessions: dict[str, Session] = {}

    def open(self, org_id: str, user_id: str) -> Session:
        token = f"{org_id[:15]}!{secrets.token_urlsafe(48)}"
        session = Session(token, user_id, self.clock.now() + self.ttl)
        with self._lock:
            self._sessions[token] = session
        return session

    def check(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
        if session is None or self.clock.now() >= session.expires_at:
            return None
        return session

    def expire_all(self) -> int:
        """Every open session ends now (a fault: "Session expired or invalid" next call)."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        return count


class TokenEndpoint:
    def __init__(
        self, app: ConnectedApp, sessions: Sessions, *, org_id: str, instance_url: str
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.org_id = org_id
        self.instance_url = instance_url
        self._public_key = _public_key(app.certificate_pem)

    def issue(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            user_id = self._jwt_user(form.get("assertion", ""))
        elif grant == "client_credentials":
            self._check_client(form, authorization)
            user_id = self.app.run_as
        else:
            raise TokenRefused("unsupported_grant_type", "grant type not supported")
        session = self.sessions.open(self.org_id, user_id)
        issued_at = str(int(self.sessions.clock.timestamp() * 1000))
        identity = f"https://login.salesforce.com/id/{self.org_id}/{user_id}"
        signature = hmac.new(
            self.app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": session.token,
            "scope": "api",
            "instance_url": self.instance_url,
            "id": identity,
            "token_type": "Bearer",  # the type's name, not a token  # nosec B105
            "issued_at": issued_at,
            "signature": base64.b64encode(signature).decode(),
        }

    def _jwt_user(self, assertion: str) -> str:
        if not assertion:
            raise TokenRefused("invalid_request", "assertion missing")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "require": ["iss", "sub"]},
            )
        except jwt.InvalidTokenError:
            raise TokenRefused("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.app.client_id:
            raise TokenRefused("invalid_client_id", "client identifier invalid")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in AUDIENCES for a in audiences):
            raise TokenRefused("invalid_grant", "audience is invalid")
        exp: Any = claims.get("exp")
        try:
            expires = float(exp)
        except (TypeError, ValueError):
            raise TokenRefused("invalid_grant", "invalid assertion") from None
        if expires <= self.sessions.clock.timestamp():
            raise TokenRefused("invalid_grant", "expired authorization code")
        user_id = self.app.authorised.get(str(claims.get("sub")))
        if user_id is None:
            raise TokenRefused("invalid_grant", "user hasn't approved this consumer")
        return user_id

    def _check_client(self, form: Mapping[str, str], authorization: str | None) -> None:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise TokenRefused("invalid_client", "invalid client credentials") from None
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.app.client_id:
            raise TokenRefused("invalid_client_id", "client identifier invalid")
        if not secrets.compare_digest(client_secret, self.app.client_secret):
            raise TokenRefused("invalid_client", "invalid client credentials")


def _public_key(certificate_pem: bytes) -> Any:
    return x509.load_pem_x509_certificate(certificate_pem).public_key()
