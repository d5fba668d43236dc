"""The console's pages are drawn from the operations API, called in-process with the logged-in
key: the same routes, the same scopes and the same refusals as any other client (and the same
per-address limit on failed keys: the browser's address is passed on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

INTERNAL = "http://glengarry.console"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The API's error message (`{"error": {"message": ...}}`)."""
        if isinstance(self.body, dict):
            error = self.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
        return f"the API answered {self.status}"


async def call(
    request: Request,
    key: str,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
) -> Answer:
    client_host = request.client.host if request.client else "127.0.0.1"
    transport = httpx.ASGITransport(app=request.app, client=(client_host, 0))
    async with httpx.AsyncClient(transport=transport, base_url=INTERNAL, timeout=60) as client:
        answer = await client.request(
            method,
            path,
            json=json,
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            headers={"Authorization": f"Bearer {key}"},
        )
    try:
        body = answer.json()
    except ValueError:
        body = None
    return Answer(answer.status_code, body)
