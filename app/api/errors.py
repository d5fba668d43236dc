"""One error body for the operations API: `{"error": {"code", "message", "details"}}`.

Every operations route answers this shape and only this one (FastAPI's `{"detail": ...}` is gone
from them). Webhook receivers answer the CRMs as before, `{"detail": ...}` alone: what a CRM logs
of a refused delivery does not change.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.logging import get_logger

log = get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: not_found, conflict, ...")
    message: str = Field(description="For a person; never repeats a credential.")
    details: Any = Field(None, description="What the code needs: the problems of a 422, ...")


class ErrorBody(BaseModel):
    error: ErrorDetail


def _described(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


# Declared on every operations route, so the OpenAPI document says what a client may get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _described("No key, an unknown or revoked key"),
    403: _described("The key's scope does not allow this, or the API is off"),
    404: _described("No such resource, or one the key's connection does not see"),
    409: _described("In conflict with the current state (a sync running already)"),
    413: _described("The request body is too large"),
    415: _described("The request body is declared other than application/json"),
    422: _described("The request is malformed; `details` names each problem by where it is"),
    429: _described("Too many failed authentications from this address"),
    503: _described("A dependency (the database, the queue) cannot be reached: try again"),
}


class ApiError(HTTPException):
    """An HTTPException with a code of its own and structured details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.code = code or _CODES.get(status, "error")
        self.details = details


def body(status: int, message: Any, *, code: str | None = None, details: Any = None) -> Any:
    text = message if isinstance(message, str) else "the request is invalid"
    return {
        "error": {"code": code or _CODES.get(status, "error"), "message": text, "details": details}
    }


def _legacy(request: Request) -> bool:
    path = request.url.path
    return path == "/webhooks" or path.startswith("/webhooks/")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _legacy(request):
        return await http_exception_handler(request, exc)
    code = exc.code if isinstance(exc, ApiError) else None
    details = exc.details if isinstance(exc, ApiError) else None
    return JSONResponse(
        body(exc.status_code, exc.detail, code=code, details=details),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def invalid_request(request: Request, exc: Exception) -> Response:
    """422 naming each problem by where it is, without repeating the input (which may be a
    credential, or NaN that no JSON answer can carry)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = [
        {
            "loc": [_printable(part) for part in error.get("loc", ())],
            "msg": _printable(error.get("msg", "")),
            "type": _printable(error.get("type", "")),
        }
        for error in errors
    ]
    if _legacy(request):
        return JSONResponse({"detail": problems}, status_code=422)
    answer = body(422, problems, details=problems)
    answer["error"]["message"] = "; ".join(
        f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}" for problem in problems
    )[:500]
    return JSONResponse(answer, status_code=422)


# How long a client is told to wait when the database is unreachable (a restart, a fail-over).
RETRY_AFTER_SECONDS = 5


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached: 503 with Retry-After, never a 500 with a traceback. A
    CRM redelivers a webhook refused this way, and nothing was stored (the transaction ended
    with the connection)."""
    log.warning(
        "database unreachable: answered 503",
        path=request.url.path,
        error=type(getattr(exc, "orig", None) or exc).__name__,
    )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    message = "the database cannot be reached: try again"
    if _legacy(request):
        return JSONResponse({"detail": message}, status_code=503, headers=headers)
    return JSONResponse(
        body(503, message, code="database_unavailable"), status_code=503, headers=headers
    )


def _printable(part: Any) -> Any:
    if isinstance(part, int):
        return part
    return str(part)[:100].encode("utf-8", "replace").decode("utf-8")
