"""Webhook receiver: verify first, validate, store in the inbox, answer fast. No CRM call here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app.api.access import masked
from app.api.deps import RuntimeDep
from app.connections import lookup, webhook_source
from app.crms import REGISTRY
from app.inbox import store_events
from app.logging import get_logger
from app.metrics import EVENTS, LAST_WEBHOOK, SIGNATURES_REFUSED, WAKEUPS_FAILED
from app.models import Connection
from app.runtime import Runtime
from app.settings import ENV_PREFIX
from connectors.base import ChangeEvent, WebhookSource
from connectors.crm import Crm
from connectors.errors import SignatureError, WebhookPayloadError

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


async def _read(request: Request, limit: int) -> Delivery:
    declared = request.headers.get("content-length")
    # ASCII digits only: isdigit() is true for '²' (a latin-1 header value), which int() refuses.
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"delivery larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"delivery larger than {limit} bytes")
    return Delivery(request.method, str(request.url), dict(request.headers), bytes(body))


# One answer for every refusal before the body is parsed: an unknown connection, a connection
# without a secret and a bad signature look alike to the caller (no connection names to probe,
# no headers echoed); the log line and the metric say which it was.


@dataclass(frozen=True)
class Refusal:
    url: str  # "connection" (/webhooks/{kind}/{name}) or "app" (/webhooks/{kind})
    connection: str  # the connection's name where one is known, "" otherwise
    reason: str
    detail: str


def _refuse(crm: Crm, refusal: Refusal) -> HTTPException:
    # Counted before the refusal is sent, so a scrape right after it sees it.
    SIGNATURES_REFUSED.labels(refusal.url, refusal.connection, refusal.reason).inc()
    log.warning(
        "webhook signature refused",
        url=refusal.url,
        connection=refusal.connection or None,
        reason=refusal.reason,
        detail=refusal.detail,
    )
    return HTTPException(crm.receiver.refused_status, crm.receiver.refused_message)


def _media_type(headers: Mapping[str, str]) -> str | None:
    """The declared media type, lower-cased without its parameters (None: none declared)."""
    declared = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if declared is None:
        return None
    return declared.split(";", 1)[0].strip().lower()


def _verify_and_parse(
    crm: Crm, source: WebhookSource, delivery: Delivery, *, url: str, connection: str
) -> Sequence[ChangeEvent]:
    try:
        source.verify(delivery.method, delivery.url, delivery.headers, delivery.body)
    except SignatureError as exc:
        raise _refuse(crm, Refusal(url, connection, exc.reason, str(exc))) from None
    given = _media_type(delivery.headers)
    if given is not None and given not in crm.receiver.accepts:
        wanted = " or ".join(crm.receiver.accepts)
        raise HTTPException(415, f"{crm.label} deliveries are {wanted}, not {given[:60]!r}")
    try:
        return source.parse(delivery.body)
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from None
    except SignatureError as exc:  # authentic, but not this connection's account: 403
        SIGNATURES_REFUSED.labels(url, connection, "wrong_account").inc()
        log.warning("webhook from another account refused", connection=connection, detail=str(exc))
        raise HTTPException(403, str(exc)) from None


def _wake_inbox(runtime: Runtime, connection_id: int, name: str) -> None:
    """The events are committed: a queue that cannot be reached must not turn that into a 5xx
    (the CRM would retry and pile up duplicates). The sweeper wakes them within a minute."""
    try:
        runtime.wake.inbox(connection_id)
    except Exception as exc:  # any failure of the queue (Redis down, SQLite queue locked)
        WAKEUPS_FAILED.labels("process_inbox").inc()
        log.warning(
            "stored webhook events, but could not wake the worker; the sweeper will",
            connection=name,
            error=f"{type(exc).__name__}: {exc}",
        )


def _store(
    runtime: Runtime, crm: Crm, by_connection: Mapping[int, list[ChangeEvent]]
) -> dict[str, int]:
    now = runtime.clock.now()
    totals = {"stored": 0, "duplicates": 0}
    with runtime.sessions.begin() as session:
        names = dict(
            session.execute(
                select(Connection.id, Connection.name).where(Connection.id.in_(by_connection))
            ).all()
        )
        stored = {
            cid: store_events(session, crm.kind, cid, events, now)
            for cid, events in by_connection.items()
        }
    for cid, result in stored.items():
        name = names.get(cid, str(cid))
        EVENTS.labels(name, "received").inc(result.new)
        EVENTS.labels(name, "duplicate").inc(result.duplicates)
        LAST_WEBHOOK.labels(name).set(now.timestamp())
        # One line per delivery (a batch of events), never one per event.
        log.info(
            "webhook events received",
            connection=name,
            stored=result.new,
            duplicates=result.duplicates,
        )
        totals["stored"] += result.new
        totals["duplicates"] += result.duplicates
        if result.new:
            _wake_inbox(runtime, cid, name)
    return totals


def _for_connection(runtime: Runtime, crm: Crm, ref: str, delivery: Delivery) -> dict[str, int]:
    with runtime.sessions() as session:
        connection = lookup(session, ref)
        if connection is not None:
            session.expunge(connection)
    if connection is None or connection.kind != crm.kind:
        # The name asked for is logged (bounded, quoted) so a mistyped webhook URL can be found.
        detail = f"no connection {masked(ref[:100])!r}"
        raise _refuse(crm, Refusal("connection", "", "unknown_connection", detail))
    source = webhook_source(runtime, connection)
    if source is None:
        detail = "the connection has nothing to verify deliveries with (no secret or token)"
        raise _refuse(crm, Refusal("connection", connection.name, "no_secret", detail))
    events = _verify_and_parse(crm, source, delivery, url="connection", connection=connection.name)
    served = [e for e in events if e.account_id == connection.account_id]
    ignored = len(events) - len(served)
    EVENTS.labels(connection.name, "ignored").inc(ignored)
    EVENTS.labels(connection.name, "sparse").inc(sum(1 for e in served if crm.sparse(e)))
    return {**_store(runtime, crm, {connection.id: served}), "ignored": ignored}


def _for_app(runtime: Runtime, crm: Crm, delivery: Delivery) -> dict[str, int]:
    """One URL for a public app serving many accounts: events are routed by account id.

    The app's client secret comes from the settings, so the delivery is verified before the
    database is asked anything; only then are its (validated) account ids looked up.
    """
    setting = crm.shared_app_setting
    app_secret = getattr(runtime.settings, setting)
    if app_secret is None:
        detail = f"{ENV_PREFIX}{setting.upper()} is not set"
        raise _refuse(crm, Refusal("app", "", "no_secret", detail))
    source = crm.app_webhook_source(app_secret.get_secret_value(), runtime.clock.now)
    if source is None:
        raise HTTPException(404, f"{crm.label} has no app-wide webhook URL")
    events = _verify_and_parse(crm, source, delivery, url="app", connection="")
    portals = {event.account_id for event in events}
    with runtime.sessions() as session:
        connections = session.scalars(
            select(Connection).where(
                Connection.kind == crm.kind,
                Connection.account_id.in_(portals),
                Connection.deleted_at.is_(None),
            )
        ).all()
        for connection in connections:
            session.expunge(connection)
    by_portal = {c.account_id: c for c in connections}
    routed: dict[int, list[ChangeEvent]] = {}
    ignored = 0
    for event in events:
        target = by_portal.get(event.account_id)
        if target is None:
            ignored += 1
            continue
        routed.setdefault(target.id, []).append(event)
    EVENTS.labels("unrouted", "ignored").inc(ignored)
    return {**_store(runtime, crm, routed), "ignored": ignored}


def _answer(crm: Crm, totals: dict[str, int]) -> Response:
    """What the CRM expects once the events are stored: its acknowledgement, or the counts."""
    if crm.receiver.acknowledgement is None:
        return JSONResponse(totals)
    return Response(crm.receiver.acknowledgement, media_type=crm.receiver.media_type)


def _routes(crm: Crm) -> None:
    """One CRM's webhook URLs, under its kind: so route labels in metrics and logs name it."""
    name = crm.label

    async def with_token(
        connection: str, token: str, request: Request, runtime: RuntimeDep
    ) -> Response:
        delivery = await _read(request, runtime.settings.webhook_max_body_bytes)
        totals = await run_in_threadpool(_for_connection, runtime, crm, connection, delivery)
        return _answer(crm, totals)

    async def signed(connection: str, request: Request, runtime: RuntimeDep) -> Response:
        if crm.receiver.path_token:  # the token is missing: refused as a wrong one would be
            raise _refuse(crm, Refusal("connection", "", "no_token", "no path token in the URL"))
        delivery = await _read(request, runtime.settings.webhook_max_body_bytes)
        totals = await run_in_threadpool(_for_connection, runtime, crm, connection, delivery)
        return _answer(crm, totals)

    async def shared(request: Request, runtime: RuntimeDep) -> Response:
        delivery = await _read(request, runtime.settings.webhook_max_body_bytes)
        return _answer(crm, await run_in_threadpool(_for_app, runtime, crm, delivery))

    if crm.receiver.path_token:
        router.add_api_route(
            f"/{crm.kind}/{{connection}}/{{token}}",
            with_token,
            methods=["POST"],
            name=f"{crm.kind}_connection_with_token",
            summary=f"{name}: one connection's URL, ending with its secret token",
            response_model=dict[str, int],
        )
    router.add_api_route(
        f"/{crm.kind}/{{connection}}",
        signed,
        methods=["POST"],
        name=f"{crm.kind}_connection",
        summary=f"{name}: one connection's webhook URL",
        response_model=dict[str, int],
    )
    if crm.shared_app_setting:
        router.add_api_route(
            f"/{crm.kind}",
            shared,
            methods=["POST"],
            name=f"{crm.kind}_app",
            summary=f"{name}: a public app's single URL for every account it is installed in",
            response_model=dict[str, int],
        )


for _crm in REGISTRY:
    _routes(_crm)
