"""What happens to every API request before a route sees it, in HubSpot's order: injected
faults, authentication, rate limits. (The kit's `Turnstile`, in front of this, counts the call
and holds it while its route is held.)

Sandbox-only routes (`/_sandbox/...`) pass straight through: no faults or limits. The OAuth
token endpoint needs no bearer token and is not rate-limited (HubSpot does not count it).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.hubspot.sandbox.errors import error_body
from connectors.hubspot.sandbox.ratelimit import rate_limit_body
from connectors.hubspot.sandbox.runtime import Runtime
from connectors.sandbox_kit import respond_json
from connectors.sandbox_kit.turnstile import PASS_THROUGH

OAUTH_TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret  # nosec B105
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = str(value.decode("latin-1")).strip()
            return text[7:].strip() if text.lower().startswith("bearer ") else None
    return None


class Gateway:
    """ASGI middleware in front of the FastAPI app."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        await self._handle(scope, receive, send, path)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        runtime = self.runtime
        storm_retry_after = runtime.faults.storm()
        if storm_retry_after is not None:
            await asyncio.sleep(runtime.faults.config.latency_ms / 1000)
            await respond_json(
                send,
                429,
                rate_limit_body("TEN_SECONDLY_ROLLING", runtime.limiter.group),
                {"Retry-After": str(storm_retry_after)},
            )
            return
        draw = runtime.faults.draw()
        if draw.delay_seconds:
            await asyncio.sleep(draw.delay_seconds)
        if draw.error_status is not None:
            await respond_json(
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
            await respond_json(send, 401, body)
            return
        search = scope["method"] == "POST" and path.endswith("/search")
        verdict = runtime.limiter.check(search=search)
        if not verdict.allowed:
            assert verdict.policy is not None
            headers = dict(verdict.headers)
            if verdict.retry_after is not None:
                headers["Retry-After"] = str(verdict.retry_after)
            await respond_json(
                send, 429, rate_limit_body(verdict.policy, runtime.limiter.group), headers
            )
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers.items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
