"""`POST composite` (composite.py): subrequests checked, then run off the event loop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.composite import execute, parse
from connectors.salesforce.sandbox.routes.common import json_object
from connectors.salesforce.sandbox.runtime import RuntimeDep

router = APIRouter(prefix=DATA)


@router.post("/composite")
async def composite(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    checked = parse(await json_object(request))
    return await run_in_threadpool(
        execute, checked, runtime.store, runtime.catalog, runtime.cursors
    )
