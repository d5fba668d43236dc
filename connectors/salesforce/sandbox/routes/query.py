"""`query` and `queryAll`, and their next batches by query locator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.query import run_query
from connectors.salesforce.sandbox.runtime import RuntimeDep

router = APIRouter(prefix=DATA)


def _run(request: Request, runtime: RuntimeDep, *, include_deleted: bool) -> dict[str, Any]:
    return run_query(
        runtime.store,
        runtime.catalog,
        runtime.cursors,
        request.query_params.get("q"),
        include_deleted=include_deleted,
        options=request.headers.get("sforce-query-options"),
    )


@router.get("/query")
def query(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(request, runtime, include_deleted=False)


@router.get("/queryAll")
def query_all(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(request, runtime, include_deleted=True)


@router.get("/query/{locator}")
def query_more(locator: str, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.cursors.more(locator)


@router.get("/queryAll/{locator}")
def query_all_more(locator: str, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.cursors.more(locator)
