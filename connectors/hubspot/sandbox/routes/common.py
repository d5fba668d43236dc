"""Request parsing shared by the routes: HubSpot answers malformed input with its 400 body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from connectors.hubspot.sandbox.errors import HubSpotError


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise HubSpotError(400, f"Invalid input JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HubSpotError(400, "Invalid input JSON: expected an object")
    return body


def inputs_of(body: dict[str, Any], maximum: int) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise HubSpotError(400, "Invalid input: 'inputs' must be a list of objects")
    if len(inputs) > maximum:
        raise HubSpotError(
            400,
            f"Too many inputs: {len(inputs)}. The maximum is {maximum}.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def query_list(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(name)
    return values or None


def query_bool(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def query_int(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HubSpotError(400, f"Invalid {name}: {raw!r} is not an integer") from None
    if value < 1 or value > maximum:
        raise HubSpotError(400, f"Invalid {name}: {value}. It must be between 1 and {maximum}.")
    return value
