"""`POST /services/oauth2/token` and the version list (`GET /services/data`, "Versions" and
"Resources by Version", REST API Developer Guide)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from connectors.salesforce.sandbox.catalog import API_VERSION, DATA
from connectors.salesforce.sandbox.oauth import TokenRefused
from connectors.salesforce.sandbox.runtime import RuntimeDep

router = APIRouter()


@router.post("/services/oauth2/token")
async def token(request: Request, runtime: RuntimeDep) -> JSONResponse:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        issued = runtime.tokens.issue(form, request.headers.get("authorization"))
    except TokenRefused as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse(issued)


@router.get("/services/data")
def versions() -> list[dict[str, str]]:
    return [{"label": "Winter '25", "url": DATA, "version": API_VERSION}]


@router.get(DATA)
def resources() -> dict[str, Any]:
    names = ("composite", "limits", "query", "queryAll", "sobjects", "tooling")
    return {name: f"{DATA}/{name}" for name in names}
