"""Who is logged in to the console: the API key, encrypted, in a signed session cookie.

The cookie is HttpOnly, SameSite=Strict, limited to /console, Secure when the service is
published over https, and lasts a working day. The key inside it is encrypted with the
service's secret key (the cookie itself is only signed), and each session has a CSRF token that
every form carries back."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

from app.errors import SecretKeyError
from app.runtime import Runtime

COOKIE = "glengarry_console"
MAX_AGE_SECONDS = 8 * 3600
_SESSION_LABEL = "glengarry-console-session"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    key: str
    name: str
    scope: str  # read, operate, admin
    connection: str | None  # the one connection a bound key sees

    @property
    def operates(self) -> bool:
        return self.scope in ("operate", "admin")

    @property
    def administers(self) -> bool:
        return self.scope == "admin"


def install_sessions(app: FastAPI, runtime: Runtime) -> None:
    public = runtime.settings.public_url or ""
    app.add_middleware(
        SessionMiddleware,
        secret_key=runtime.vault.derived(_SESSION_LABEL).hex(),
        session_cookie=COOKIE,
        max_age=MAX_AGE_SECONDS,
        path="/console",
        same_site="strict",
        https_only=public.startswith("https://"),
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def log_in(request: Request, key: str, identity: dict[str, Any]) -> None:
    request.session.clear()
    request.session.update(
        {
            "key": _runtime(request).vault.encrypt({"key": key}).decode(),
            "name": str(identity["name"]),
            "scope": str(identity["scope"]),
            "connection": identity.get("connection"),
            "csrf": secrets.token_urlsafe(32),
        }
    )


def log_out(request: Request) -> None:
    request.session.clear()


def current_user(request: Request) -> ConsoleUser | None:
    session = request.session
    if "key" not in session:
        return None
    try:
        key = _runtime(request).vault.decrypt(session["key"].encode(), what="console session")
    except (SecretKeyError, ValueError, AttributeError):
        session.clear()  # made with keys since removed: log in again
        return None
    return ConsoleUser(
        key=str(key.get("key", "")),
        name=str(session.get("name", "")),
        scope=str(session.get("scope", "read")),
        connection=session.get("connection"),
    )


def csrf_token(request: Request) -> str:
    """The session's token, made on first use (the login form has one before any login)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, given: str | None) -> bool:
    token = request.session.get("csrf")
    # As bytes: compare_digest refuses str with anything but ASCII in it.
    given_bytes = (given or "").encode("utf-8", "replace")
    return isinstance(token, str) and hmac.compare_digest(token.encode(), given_bytes)
