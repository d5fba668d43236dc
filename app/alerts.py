"""Alerts: a connection's conditions checked every minute, each sent to its Slack-compatible
incoming webhook once when it fires, again at most every `repeat_minutes` while it lasts, and
once more, resolved, when it clears.

Conditions: the last sync failed; rejects passed a share of the day's writes; the webhook
backlog passed a threshold; the outbox lags; no webhook arrived for a while although the CRM
shows changes (a silent subscription); the API budget is spent (the sync paused).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.logging import get_logger
from app.models import (
    AlertState,
    AlertTarget,
    Connection,
    InboxEvent,
    OutboxEntry,
    OutboxState,
    SyncKind,
    SyncRun,
    SyncState,
)
from app.runtime import Runtime

log = get_logger(__name__)
Post = Callable[[str, dict[str, Any]], None]
SYNCS = (SyncKind.BACKFILL, SyncKind.INCREMENTAL, SyncKind.CONTACTS)
POST_TIMEOUT_SECONDS = 10.0


def post_json(url: str, body: dict[str, Any]) -> None:
    """POST to an incoming webhook; no redirects followed (the URL is the one configured)."""
    response = httpx.post(url, json=body, timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)
    response.raise_for_status()


def conditions(
    session: Session, connection: Connection, target: AlertTarget, now: datetime
) -> dict[str, str]:
    """The conditions firing now, each with a line saying why."""
    firing: dict[str, str] = {}
    last = session.scalars(
        select(SyncRun)
        .where(
            SyncRun.connection_id == connection.id,
            SyncRun.kind.in_(SYNCS),
            SyncRun.finished_at.is_not(None),
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.state == SyncState.FAILED:
        firing["sync_failed"] = f"sync {last.id} failed: {(last.error or '')[:300]}"
    if last is not None and last.state == SyncState.PAUSED:
        firing["budget_spent"] = f"sync {last.id} paused: {(last.error or '')[:300]}"
    day = now - timedelta(days=1)
    by_state = dict(
        session.execute(
            select(OutboxEntry.state, func.count())
            .where(OutboxEntry.connection_id == connection.id, OutboxEntry.created_at >= day)
            .group_by(OutboxEntry.state)
        ).all()
    )
    writes, failed = sum(by_state.values()), by_state.get(OutboxState.FAILED, 0)
    if failed and writes and failed / writes >= target.reject_share:
        firing["rejects"] = (
            f"{failed} of {writes} writes of the last day refused by the CRM "
            f"({failed / writes:.0%}, threshold {target.reject_share:.0%})"
        )
    backlog = session.scalar(
        select(func.count()).where(
            InboxEvent.connection_id == connection.id, InboxEvent.processed_at.is_(None)
        )
    )
    if backlog and backlog > target.inbox_backlog:
        firing["webhook_backlog"] = f"{backlog} webhook events waiting (threshold "
        firing["webhook_backlog"] += f"{target.inbox_backlog})"
    oldest = session.scalar(
        select(func.min(OutboxEntry.created_at)).where(
            OutboxEntry.connection_id == connection.id, OutboxEntry.state == OutboxState.PENDING
        )
    )
    if oldest is not None and now - oldest > timedelta(minutes=target.outbox_lag_minutes):
        minutes = (now - oldest).total_seconds() / 60
        firing["outbox_lag"] = f"the oldest pending write waits for {minutes:.0f} minutes"
    silent_since = now - timedelta(minutes=target.silent_minutes)
    received = session.scalar(
        select(func.max(InboxEvent.received_at)).where(InboxEvent.connection_id == connection.id)
    )
    changed = (
        last is not None
        and last.kind == SyncKind.INCREMENTAL
        and int((last.counts or {}).get("pulled", 0)) > 0
    )
    quiet = received is None or received < silent_since
    if changed and quiet and connection.created_at < silent_since:
        firing["silent_subscription"] = (
            f"no webhook for {target.silent_minutes:.0f} minutes, but the last incremental sync "
            "found changes: is the CRM's webhook subscription still there?"
        )
    return firing


def check_alerts(runtime: Runtime, post: Post = post_json) -> list[tuple[str, str, str]]:
    """Check every connection with an alert URL; what was sent: (connection, condition, kind)."""
    now = runtime.clock.now()
    sent: list[tuple[str, str, str]] = []
    with runtime.sessions.begin() as session:
        targets = session.execute(
            select(AlertTarget, Connection).join(
                Connection, Connection.id == AlertTarget.connection_id
            )
        ).all()
        for target, connection in targets:
            url = str(runtime.vault.decrypt(target.url, what="an alert URL")["url"])
            firing = conditions(session, connection, target, now)
            states = {
                s.condition: s
                for s in session.scalars(
                    select(AlertState).where(AlertState.connection_id == connection.id)
                )
            }
            repeat = timedelta(minutes=target.repeat_minutes)
            for condition, detail in firing.items():
                state = states.get(condition)
                if state is None:
                    state = AlertState(
                        connection_id=connection.id, condition=condition, since=now, detail=detail
                    )
                    session.add(state)
                elif state.last_sent_at is not None and now - state.last_sent_at < repeat:
                    continue  # deduplicated: said already, not yet time to say it again
                kind = "firing" if state.last_sent_at is None else "still firing"
                if _send(post, url, connection.name, condition, f"{kind}: {detail}"):
                    state.last_sent_at, state.detail = now, detail
                    sent.append((connection.name, condition, kind))
            for condition, state in states.items():
                if condition in firing:
                    continue
                if state.last_sent_at is None or _send(
                    post, url, connection.name, condition, f"resolved: {state.detail}"
                ):
                    session.delete(state)
                    if state.last_sent_at is not None:
                        sent.append((connection.name, condition, "resolved"))
    return sent


def _send(post: Post, url: str, connection: str, condition: str, text: str) -> bool:
    body = {"text": f"[glengarry] {connection}: {condition} {text}"[:3000]}
    try:
        post(url, body)
    except Exception as exc:  # tried again at the next check
        log.warning(
            "could not send an alert",
            connection=connection,
            condition=condition,
            error=type(exc).__name__,
        )
        return False
    log.info("alert sent", connection=connection, condition=condition)
    return True
