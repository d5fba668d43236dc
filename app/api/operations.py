"""The operations API: see connections and their syncs, trigger a resync (API keys: `auth`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt
from sqlalchemy import func, select

from app.api.auth import Admin, Operator, Principal, Reader, authenticate, bearer
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from app.audit import record
from app.connection_health import Health, health_of
from app.connection_settings import (
    MAX_BUDGET_SHARE,
    delete_connection,
    set_budget_share,
    set_interval,
    set_paused,
    set_writes,
)
from app.connections import lookup
from app.logging import get_logger
from app.metrics import WAKEUPS_FAILED
from app.models import (
    Connection,
    Contact,
    OutboxEntry,
    QualificationRecord,
    Scope,
    SyncCursor,
    SyncRun,
)
from app.runtime import Runtime

log = get_logger(__name__)


def require_token(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """The first API's dependency, kept for routers written against it (`Depends(require_token)`):
    any valid key, GLENGARRY_API_TOKEN included. New routes take `Reader`, `Operator`, `Admin`."""
    authenticate(request, runtime, credentials)


require_token.required_scope = Scope.READ  # type: ignore[attr-defined]
router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)


class ResyncRequest(BaseModel):
    # Unknown keys are ignored, and named in a warning and in the answer; `full` is a JSON
    # boolean, never "yes" or 1.
    model_config = ConfigDict(extra="allow")
    full: StrictBool = False

    @property
    def unknown_keys(self) -> list[str]:
        """The keys ignored, the first ten, each cut to 40 characters (they are repeated back)."""
        return [key[:40] for key in sorted(self.model_extra or {})[:10]]


class ResyncAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    connection: str
    queued: str
    ignored_keys: list[str] | None = None


class RunView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    state: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None


class ConnectionView(BaseModel):
    id: int
    name: str
    kind: str
    account_id: str | None
    field_state: str
    writes_enabled: bool
    api_budget_share: float
    paused: bool
    sync_interval_seconds: int | None = Field(
        description="Its own scheduled-sync interval; null is the service's default"
    )
    cursor: str | None
    statuses: dict[str, int]
    outbox: dict[str, int]
    last_run: RunView | None
    health: Health = Field(
        description="The last sync and the last good one, cursor and webhook ages, what waits "
        "in the inbox and outbox, rejects, and today's API calls against the day's budget"
    )


def _run_view(run: SyncRun) -> RunView:
    return RunView.model_validate(run)


def _view(runtime: Runtime, connection: Connection) -> ConnectionView:
    with runtime.sessions() as session:
        cursor = session.get(SyncCursor, (connection.id, "contacts"))
        statuses = dict(
            session.execute(
                select(QualificationRecord.status, func.count())
                .join(Contact, Contact.id == QualificationRecord.contact_id)
                .where(Contact.connection_id == connection.id, Contact.deleted_at.is_(None))
                .group_by(QualificationRecord.status)
            ).all()
        )
        outbox = dict(
            session.execute(
                select(OutboxEntry.state, func.count())
                .where(OutboxEntry.connection_id == connection.id)
                .group_by(OutboxEntry.state)
            ).all()
        )
        run = session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection.id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        ).first()
        return ConnectionView(
            id=connection.id,
            name=connection.name,
            kind=connection.kind,
            account_id=connection.account_id,
            field_state=connection.field_state,
            writes_enabled=connection.writes_enabled,
            api_budget_share=connection.api_budget_share,
            paused=connection.paused,
            sync_interval_seconds=connection.sync_interval_seconds,
            cursor=cursor.cursor if cursor else None,
            statuses=statuses,
            outbox=outbox,
            last_run=_run_view(run) if run else None,
            health=health_of(session, runtime.settings, connection, runtime.clock.now()),
        )


def find_for(runtime: Runtime, principal: Principal, ref: str) -> Connection:
    """The connection `ref` names, if the caller's key sees it: 404 alike otherwise."""
    with runtime.sessions() as session:
        connection = lookup(session, ref)
        if connection is None or not principal.sees(connection):
            # No list of the names there are: a caller learns only about what it asked for.
            raise ApiError(404, f"no connection {ref[:100]!r}")
        session.expunge(connection)
        return connection


@router.get("/connections")
def list_connections(runtime: RuntimeDep, principal: Reader) -> list[ConnectionView]:
    with runtime.sessions() as session:
        query = select(Connection).where(Connection.deleted_at.is_(None)).order_by(Connection.name)
        if principal.connection_id is not None:
            query = query.where(Connection.id == principal.connection_id)
        connections = session.scalars(query).all()
        for connection in connections:
            session.expunge(connection)
    return [_view(runtime, c) for c in connections]


@router.get("/connections/{connection}")
def get_connection(connection: str, runtime: RuntimeDep, principal: Reader) -> ConnectionView:
    return _view(runtime, find_for(runtime, principal, connection))


@router.get("/connections/{connection}/runs")
def list_runs(
    connection: str,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[RunView]:
    found = find_for(runtime, principal, connection)
    with runtime.sessions() as session:
        runs = session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == found.id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        ).all()
        return [_run_view(r) for r in runs]


def refuse_paused(connection: Connection) -> None:
    if connection.paused:
        raise ApiError(
            409,
            f"connection {connection.name!r} is paused: no sync runs until "
            f"POST /connections/{connection.name}/resume",
            code="connection_paused",
        )


_PAUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The connection is paused"}
}


@router.post(
    "/connections/{connection}/resync",
    status_code=202,
    response_model_exclude_none=True,
    responses=_PAUSED,
)
def resync(
    connection: str, runtime: RuntimeDep, principal: Operator, request: ResyncRequest | None = None
) -> ResyncAnswer:
    """Queue a sync (incremental, or full with {"full": true}); one per connection at a time."""
    found = find_for(runtime, principal, connection)
    refuse_paused(found)
    full = bool(request and request.full)
    ignored = request.unknown_keys if request else []
    if request and ignored:
        count = len(request.model_extra or {})
        log.warning("resync request: unknown keys ignored", count=count, keys=ignored)
    try:
        runtime.wake.sync(found.id, full)
    except Exception as exc:  # a resync lives only in the queue: unreachable means not queued
        WAKEUPS_FAILED.labels("incremental_sync").inc()
        log.warning("could not queue a resync", connection=found.name, error=type(exc).__name__)
        raise ApiError(
            503, "the queue cannot be reached: the resync was not queued; try again"
        ) from None
    queued = "full" if full else "incremental"
    with runtime.sessions.begin() as session:
        record(
            session,
            actor=principal.name,
            action="resync",
            at=runtime.clock.now(),
            connection=found.name,
            details={"kind": queued},
        )
    return ResyncAnswer(connection=found.name, queued=queued, ignored_keys=ignored or None)


class SettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a setting misspelt must not pass for done

    writes_enabled: StrictBool | None = None
    # A JSON number: never "0.5" or true.
    api_budget_share: StrictFloat | StrictInt | None = Field(None, gt=0, le=MAX_BUDGET_SHARE)
    # Seconds; the scheduled sync runs when this long has passed since the last one.
    sync_interval_seconds: StrictInt | None = Field(None, ge=60, le=86_400)


@router.patch("/connections/{connection}/settings")
def change_settings(
    connection: str, request: SettingsRequest, runtime: RuntimeDep, principal: Admin
) -> ConnectionView:
    """Writes on or off (shadow mode: scoring goes on), and the share of the CRM's daily API
    allocation the sync may spend. Each change is audited."""
    found = find_for(runtime, principal, connection)
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        row = session.get(Connection, found.id)
        assert row is not None
        if request.writes_enabled is not None:
            set_writes(session, row, request.writes_enabled, actor=principal.name, at=now)
        if request.api_budget_share is not None:
            share = float(request.api_budget_share)
            set_budget_share(session, row, share, actor=principal.name, at=now)
        if request.sync_interval_seconds is not None:
            set_interval(session, row, request.sync_interval_seconds, actor=principal.name, at=now)
        session.flush()
        session.expunge(row)
    if request.writes_enabled:
        try:  # what waited while writes were off goes out now
            runtime.wake.relay(found.id)
        except Exception as exc:  # the sweeper finds the due rows
            log.warning("could not wake the relay", error=type(exc).__name__)
    return _view(runtime, row)


def _set_paused(runtime: Runtime, principal: Principal, ref: str, paused: bool) -> ConnectionView:
    found = find_for(runtime, principal, ref)
    with runtime.sessions.begin() as session:
        row = session.get(Connection, found.id)
        assert row is not None
        set_paused(session, row, paused, actor=principal.name, at=runtime.clock.now())
        session.flush()
        session.expunge(row)
    if not paused:
        try:  # the webhook events stored and the writes held while paused go now
            runtime.wake.inbox(found.id)
            runtime.wake.relay(found.id)
        except Exception as exc:  # the sweeper finds them within a minute
            log.warning("could not wake the workers", error=type(exc).__name__)
    return _view(runtime, row)


@router.post("/connections/{connection}/pause")
def pause(connection: str, runtime: RuntimeDep, principal: Admin) -> ConnectionView:
    """No scheduled or requested sync and no webhook processing until resumed; webhooks are
    still accepted and stored. Audited."""
    return _set_paused(runtime, principal, connection, True)


@router.post("/connections/{connection}/resume")
def resume(connection: str, runtime: RuntimeDep, principal: Admin) -> ConnectionView:
    """Scheduled syncs again, and the webhook events stored meanwhile are processed. Audited."""
    return _set_paused(runtime, principal, connection, False)


class DeleteAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    connection: str
    purged: bool


@router.delete("/connections/{connection}")
def remove(
    connection: str,
    runtime: RuntimeDep,
    principal: Admin,
    purge: Annotated[bool, Query(description="Remove its stored data too")] = False,
) -> DeleteAnswer:
    """Its work stops at once and it is unknown afterwards (webhooks to it answer 404); its
    stored data is kept, unless `purge`: then all of it is removed in one transaction."""
    found = find_for(runtime, principal, connection)
    with runtime.sessions.begin() as session:
        row = session.get(Connection, found.id, with_for_update=True)
        if row is None:
            raise ApiError(404, f"no connection {connection[:100]!r}")
        done = delete_connection(
            session, row, purge=purge, actor=principal.name, at=runtime.clock.now()
        )
    return DeleteAnswer(connection=done.name, purged=done.purged)
