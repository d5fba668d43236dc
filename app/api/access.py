"""Every HTTP request: a request id, an access log line and request metrics (pure ASGI).

The line and the metrics are recorded when the response starts, before its first byte is sent,
so a scrape or a log read right after a response sees it. Paths are logged with secrets masked:
every value of the query string but a few known ones, segments shaped like tokens, and every
secret the process has registered (`app.logging.register_secret`).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import MASK, bound, get_logger, scrub
from app.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = get_logger("glengarry.access")

# A caller's request id is echoed into logs, so only a short, plain one is taken as given.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Labels take fixed values only: a method or path made up by a caller never becomes a series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Query values are masked unless known to be harmless (OAuth codes, `hapikey=`, tokens...).
_PLAIN_QUERY = frozenset({"limit"})
# A segment long and varied enough to be a credential (a HubSpot `pat-...`, a JWT, a key).
_TOKEN_SEGMENT = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9._~+=-]{32,}$")
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: debug only
MAX_LOGGED_PATH = 200


def masked(path: str) -> str:
    """`path` with token-shaped segments and registered secrets masked."""
    return scrub("/".join(MASK if _TOKEN_SEGMENT.match(s) else s for s in path.split("/")))


def logged_path(path: str, query: bytes) -> str:
    """The path as a log line may show it: token-shaped segments and query values masked."""
    # Percent-encoded again: no control character or newline from a path reaches a log line.
    shown = quote(masked(path), safe="/:@!$&'()*+,;=~", errors="replace")
    if query:
        # Only the start of a long query is shown, so only the start is parsed.
        pairs = parse_qsl(query[: MAX_LOGGED_PATH * 4].decode("latin-1"), keep_blank_values=True)
        shown += "?" + "&".join(
            f"{quote(key[:40], errors='replace')}="
            f"{quote(value[:40], errors='replace') if key in _PLAIN_QUERY else MASK}"
            for key, value in pairs
        )
    if len(shown) > MAX_LOGGED_PATH:
        shown = shown[:MAX_LOGGED_PATH] + "..."
    return shown


def _route(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class RequestObservation:
    """ASGI middleware: request id bound to every log line, then the access line and metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        started = time.perf_counter()
        answered: list[int] = []

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The client gets its request id back to quote.
                message.setdefault("headers", [])
                message["headers"] = [
                    *[(k, v) for k, v in message["headers"] if k.lower() != b"x-request-id"],
                    (b"x-request-id", rid.encode()),
                ]
                answered.append(message["status"])
                self._record(scope, message["status"], started)
            await send(message)

        with bound(request_id=rid):
            try:
                await self.app(scope, receive, send_observed)
            except Exception:
                if not answered:  # the server answers 500 for what escaped the app
                    self._record(scope, 500, started)
                raise

    @staticmethod
    def _record(scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = _route(scope)
        method = str(scope.get("method", "")).upper()
        labels = (route, method if method in _METHODS else "OTHER", str(status))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_SECONDS.labels(*labels).observe(elapsed)
        fields: dict[str, Any] = {
            "method": labels[1],
            "route": route,
            "path": logged_path(str(scope.get("path", "")), scope.get("query_string", b"")),
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
            "client": (scope.get("client") or ("", 0))[0],
        }
        if scope.get("path") in _QUIET and status < 400:
            log.debug("request", **fields)
        elif status == 500:  # something failed that no handler answered for
            log.error("request", **fields)
        elif status > 500:  # an answer chosen: a dependency is down
            log.warning("request", **fields)
        else:
            log.info("request", **fields)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""
