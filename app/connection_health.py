"""A connection's health as a sync health page shows it: the last sync and the last good one,
how old the cursor and the newest webhook are, what waits in the inbox and the outbox, the
records the CRM refused, and today's API calls against the day's budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.crms import crm_for
from app.models import (
    ApiUsage,
    Connection,
    InboxEvent,
    OutboxEntry,
    SyncCursor,
    SyncRun,
    SyncState,
)
from app.models.outbox import OutboxState
from app.settings import Settings
from connectors.http import Limit

GOOD = (SyncState.SUCCEEDED, SyncState.PARTIAL)


@dataclass(frozen=True, slots=True)
class Health:
    last_sync_at: datetime | None
    last_sync_state: str | None
    last_success_at: datetime | None
    cursor_updated_at: datetime | None
    cursor_age_seconds: float | None
    last_webhook_at: datetime | None
    webhook_age_seconds: float | None
    inbox_backlog: int  # events stored, not yet processed
    outbox_pending: int  # writes waiting to go to the CRM
    rejects: int  # writes the CRM refused for good (see the rejects route)
    api_calls_today: int
    api_rate_limited_today: int
    api_budget_per_day: int | None  # None: the CRM's allocation is org-wide, read per response

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round(max(0.0, (now - moment).total_seconds()), 1)


def daily_budget(settings: Settings, connection: Connection) -> int | None:
    """The day-scoped client limit, when the CRM's connector keeps one (the connection's share
    of the account's day); None where the CRM reports its org-wide usage on each answer."""
    _, buckets = crm_for(connection.kind).rate_limits(
        connection.options or {}, connection.api_budget_share, settings.rate_limit_headroom
    )
    days = {
        limit.item.amount
        for limits in buckets.values()
        for limit in limits
        if isinstance(limit, Limit) and limit.scope == "day"
    }
    return min(days) if days else None


def health_of(
    session: Session, settings: Settings, connection: Connection, now: datetime
) -> Health:
    cid = connection.id
    last = session.scalars(
        select(SyncRun).where(SyncRun.connection_id == cid).order_by(SyncRun.id.desc()).limit(1)
    ).first()
    success = _aware(
        session.scalar(
            select(func.max(SyncRun.finished_at)).where(
                SyncRun.connection_id == cid, SyncRun.state.in_(GOOD), SyncRun.dry_run.is_(False)
            )
        )
    )
    cursor = session.get(SyncCursor, (cid, "contacts"))
    cursor_at = _aware(cursor.updated_at) if cursor is not None else None
    webhook = _aware(
        session.scalar(
            select(func.max(InboxEvent.received_at)).where(InboxEvent.connection_id == cid)
        )
    )
    backlog = session.scalar(
        select(func.count())
        .select_from(InboxEvent)
        .where(InboxEvent.connection_id == cid, InboxEvent.processed_at.is_(None))
    )
    outbox = dict(
        session.execute(
            select(OutboxEntry.state, func.count())
            .where(OutboxEntry.connection_id == cid)
            .group_by(OutboxEntry.state)
        ).all()
    )
    calls, limited = session.execute(
        select(
            func.coalesce(func.sum(ApiUsage.calls), 0),
            func.coalesce(func.sum(ApiUsage.rate_limited), 0),
        ).where(ApiUsage.connection_id == cid, ApiUsage.day == now.date())
    ).one()
    return Health(
        last_sync_at=_aware(last.finished_at or last.started_at) if last else None,
        last_sync_state=last.state if last else None,
        last_success_at=success,
        cursor_updated_at=cursor_at,
        cursor_age_seconds=_age(now, cursor_at),
        last_webhook_at=webhook,
        webhook_age_seconds=_age(now, webhook),
        inbox_backlog=int(backlog or 0),
        outbox_pending=int(outbox.get(OutboxState.PENDING, 0)),
        rejects=int(outbox.get(OutboxState.FAILED, 0)),
        api_calls_today=int(calls),
        api_rate_limited_today=int(limited),
        api_budget_per_day=daily_budget(settings, connection),
    )
