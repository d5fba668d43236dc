"""Salesforce's REST error bodies: a JSON array of `{"message", "errorCode"[, "fields"]}`
("Status Codes and Error Responses", REST API Developer Guide, errorcodes.htm)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response


def error_body(
    code: str, message: str, fields: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = list(fields)
    return [entry]


class SalesforceError(Exception):
    """Answer the request with Salesforce's error array."""

    def __init__(
        self, status: int, code: str, message: str, fields: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.code, self.message, self.fields), self.status)


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


async def salesforce_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SalesforceError)
    return exc.response()


async def not_found_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404s and 405s, in Salesforce's shape."""
    status = getattr(exc, "status_code", 404)
    if status == 405:
        return SalesforceError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are GET,PATCH,POST,DELETE",
        ).response()
    return not_found().response()
