"""Access tokens the sandbox accepts: the private app's token, and OAuth tokens it issued."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issued:
    access_token: str
    refresh_token: str
    expires_in: int


class TokenRefused(Exception):
    """The token endpoint's 400: `status` is HubSpot's code (BAD_REFRESH_TOKEN, ...)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Tokens:
    def __init__(
        self,
        *,
        private_token: str,
        client_id: str,
        client_secret: str,
        refresh_tokens: Iterable[str],
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._private = private_token
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh = set(refresh_tokens)
        self._access: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def check(self, token: str | None) -> tuple[bool, str]:
        """(accepted, why not): why is "" when accepted, "expired N s" or "unknown"."""
        if not token:
            return False, "missing"
        if secrets.compare_digest(token, self._private):
            return True, ""
        with self._lock:
            expires = self._access.get(token)
        if expires is None:
            return False, "unknown"
        late = self._clock() - expires
        if late >= 0:
            return False, f"expired {int(late)}"
        return True, ""

    def issue(self, form: dict[str, str]) -> Issued:
        grant = form.get("grant_type", "")
        if form.get("client_id") != self._client_id:
            raise TokenRefused("BAD_CLIENT_ID", "missing or unknown client id")
        if not secrets.compare_digest(form.get("client_secret", ""), self._client_secret):
            raise TokenRefused("BAD_CLIENT_SECRET", "missing or invalid client secret")
        with self._lock:
            if grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                if refresh not in self._refresh:
                    raise TokenRefused("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            elif grant == "authorization_code":
                if not form.get("code") or not form.get("redirect_uri"):
                    raise TokenRefused("BAD_AUTH_CODE", "missing or unknown auth code")
                refresh = f"sandbox-refresh-{secrets.token_hex(12)}"
                self._refresh.add(refresh)
            else:
                raise TokenRefused(
                    "BAD_GRANT_TYPE", "grant_type must be refresh_token or authorization_code"
                )
            access = f"sandbox-access-{secrets.token_hex(16)}"
            self._access[access] = self._clock() + self.ttl_seconds
            return Issued(access, refresh, self.ttl_seconds)

    def expire_access_tokens(self) -> None:
        """Let every issued access token run out now (tests of the refresh path)."""
        with self._lock:
            now = self._clock()
            self._access = {token: min(expiry, now) for token, expiry in self._access.items()}
