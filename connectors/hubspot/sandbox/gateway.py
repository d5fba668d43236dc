"""What happens to every API request before a route sees it, in HubSpot's order: injected
faults, authentication, rate limits. The call is counted per route template and status as its
answer starts, before any of it is sent.

Sandbox-only routes (`/_sandbox/...`) pass straight through: no faults, limits or counts. The
OAuth token endpoint needs no bearer token and is not rate-limited (HubSpot does not count it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.hubspot.sandbox.errors import error_body
from connectors.hubspot.sandbox.ratelimit import rate_limit_body
from connectors.hubspot.sandbox.runtime import Runtime

OAUTH_TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret
_PASS_THROUGH = ("/_sandbox", "/docs", "/openapi.json", "/redoc")
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def route_template(routes: Sequence[APIRoute], method: str, path: str) -> str:
    """The matching route's path template ("/crm/v3/objects/contacts/{contactId}")."""
    allowed_elsewhere: str | None = None
    for route in routes:
        if route.path_regex.match(path):
            if route.methods and method in route.methods:
                return str(route.path)
            allowed_elsewhere = allowed_elsewhere or route.path
    return allowed_elsewhere or "(unmatched)"


async def _respond(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    content = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json;charset=utf-8"),
        (b"content-length", str(len(content)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = str(value.decode("latin-1")).strip()
            return text[7:].strip() if text.lower().startswith("bearer ") else None
    return None


class Gateway:
    """ASGI middleware in front of the FastAPI app."""

    def __init__(self, app: ASGIApp, runtime: Runtime, routes: Sequence[APIRoute]) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(_PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        method = str(scope["method"])
        endpoint = f"{method} {route_template(self.routes, method, path)}"
        counted = False

        async def counting(message: Message) -> None:
            # Counted before the answer leaves: a client reading the stats once it has the
            # response must see its own call.
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                runtime.stats.count(endpoint, int(message["status"]))
            await send(message)

        try:
            await self._handle(scope, receive, counting, path)
        finally:
            if not counted:  # the app failed before answering: uvicorn answers 500
                runtime.stats.count(endpoint, 500)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        runtime = self.runtime
        draw = runtime.faults.draw()
        if draw.delay_seconds:
            await asyncio.sleep(draw.delay_seconds)
        if draw.storm_retry_after is not None:
            await _respond(
                send,
                429,
                rate_limit_body("TEN_SECONDLY_ROLLING", runtime.limiter.group),
                {"Retry-After": str(draw.storm_retry_after)},
            )
            return
        if draw.error_status is not None:
            await _respond(
                send,
                draw.error_status,
                error_body("Internal error (injected by the sandbox)", "INTERNAL_ERROR"),
            )
            return
        if path == OAUTH_TOKEN_PATH:
            await self.app(scope, receive, send)
            return
        accepted, why = runtime.tokens.check(_bearer(scope))
        if not accepted:
            if why.startswith("expired"):
                seconds = why.split()[1]
                body = error_body(
                    f"The OAuth token used to make this call expired {seconds} second(s) ago.",
                    "EXPIRED_AUTHENTICATION",
                )
            else:
                body = error_body(_AUTH_MESSAGE, "INVALID_AUTHENTICATION")
            await _respond(send, 401, body)
            return
        search = scope["method"] == "POST" and path.endswith("/search")
        verdict = runtime.limiter.check(search=search)
        if not verdict.allowed:
            assert verdict.policy is not None
            await _respond(
                send,
                429,
                rate_limit_body(verdict.policy, runtime.limiter.group),
                {**verdict.headers, "Retry-After": str(verdict.retry_after)},
            )
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers.items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
