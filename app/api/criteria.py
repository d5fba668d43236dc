"""Criteria through the API: the active version, and a dry run of a candidate against the
stored contacts before anyone activates it (admin: criteria are the deployment's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select

from app.api.auth import Admin, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.criteria_dry_run import dry_run
from app.criteria_store import active_criteria
from app.models import CriteriaVersion
from qualification.criteria import CriteriaError, parse_criteria

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
