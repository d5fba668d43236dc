"""Webhook receiver: verify first, validate, store in the inbox, answer fast. No CRM call here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from app.api.deps import RuntimeDep
from app.connections import UnknownConnection, find, webhook_source
from app.inbox import store_events
from app.logging import get_logger
from app.metrics import EVENTS, LAST_WEBHOOK
from app.models import Connection, CrmKind
from app.runtime import Runtime
from connectors.base import ChangeEvent, WebhookSource
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.hubspot.webhook import HubSpotWebhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = get_logger(__name__)
SOURCE = "hubspot"


@dataclass(frozen=True)
class Delivery:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


async def _read(request: Request, limit: int) -> Delivery:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"delivery larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"delivery larger than {limit} bytes")
    return Delivery(request.method, str(request.url), dict(request.headers), bytes(body))


def _verify_and_parse(source: WebhookSource, delivery: Delivery) -> Sequence[ChangeEvent]:
    try:
        source.verify(delivery.method, delivery.url, delivery.headers, delivery.body)
    except SignatureError as exc:
        raise HTTPException(401, f"signature refused: {exc}") from None
    try:
        return source.parse(delivery.body)
    except WebhookPayloadError as exc:
        raise HTTPException(400, str(exc)) from None


def _store(runtime: Runtime, by_connection: Mapping[int, list[ChangeEvent]]) -> dict[str, int]:
    now = runtime.clock.now()
    totals = {"stored": 0, "duplicates": 0}
    with runtime.sessions.begin() as session:
        names = dict(
            session.execute(
                select(Connection.id, Connection.name).where(Connection.id.in_(by_connection))
            ).all()
        )
        stored = {
            cid: store_events(session, SOURCE, cid, events, now)
            for cid, events in by_connection.items()
        }
    for cid, result in stored.items():
        name = names.get(cid, str(cid))
        EVENTS.labels(name, "received").inc(result.new)
        EVENTS.labels(name, "duplicate").inc(result.duplicates)
        LAST_WEBHOOK.labels(name).set(now.timestamp())
        totals["stored"] += result.new
        totals["duplicates"] += result.duplicates
        if result.new:
            runtime.wake.inbox(cid)
    return totals


def _for_connection(runtime: Runtime, ref: str, delivery: Delivery) -> dict[str, int]:
    with runtime.sessions() as session:
        try:
            connection = find(session, ref)
        except UnknownConnection:
            raise HTTPException(404, f"no connection {ref!r}") from None
        session.expunge(connection)
    source = webhook_source(runtime, connection)
    if source is None:
        raise HTTPException(
            401, f"connection {connection.name} has no app client secret to verify with"
        )
    events = _verify_and_parse(source, delivery)
    served = [e for e in events if e.account_id == connection.account_id]
    ignored = len(events) - len(served)
    EVENTS.labels(connection.name, "ignored").inc(ignored)
    return {**_store(runtime, {connection.id: served}), "ignored": ignored}


def _portals(body: bytes) -> set[str]:
    try:
        raw = json.loads(body)
    except ValueError:
        return set()
    if not isinstance(raw, list):
        return set()
    return {str(e.get("portalId")) for e in raw if isinstance(e, dict) and "portalId" in e}


def _for_app(runtime: Runtime, delivery: Delivery) -> dict[str, int]:
    """One URL for a public app serving many portals: events are routed by `portalId`."""
    with runtime.sessions() as session:
        connections = session.scalars(
            select(Connection).where(
                Connection.kind == CrmKind.HUBSPOT,
                Connection.account_id.in_(_portals(delivery.body)),
            )
        ).all()
        for connection in connections:
            session.expunge(connection)
    by_portal = {c.account_id: c for c in connections}
    candidates: list[WebhookSource] = []
    app_secret = runtime.settings.hubspot_app_client_secret
    if app_secret is not None:
        candidates.append(HubSpotWebhooks(app_secret.get_secret_value(), now=runtime.clock.now))
    candidates.extend(s for c in connections if (s := webhook_source(runtime, c)) is not None)
    if not candidates:
        raise HTTPException(401, "no app client secret to verify this delivery with")
    events: Sequence[ChangeEvent] | None = None
    refusal: HTTPException | None = None
    for source in candidates:  # the connections of one public app share its secret
        try:
            events = _verify_and_parse(source, delivery)
            break
        except HTTPException as exc:
            refusal = exc
            if exc.status_code != 401:
                raise
    if events is None:
        assert refusal is not None
        raise refusal
    routed: dict[int, list[ChangeEvent]] = {}
    ignored = 0
    for event in events:
        target = by_portal.get(event.account_id)
        if target is None:
            ignored += 1
            continue
        routed.setdefault(target.id, []).append(event)
    EVENTS.labels("unrouted", "ignored").inc(ignored)
    return {**_store(runtime, routed), "ignored": ignored}


@router.post("/hubspot/{connection}")
async def hubspot_connection(
    connection: str, request: Request, runtime: RuntimeDep
) -> dict[str, int]:
    """A private app's (or one connection's) webhook URL."""
    delivery = await _read(request, runtime.settings.webhook_max_body_bytes)
    return await run_in_threadpool(_for_connection, runtime, connection, delivery)


@router.post("/hubspot")
async def hubspot_app(request: Request, runtime: RuntimeDep) -> dict[str, int]:
    """A public app's single webhook URL for every portal it is installed in."""
    delivery = await _read(request, runtime.settings.webhook_max_body_bytes)
    return await run_in_threadpool(_for_app, runtime, delivery)
