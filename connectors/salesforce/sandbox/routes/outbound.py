"""Outbound Messages, for tests and the demo (`/_sandbox/...`, neither authenticated nor
counted): set up or change the messages while the org runs (an admin creates them after
connecting), read every delivery attempt, wait for the queue to drain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.concurrency import run_in_threadpool

from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.outbound import DEFAULT_OBJECTS
from connectors.salesforce.sandbox.routes.common import json_object
from connectors.salesforce.sandbox.runtime import Runtime, RuntimeDep

router = APIRouter(prefix="/_sandbox")
MAX_FLUSH_SECONDS = 60.0


class MessageSetUp(BaseModel):
    """`{"url": URL or null, "sobject"?, "fields"?, "send_session_id"?,
    "skip_integration_user"?}`; without `sobject`, Lead's and Contact's messages."""

    model_config = ConfigDict(extra="allow")  # unknown keys: ignored, named in "warnings"

    url: str | None
    sobject: str | None = None
    fields: list[str] | None = None
    send_session_id: StrictBool | None = None
    skip_integration_user: StrictBool | None = None


class Flush(BaseModel):
    model_config = ConfigDict(extra="allow")

    timeout: float = Field(default=10.0, ge=0, le=MAX_FLUSH_SECONDS)


def _bad(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_INPUT", message)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def _messages(runtime: Runtime) -> dict[str, Any]:
    return {"messages": [message.to_json() for message in runtime.outbox.messages()]}


@router.get("/outbound-message")
def outbound_messages(runtime: RuntimeDep) -> dict[str, Any]:
    return _messages(runtime)


@router.post("/outbound-message")
async def set_up_outbound_message(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    try:
        body = MessageSetUp.model_validate(await json_object(request))
    except ValidationError as exc:
        raise _bad(_problem(exc)) from None
    sobjects = [body.sobject] if body.sobject is not None else list(DEFAULT_OBJECTS)
    try:
        runtime.outbox.configure(
            sobjects,
            body.url,
            fields=body.fields,
            send_session_id=body.send_session_id,
            skip_integration_user=body.skip_integration_user,
        )
    except ValueError as exc:
        raise _bad(str(exc)) from None
    answer = _messages(runtime)
    if body.model_extra:
        answer["warnings"] = [f"ignored unknown key {key!r}" for key in sorted(body.model_extra)]
    return answer


@router.get("/deliveries")
def deliveries(runtime: RuntimeDep) -> dict[str, Any]:
    """Every attempt (the newest 10,000), oldest first, and the queue's counts."""
    outbox = runtime.outbox
    return {
        "deliveries": [delivery.to_json() for delivery in outbox.deliveries()],
        **outbox.stats(),
    }


@router.post("/deliveries/flush")
async def flush(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """`{"timeout": S}`: wait (at most S seconds) until nothing is queued or being sent."""
    try:
        body = Flush.model_validate(await json_object(request, optional=True))
    except ValidationError as exc:
        raise _bad(_problem(exc)) from None
    outbox = runtime.outbox
    # The wait blocks a worker thread, not the event loop: other requests go on meanwhile.
    flushed = await run_in_threadpool(outbox.flush, body.timeout)
    return {"flushed": flushed, **outbox.stats()}
