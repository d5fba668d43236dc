"""OAuth token exchange and the account's details. While the `token_endpoint_down` fault is
set, every token request answers 503 (access tokens already issued still work)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from connectors.hubspot.sandbox.errors import correlation_id, error_body
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.tokens import TokenRefused

router = APIRouter()


@router.post("/oauth/v1/token")
async def token(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Form-encoded grant_type=refresh_token|authorization_code, as HubSpot's token endpoint."""
    if runtime.faults.config.token_endpoint_down:
        return JSONResponse(
            error_body("The token endpoint is down (injected by the sandbox)", "INTERNAL_ERROR"),
            status_code=503,
        )
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        issued = runtime.tokens.issue(form)
    except TokenRefused as exc:
        return JSONResponse(
            {"status": exc.status, "message": exc.message, "correlationId": correlation_id()},
            status_code=400,
        )
    return JSONResponse(
        {
            "token_type": "bearer",  # the type's name, not a token  # nosec B105
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
        }
    )


@router.get("/account-info/v3/details")
def account_details(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "portalId": runtime.config.portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }
