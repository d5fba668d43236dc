"""The operations API: see connections and their syncs, trigger a resync. Bearer-token only."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from app.api.deps import RuntimeDep
from app.connections import UnknownConnection, find
from app.models import Connection, Contact, OutboxEntry, QualificationRecord, SyncCursor, SyncRun
from app.runtime import Runtime


def require_token(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    expected = runtime.settings.api_token
    if expected is None:
        raise HTTPException(403, "the operations API is off: set GLENGARRY_API_TOKEN")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


router = APIRouter(tags=["operations"], dependencies=[Depends(require_token)])


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: bool = False


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
    cursor: str | None
    statuses: dict[str, int]
    outbox: dict[str, int]
    last_run: RunView | None


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
            cursor=cursor.cursor if cursor else None,
            statuses=statuses,
            outbox=outbox,
            last_run=_run_view(run) if run else None,
        )


def _find(runtime: Runtime, ref: str) -> Connection:
    with runtime.sessions() as session:
        try:
            connection = find(session, ref)
        except UnknownConnection as exc:
            raise HTTPException(404, str(exc)) from None
        session.expunge(connection)
        return connection


@router.get("/connections")
def list_connections(runtime: RuntimeDep) -> list[ConnectionView]:
    with runtime.sessions() as session:
        connections = session.scalars(select(Connection).order_by(Connection.name)).all()
        for connection in connections:
            session.expunge(connection)
    return [_view(runtime, c) for c in connections]


@router.get("/connections/{connection}")
def get_connection(connection: str, runtime: RuntimeDep) -> ConnectionView:
    return _view(runtime, _find(runtime, connection))


@router.get("/connections/{connection}/runs")
def list_runs(
    connection: str, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[RunView]:
    found = _find(runtime, connection)
    with runtime.sessions() as session:
        runs = session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == found.id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        ).all()
        return [_run_view(r) for r in runs]


@router.post("/connections/{connection}/resync", status_code=202)
def resync(
    connection: str, runtime: RuntimeDep, request: ResyncRequest | None = None
) -> dict[str, Any]:
    """Queue a sync (incremental, or full with {"full": true}); one per connection at a time."""
    found = _find(runtime, connection)
    full = bool(request and request.full)
    runtime.wake.sync(found.id, full)
    return {"connection": found.name, "queued": "full" if full else "incremental"}
