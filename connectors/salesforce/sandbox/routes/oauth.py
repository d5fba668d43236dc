"""`POST /services/oauth2/token` and the version list (`GET /services/data`, "Versions" and
"Resources by Version", REST API Developer Guide). While the `token_endpoint_down` fault is
set, every token request answers 503 with an OAuth error body (`temporarily_unavailable`,
RFC 6749's code for a server that cannot answer for now); sessions already open still work."""

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
    if runtime.faults.config.token_endpoint_down:
        down = "the token endpoint is down (injected by the sandbox)"
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": down}, status_code=503
        )
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
