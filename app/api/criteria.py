"""Criteria through the API: the active version, and a dry run of a candidate against the
stored contacts before anyone activates it (admin: criteria are the deployment's)."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.auth import Admin, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.api.syncs import RunOut, run_out
from app.audit import record
from app.criteria_dry_run import dry_run
from app.criteria_store import activate, active_criteria, store_version, stored_version
from app.errors import InputError
from app.logging import get_logger
from app.models import AuditEntry, CriteriaVersion
from app.rescores import request_rescore
from qualification.criteria import Criteria, CriteriaError, parse_criteria

log = get_logger(__name__)
router = APIRouter(tags=["criteria"], responses=ERROR_RESPONSES)


class ActiveOut(BaseModel):
    version: str
    name: str
    content: str


class DryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: str = Field(min_length=1, max_length=60_000, description="The candidate's YAML")
    examples: StrictInt = Field(3, ge=0, le=20, description="Examples per change of status")


class ChangeExample(BaseModel):
    contact_id: int
    crm_id: str
    connection: str | None
    reasons: str


class StatusChange(BaseModel):
    from_: str = Field(alias="from")
    to: str
    count: int
    examples: list[ChangeExample]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class DryRunOut(BaseModel):
    version: str
    active_version: str
    scored: int
    would_change: int
    changes: list[StatusChange]


@router.get("/criteria/active")
def get_active(runtime: RuntimeDep, principal: Reader) -> ActiveOut:
    with runtime.sessions.begin() as session:
        active = active_criteria(session, runtime.clock.now(), runtime.settings.criteria_file)
        row = session.scalars(
            select(CriteriaVersion).where(CriteriaVersion.version == active.version)
        ).one()
        return ActiveOut(version=active.version, name=active.criteria.name, content=row.content)


@router.post("/criteria/dry-run")
def post_dry_run(request: DryRunRequest, runtime: RuntimeDep, principal: Admin) -> DryRunOut:
    """Score every stored contact (those of the key's connection, for a bound key) under the
    candidate; nothing is written. 422 names the key path of each problem in the YAML."""
    try:
        candidate = parse_criteria(request.criteria, "criteria")
    except CriteriaError as exc:
        raise ApiError(
            422,
            "the criteria are invalid",
            code="invalid_criteria",
            details=[_problem(p) for p in exc.problems],
        ) from None
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        active = active_criteria(session, now, runtime.settings.criteria_file)
        result = dry_run(
            session,
            candidate,
            now,
            examples=request.examples,
            connection_id=principal.connection_id,
        )
    return DryRunOut.model_validate({**result.as_json(), "active_version": active.version})


def _problem(text: str) -> dict[str, Any]:
    """ "<key.path>: <problem>" as {"path": "fit[0].points", "msg": ...}."""
    path, sep, message = text.partition(": ")
    if not sep:
        return {"path": "", "msg": text[:500]}
    return {"path": path[:200], "msg": message[:500]}


class VersionOut(BaseModel):
    version: str
    name: str | None
    active: bool
    created_at: datetime
    activated_at: datetime | None
    activated_by: str | None = Field(description="The key (or cli:USER) that last activated it")


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: str = Field(min_length=1, max_length=60_000)


class ActivateOut(BaseModel):
    version: str
    activated: bool
    rescore: RunOut | None = Field(
        description="The rescore of every contact this activation queued (a run like a "
        "sync: `GET /syncs/{id}`, `/syncs/{id}/events`, `POST /syncs/{id}/cancel`); null "
        "when the version was active already. It supersedes a rescore still queued or running."
    )


class DiffOut(BaseModel):
    a: str
    b: str
    diff: str = Field(description="Unified diff of the two versions' YAML")


@router.get("/criteria/versions")
def list_versions(runtime: RuntimeDep, principal: Reader) -> list[VersionOut]:
    """Every stored version, newest first, with who activated it last."""
    with runtime.sessions() as session:
        rows = session.scalars(select(CriteriaVersion).order_by(CriteriaVersion.id.desc())).all()
        by = dict(
            session.execute(
                select(AuditEntry.target, AuditEntry.actor)
                .where(AuditEntry.action == "criteria.activate")
                .order_by(AuditEntry.id)
            ).all()
        )
        return [
            VersionOut(
                version=row.version,
                name=_name(row.content),
                active=row.active,
                created_at=row.created_at,
                activated_at=row.activated_at,
                activated_by=by.get(row.version),
            )
            for row in rows
        ]


@router.post("/criteria/versions", status_code=201)
def post_version(
    request: ActivateRequest, response: Response, runtime: RuntimeDep, principal: Admin
) -> VersionOut:
    """Upload a version without activating it, to diff and dry-run first: 201 when new, 200
    when this content is stored already; 422 names each problem's key path. Audited."""
    if principal.connection_id is not None:
        raise ApiError(403, "a key bound to one connection cannot change every connection's")
    candidate = _parsed(request.criteria)
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        row, created = store_version(session, request.criteria, now, "api")
        if created:
            record(
                session,
                actor=principal.name,
                action="criteria.upload",
                at=now,
                target=row.version,
                details={"name": candidate.name},
            )
        else:
            response.status_code = 200
        return VersionOut(
            version=row.version,
            name=candidate.name,
            active=row.active,
            created_at=row.created_at,
            activated_at=row.activated_at,
            activated_by=None,
        )


def _parsed(text: str) -> Criteria:
    try:
        return parse_criteria(text, "criteria")
    except CriteriaError as exc:
        raise ApiError(
            422,
            "the criteria are invalid",
            code="invalid_criteria",
            details=[_problem(p) for p in exc.problems],
        ) from None


@router.get("/criteria/diff")
def diff_versions(
    runtime: RuntimeDep,
    principal: Reader,
    a: Annotated[str, Query(pattern="^[0-9a-f]{1,64}$")],
    b: Annotated[str, Query(pattern="^[0-9a-f]{1,64}$")],
) -> DiffOut:
    """Two stored versions (by content hash, or a unique prefix of one) line by line."""
    with runtime.sessions() as session:
        left, right = _version(session, a), _version(session, b)
    lines = difflib.unified_diff(
        left.content.splitlines(keepends=True),
        right.content.splitlines(keepends=True),
        fromfile=left.version,
        tofile=right.version,
    )
    return DiffOut(a=left.version, b=right.version, diff="".join(lines))


@router.post("/criteria/activate")
def post_activate(request: ActivateRequest, runtime: RuntimeDep, principal: Admin) -> ActivateOut:
    """Store and activate a version; every contact is rescored in the background by the run
    in `rescore` (queued in the same transaction; listed at `GET /syncs?kind=rescore`,
    followed at `/syncs/{id}` and `/syncs/{id}/events`, cancelled at a batch boundary). A
    rescore still queued or running is superseded: the queued one is cancelled, the running
    one stops at its next batch boundary, and the new one starts after it, never two at once.
    422 names each problem's key path."""
    if principal.connection_id is not None:
        raise ApiError(403, "a key bound to one connection cannot change every connection's")
    candidate = _parsed(request.criteria)
    now = runtime.clock.now()
    rescore: RunOut | None = None
    with runtime.sessions.begin() as session:
        result = activate(session, request.criteria, now, "api")
        if result.changed:
            run = request_rescore(session, result.version, now, reason="criteria activated")
            rescore = run_out(run, None, now)
            record(
                session,
                actor=principal.name,
                action="criteria.activate",
                at=now,
                target=result.version,
                details={"name": candidate.name, "rescore": run.id},
            )
    if rescore is not None:
        try:
            runtime.wake.rescore_all()
        except Exception as exc:  # the row is the request: the sweeper wakes it within a minute
            log.warning("could not wake a worker for the rescore", error=type(exc).__name__)
    return ActivateOut(version=result.version, activated=result.changed, rescore=rescore)


def _version(session: Session, ref: str) -> CriteriaVersion:
    try:
        return stored_version(session, ref)
    except InputError as exc:
        raise ApiError(404, str(exc)) from None


def _name(content: str) -> str | None:
    try:
        return parse_criteria(content, "stored criteria").name
    except CriteriaError:
        return None
