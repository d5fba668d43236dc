"""The gateway counts a call before its answer leaves: a read right after a response sees it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message

from connectors.hubspot.sandbox import SandboxConfig, create_app

from .conftest import TOKEN


def _scope(path: str, token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"sandbox")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("sandbox", 80),
    }


@pytest.mark.parametrize(
    ("token", "status"),
    [(TOKEN, "200"), (None, "401")],
    ids=["answered by a route", "refused by the gateway"],
)
async def test_the_call_is_counted_before_the_body_is_sent(token: str | None, status: str) -> None:
    app = create_app(SandboxConfig(token=TOKEN, rate_limits="off"))
    runtime = app.state.sandbox
    seen_while_sending: list[dict[str, Any]] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        # What a client reading the stats the moment it has the body would see.
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            seen_while_sending.append(runtime.stats.snapshot()["calls"])

    await app(_scope("/crm/v3/objects/contacts", token), receive, send)
    assert seen_while_sending == [{"GET /crm/v3/objects/{objectType}": {status: 1}}]
