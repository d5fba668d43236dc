"""Syncs: `POST /connections/{name}/syncs` queues one (409 while one is queued or running),
`GET /syncs/{id}` shows its progress, `POST /syncs/{id}/cancel` stops it at the next batch
boundary, `GET /syncs/{id}/events` streams it as server-sent events until it ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from sqlalchemy import select

from app.api.auth import Operator, Principal, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from app.api.operations import find_for, refuse_paused
from app.audit import record
from app.logging import get_logger
from app.models import Connection, SyncKind, SyncRun
from app.runtime import Runtime
from app.syncs import FINISHED, NotCancellable, cancel, progress_of, request_sync

log = get_logger(__name__)
router = APIRouter(tags=["syncs"], responses=ERROR_RESPONSES)
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EVENTS_POLL_SECONDS = 0.25


class SyncRequest(BaseModel):
    # Strict: an operator's typo must not start a different sync than the one meant.
    model_config = ConfigDict(extra="forbid")

    kind: Literal["full", "incremental", "contacts"] = "incremental"
    contact_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=1000
    )
    dry_run: StrictBool = False

    @model_validator(mode="after")
    def _ids_for_contacts_only(self) -> SyncRequest:
        if self.kind == "contacts" and not self.contact_ids:
            raise ValueError("kind 'contacts' needs contact_ids")
        if self.kind != "contacts" and self.contact_ids:
            raise ValueError("contact_ids go with kind 'contacts' only")
        return self


class Progress(BaseModel):
    done: int
    total: int | None


class RunOut(BaseModel):
    id: int
    connection: str | None
    kind: str
    state: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    progress: Progress
    rate: float | None = Field(description="Contacts per second so far")
    eta_seconds: float | None
    resumes_at: str | None = Field(description="When a sync paused on the API budget resumes")
    counts: dict[str, Any]
    error: str | None


def run_out(run: SyncRun, connection: str | None, now: datetime) -> RunOut:
    return RunOut(
        id=run.id,
        connection=connection,
        kind=run.kind,
        state=run.state,
        dry_run=run.dry_run,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=dict(run.counts or {}),
        error=run.error,
        **progress_of(run, now),
    )


@router.post(
    "/connections/{connection}/syncs",
    status_code=202,
    responses={
        409: {
            "model": ErrorBody,
            "description": "A sync is queued or running (`details` is it), or the connection "
            "is paused (code `connection_paused`)",
        }
    },
)
def start_sync(
    connection: str, request: SyncRequest, runtime: RuntimeDep, principal: Operator
) -> RunOut:
    found = find_for(runtime, principal, connection)
    refuse_paused(found)
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        asked = request_sync(
            session,
            found,
            kind=request.kind,
            contact_ids=request.contact_ids,
            dry_run=request.dry_run,
            now=now,
        )
        shown = run_out(asked.run, found.name, now)
        if asked.created:
            record(
                session,
                actor=principal.name,
                action="sync.start",
                at=now,
                connection=found.name,
                target=str(asked.run.id),
                details=request.model_dump(exclude_defaults=True),
            )
    if not asked.created:
        raise ApiError(
            409,
            f"sync {shown.id} of {found.name} is {shown.state}: one at a time",
            code="sync_running",
            details=shown.model_dump(mode="json"),
        )
    try:
        runtime.wake.sync_run(found.id, shown.id)
    except Exception as exc:  # the row is the request: the sweeper wakes it within a minute
        log.warning("could not wake a worker for a queued sync", error=type(exc).__name__)
    return shown


@router.get("/connections/{connection}/syncs")
def list_syncs(
    connection: str,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[RunOut]:
    found = find_for(runtime, principal, connection)
    now = runtime.clock.now()
    with runtime.sessions() as session:
        runs = session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == found.id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        ).all()
        return [run_out(r, found.name, now) for r in runs]


@router.get("/syncs")
def list_all_syncs(
    runtime: RuntimeDep,
    principal: Reader,
    kind: Annotated[SyncKind | None, Query(description="Only runs of this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[RunOut]:
    """Every connection's runs and the rescores of every contact (no connection: a criteria
    activation's, a capacity bar's), newest first. A key bound to one connection sees only
    that connection's."""
    now = runtime.clock.now()
    query = (
        select(SyncRun, Connection.name)
        .outerjoin(Connection, Connection.id == SyncRun.connection_id)
        # A deleted connection is unknown everywhere; a rescore has none.
        .where(Connection.deleted_at.is_(None))
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    if principal.connection_id is not None:
        query = query.where(SyncRun.connection_id == principal.connection_id)
    with runtime.sessions() as session:
        return [run_out(run, name, now) for run, name in session.execute(query).all()]


def _seen(runtime: Runtime, principal: Principal, run_id: int) -> RunOut:
    with runtime.sessions() as session:
        row = session.execute(
            select(SyncRun, Connection)
            .outerjoin(Connection, Connection.id == SyncRun.connection_id)
            .where(SyncRun.id == run_id)
        ).first()
        if row is None or (row[1] is not None and not principal.sees(row[1])):
            raise ApiError(404, f"no sync {run_id}")
        if row[1] is None and principal.connection_id is not None:
            raise ApiError(404, f"no sync {run_id}")  # a rescore of every connection
        return run_out(row[0], row[1].name if row[1] else None, runtime.clock.now())


@router.get("/syncs/{run_id}")
def get_sync(run_id: RunId, runtime: RuntimeDep, principal: Reader) -> RunOut:
    return _seen(runtime, principal, run_id)


@router.post("/syncs/{run_id}/cancel")
def cancel_sync(run_id: RunId, runtime: RuntimeDep, principal: Operator) -> RunOut:
    """Queued: cancelled now. Running: `cancelling`, and it stops at its next batch boundary
    with everything done so far kept."""
    shown = _seen(runtime, principal, run_id)
    now = runtime.clock.now()
    try:
        with runtime.sessions.begin() as session:
            run = cancel(session, run_id, now)
            if run is None:
                raise ApiError(404, f"no sync {run_id}")
            record(
                session,
                actor=principal.name,
                action="sync.cancel",
                at=now,
                connection=shown.connection,
                target=str(run_id),
                details={"state": run.state},
            )
            return run_out(run, shown.connection, now)
    except NotCancellable as exc:
        raise ApiError(
            409, str(exc), code="sync_ended", details=shown.model_dump(mode="json")
        ) from None


@router.get(
    "/syncs/{run_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "One `run` event "
            "per change of the run (the JSON of GET /syncs/{id}), until it ends",
        }
    },
)
def sync_events(
    run_id: RunId, request: Request, runtime: RuntimeDep, principal: Reader
) -> StreamingResponse:
    first = _seen(runtime, principal, run_id)

    async def events() -> AsyncIterator[str]:
        shown: RunOut | None = first
        last = ""
        while shown is not None:
            data = json.dumps(shown.model_dump(mode="json"))
            if data != last:
                yield f"event: run\nid: {run_id}\ndata: {data}\n\n"
                last = data
            if shown.state in FINISHED or await request.is_disconnected():
                return
            await asyncio.sleep(EVENTS_POLL_SECONDS)
            try:
                shown = await asyncio.to_thread(_seen, runtime, principal, run_id)
            except ApiError:  # its connection was deleted meanwhile
                return

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
