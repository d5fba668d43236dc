"""ASGI middleware in front of a sandbox: every API call passes it once, is counted per route
template and status as its answer starts (before any of it is sent, so a client reading the
stats once it has its answer sees its own call), and waits here while its route is held.

The sandbox's own routes (`/_sandbox/...`) and the docs pass straight through, uncounted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.sandbox_kit.holds import Holds
from connectors.sandbox_kit.routing import route_template
from connectors.sandbox_kit.stats import CallStats

PASS_THROUGH = ("/_sandbox", "/docs", "/openapi.json", "/redoc")


async def respond_json(
    send: Send, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> None:
    """Answer with a JSON body (an object, or an array as Salesforce's errors are)."""
    content = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json;charset=utf-8"),
        (b"content-length", str(len(content)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


class Turnstile:
    def __init__(
        self,
        app: ASGIApp,
        *,
        stats: CallStats,
        holds: Holds,
        routes: Sequence[APIRoute],
        discarded: Callable[[], Any] | None = None,
    ) -> None:
        self.app = app
        self.stats = stats
        self.holds = holds
        self.routes = routes
        # The 503 body of a held call released with `discard`, in the CRM's error shape.
        self.discarded = discarded or (lambda: {"message": "Discarded by the sandbox while held"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        endpoint = f"{method} {route_template(self.routes, method, path)}"
        counted = False

        async def counting(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                self.stats.count(endpoint, int(message["status"]))
            await send(message)

        try:
            admitted = await self.holds.admit(endpoint, receive, scope.get("client"))
            if admitted is None:
                await respond_json(counting, 503, self.discarded())
                return
            await self.app(scope, admitted, counting)
        finally:
            if not counted:  # the app failed before answering: uvicorn answers 500
                self.stats.count(endpoint, 500)
