"""HubSpot's error bodies (the `Error` schema of its specs), and the exception that carries one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(
    message: str,
    category: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if context:
        body["context"] = {key: list(values) for key, values in context.items()}
    if errors:
        body["errors"] = [dict(error) for error in errors]
    return body


def standard_error(
    message: str,
    category: str,
    *,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One entry of a batch's `errors` (the `StandardError` schema: every field present)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {key: list(values) for key, values in (context or {}).items()},
        "errors": [dict(error) for error in errors],
        "links": {},
    }


class HubSpotError(Exception):
    """Answer the request with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        sub_category: str | None = None,
        context: Mapping[str, Sequence[str]] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(
            message, category, sub_category=sub_category, context=context, errors=errors
        )
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def missing_scopes(scopes: Sequence[str]) -> HubSpotError:
    """HubSpot's 403 for a token without a scope the call needs."""
    return HubSpotError(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(scopes)},
            }
        ],
    )


def not_found(what: str) -> HubSpotError:
    return HubSpotError(404, f"{what} not found", "OBJECT_NOT_FOUND")


async def hubspot_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubSpotError)
    return exc.response()


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422s, reshaped as HubSpot's 400."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "message": str(error.get("msg", "invalid")),
            "in": ".".join(map(str, error.get("loc", ()))),
        }
        for error in exc.errors()
    ]
    return HubSpotError(
        400, "Invalid input: " + "; ".join(p["message"] for p in problems), errors=problems
    ).response()
