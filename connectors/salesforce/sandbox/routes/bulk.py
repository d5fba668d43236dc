"""Bulk API 2.0 query jobs (`jobs/query`), and `/_sandbox/bulk`: the plan new jobs follow
(how many `InProgress` answers, whether they end `Failed` or `Aborted` part way, whether a
complete job is deleted after some result pages) and the jobs there are."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from connectors.salesforce.sandbox.bulk import QueryJobs
from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.gateway import session_token
from connectors.salesforce.sandbox.routes.common import json_object
from connectors.salesforce.sandbox.runtime import RuntimeDep

router = APIRouter()
JOBS = f"{DATA}/jobs/query"


def jobs_of(request: Request) -> QueryJobs:
    return cast(QueryJobs, request.app.state.bulk)


JobsDep = Annotated[QueryJobs, Depends(jobs_of)]


@router.post(JOBS)
async def create_job(request: Request, runtime: RuntimeDep, jobs: JobsDep) -> dict[str, Any]:
    body = await json_object(request)
    session = runtime.sessions.check(session_token(request.scope))
    return jobs.create(body, session.user_id if session is not None else runtime.store.actor)


@router.get(JOBS + "/{job_id}")
def job_info(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    return jobs.info(job_id)


@router.patch(JOBS + "/{job_id}")
async def abort_job(job_id: str, request: Request, jobs: JobsDep) -> dict[str, Any]:
    return jobs.abort(job_id, await json_object(request))


@router.delete(JOBS + "/{job_id}", status_code=204)
def delete_job(job_id: str, jobs: JobsDep) -> Response:
    jobs.delete(job_id)
    return Response(status_code=204)


@router.get(JOBS + "/{job_id}/results")
def job_results(job_id: str, request: Request, jobs: JobsDep) -> StreamingResponse:
    params = request.query_params
    page = jobs.results(job_id, params.get("locator"), params.get("maxRecords"))
    return StreamingResponse(
        page.chunks,
        media_type="text/csv",
        headers={"Sforce-NumberOfRecords": str(page.count), "Sforce-Locator": page.locator},
    )


@router.get("/_sandbox/bulk")
def bulk_state(jobs: JobsDep) -> dict[str, Any]:
    return jobs.snapshot()


@router.post("/_sandbox/bulk")
async def set_bulk_plan(request: Request, jobs: JobsDep) -> dict[str, Any]:
    """`{"steps": N, "end": "Failed", "after_records": K, "error_message": M,
    "delete_after_pages": P}`: any of them, for the jobs created from now on."""
    try:
        jobs.set_plan(await json_object(request))
    except (TypeError, ValueError) as exc:
        raise SalesforceError(400, "INVALID_INPUT", str(exc)) from None
    return jobs.snapshot()
