"""Schemathesis over the app's own OpenAPI document, with a valid admin key: no 500, and no
answer that breaks its declared status codes, content types or schemas. A route made to answer
a shape it does not declare is caught (the run can fail).

Webhook receivers are left out: they answer CRMs, not this document's clients (their inputs
are fuzzed in test_no_500). The event stream is left out: it lasts as long as its sync."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from app.api import create_app
from app.runtime import Runtime
from tests.api.test_explain import ADMIN, synced


def no_undeclared_server_error(ctx: Any, response: Any, case: Any) -> None:
    """A 5xx the operation declares (503: not ready, the queue is down) is an answer; any
    other is a bug."""
    if str(response.status_code) in case.operation.definition.raw.get("responses", {}):
        return
    not_a_server_error(ctx, response, case)


CHECKS = [
    no_undeclared_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
async def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return await synced(fresh_engine, tmp_path)


def _exercise(app: FastAPI, skip: tuple[str, ...] = ()) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    exercised = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/webhooks", *skip)) or operation.path.endswith("/events"):
            continue

        @EXAMPLES
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=ADMIN, checks=CHECKS)

        call()
        exercised.append(operation.label)
    return exercised


def test_every_operation_answers_as_it_declares(runtime: Runtime) -> None:
    exercised = _exercise(create_app(runtime))
    assert len(exercised) >= 20, exercised


class Declared(BaseModel):
    name: str


def test_a_route_answering_an_undeclared_shape_fails_the_run(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.get("/broken", response_model=Declared)
    def broken() -> Any:
        return JSONResponse({"nom": 1})  # bypasses the response model: an undeclared shape

    with pytest.raises(FailureGroup) as caught:
        _exercise(app, skip=tuple(p for p in app.openapi()["paths"] if p != "/broken"))
    assert "Response violates schema" in "".join(traceback.format_exception(caught.value))
