"""Rejected records: what the CRM refused to take, why, and a retry (all, or some)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.api.auth import Operator, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES
from app.api.operations import find_for
from app.audit import record
from app.logging import get_logger
from app.rejects import list_rejects, retry_rejects

log = get_logger(__name__)
router = APIRouter(tags=["rejects"], responses=ERROR_RESPONSES)
Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class RejectOut(BaseModel):
    id: int
    contact_id: int
    crm_id: str
    reason: str | None = Field(description="The CRM's own code and message")
    values: dict[str, Any] = Field(description="The values we tried to write")
    attempts: int
    last_attempt_at: datetime | None
    created_at: datetime


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Id] | None = Field(None, max_length=10_000, description="Omitted: all rejects")


class RetryAnswer(BaseModel):
    queued: list[int]


@router.get("/connections/{connection}/rejects")
def get_rejects(
    connection: str,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[RejectOut]:
    """Oldest first; `after` (the last id seen) pages on."""
    found = find_for(runtime, principal, connection)
    with runtime.sessions() as session:
        return [
            RejectOut(**r.__dict__)
            for r in list_rejects(session, found.id, limit=limit, after=after)
        ]


@router.post("/connections/{connection}/rejects/retry", status_code=202)
def retry(
    connection: str,
    runtime: RuntimeDep,
    principal: Operator,
    request: RetryRequest | None = None,
) -> RetryAnswer:
    """Queue rejects again with their attempts starting over; ids that are not rejects (of this
    connection) are left out of the answer."""
    found = find_for(runtime, principal, connection)
    ids = request.ids if request else None
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        queued = retry_rejects(session, found.id, ids, now)
        record(
            session,
            actor=principal.name,
            action="rejects.retry",
            at=now,
            connection=found.name,
            details={"asked": "all" if ids is None else len(ids), "queued": len(queued)},
        )
    if queued:
        try:
            runtime.wake.relay(found.id)
        except Exception as exc:  # the rows are due: the sweeper wakes the relay
            log.warning("could not wake the relay for retried rejects", error=type(exc).__name__)
    return RetryAnswer(queued=queued)
