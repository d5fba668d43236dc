"""What happens to every API request before a route sees it: injected faults (latency, slow
answers, `503 SERVER_UNAVAILABLE`), the session (`401 INVALID_SESSION_ID`), the rolling daily
allocation and the concurrent long-running requests (`403 REQUEST_LIMIT_EXCEEDED`); every
answer from here on carries `Sforce-Limit-Info`. (The kit's `Turnstile`, in front, counts the
call and holds it while its route is held; `SlashInsensitive`, in front of that, serves
`/query/` as `/query`, as Salesforce does.)

The token endpoint and the version list need no session and are not counted against the
allocation; the sandbox's own routes pass straight through.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.salesforce.sandbox.errors import error_body
from connectors.salesforce.sandbox.runtime import Runtime
from connectors.sandbox_kit import respond_json
from connectors.sandbox_kit.turnstile import PASS_THROUGH

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret  # nosec B105
_OPEN = (TOKEN_PATH, "/services/data")
_SESSION_EXPIRED = error_body("INVALID_SESSION_ID", "Session expired or invalid")


def session_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() in ("bearer", "oauth") else None
    return None


class SlashInsensitive:
    """`/services/data/v62.0/query/` is `/services/data/v62.0/query`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            stripped = path.rstrip("/") or "/"
            scope = {**scope, "path": stripped, "raw_path": stripped.encode()}
        await self.app(scope, receive, send)


class Gateway:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        draw = runtime.faults.draw()
        if draw.error_status is not None:
            await asyncio.sleep(draw.delay_seconds)
            await respond_json(
                send,
                draw.error_status,
                error_body(
                    "SERVER_UNAVAILABLE",
                    "Server temporarily unavailable (injected by the sandbox)",
                ),
            )
            return
        if path in _OPEN:
            await asyncio.sleep(draw.delay_seconds)
            await self.app(scope, receive, send)
            return

        async def with_limit_info(message: Message) -> None:
            if message["type"] == "http.response.start":
                usage = (b"sforce-limit-info", runtime.allocation.header().encode())
                message = {**message, "headers": [*message.get("headers", []), usage]}
            await send(message)

        if runtime.sessions.check(session_token(scope)) is None:
            await respond_json(with_limit_info, 401, _SESSION_EXPIRED)
            return
        if not runtime.allocation.take():
            runtime.stats.note_limited()
            await respond_json(
                with_limit_info,
                403,
                error_body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            )
            return
        ticket = runtime.long_requests.admit()
        if ticket is None:
            runtime.stats.note_limited()
            await respond_json(
                with_limit_info,
                403,
                error_body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
            )
            return
        try:
            if draw.delay_seconds:
                await asyncio.sleep(draw.delay_seconds)
            await self.app(scope, receive, with_limit_info)
        finally:
            runtime.long_requests.done(ticket)
