"""The sandbox's own routes (`/_sandbox/...`): counts, faults, simulation, restore, webhooks,
holding a route open, and the dump of Glengarry's values. They are neither authenticated,
rate-limited nor counted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.hubspot.sandbox.errors import HubSpotError
from connectors.hubspot.sandbox.routes.common import json_body
from connectors.hubspot.sandbox.runtime import RuntimeDep
from connectors.hubspot.sandbox.serialize import object_json
from connectors.hubspot.sandbox.simulate import simulate
from connectors.hubspot.sandbox.store import StoreError
from connectors.sandbox_kit import dump_body, pop_actions

router = APIRouter(prefix="/_sandbox")
_ACTIONS = ("spend_allocation",)  # as the Salesforce sandbox's, where they mean the same


@router.get("/health")
def health(runtime: RuntimeDep) -> dict[str, Any]:
    return {"status": "ok", "contacts": runtime.store.count("contacts")}


@router.get("/stats")
def stats(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.stats_json()


@router.post("/stats/reset")
def reset_stats(runtime: RuntimeDep) -> dict[str, Any]:
    runtime.stats.reset()
    runtime.limiter.reset()
    if runtime.webhooks is not None:
        runtime.webhooks.reset_stats()
    return runtime.stats_json()


@router.get("/faults")
def get_faults(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.faults.as_json()


@router.post("/faults")
async def set_faults(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Settings (`faults.FaultConfig`'s fields), and the action `spend_allocation`: the rest of
    the portal's daily allocation is used up (`POST /_sandbox/stats/reset` gives it back)."""
    body = await json_body(request)
    try:
        actions = pop_actions(body, _ACTIONS)
        if "spend_allocation" in actions and runtime.limiter.profile.daily is None:
            raise ValueError("spend_allocation: this portal has no daily limit (rate limits off)")
        runtime.faults.update(body)
    except (TypeError, ValueError) as exc:
        raise HubSpotError(400, str(exc)) from None
    if "spend_allocation" in actions:
        runtime.limiter.spend()
    return runtime.faults.as_json()


@router.post("/simulate")
async def run_simulation(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_body(request)
    try:
        contacts = int(body.get("contacts", 10))
        per_contact = int(body.get("events_per_contact", 3))
    except (TypeError, ValueError):
        raise HubSpotError(400, "contacts and events_per_contact must be integers") from None
    if contacts < 0 or per_contact < 0:
        raise HubSpotError(400, "contacts and events_per_contact must not be negative")
    kinds = body.get("kinds")
    if kinds is not None and (
        not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)
    ):
        raise HubSpotError(400, "kinds must be a list of strings")
    try:
        touched = simulate(runtime.store, runtime.rng, contacts, per_contact, kinds)
    except ValueError as exc:
        raise HubSpotError(400, str(exc)) from None
    return {"contact_ids": touched, "events": len(touched) * per_contact}


@router.post("/restore/{contactId}")
def restore(contactId: str, runtime: RuntimeDep) -> dict[str, Any]:
    """HubSpot restores archived records from its UI (recycling bin); this stands in for it."""
    try:
        obj = runtime.store.restore("contacts", contactId)
    except StoreError as exc:
        raise HubSpotError(exc.status, exc.message, exc.category) from None
    return object_json(obj)


@router.post("/webhooks/flush")
def flush_webhooks(runtime: RuntimeDep, timeout: float = 10.0) -> dict[str, Any]:
    flushed = runtime.webhooks.flush(timeout) if runtime.webhooks is not None else True
    return {"flushed": flushed, **runtime.stats_json()["webhooks"]}


@router.get("/webhooks/order")
def webhook_order(runtime: RuntimeDep) -> dict[str, bool]:
    if runtime.webhooks is None:
        raise HubSpotError(404, "no webhook URL is set: nothing is delivered")
    return runtime.webhooks.order()


@router.post("/webhooks/order")
async def set_webhook_order(request: Request, runtime: RuntimeDep) -> dict[str, bool]:
    """`{"paused": true}` queues events unsent; `{"newest_first": true}` sends each batch
    newest first (HubSpot promises no order); either or both, the modes answered."""
    body = await json_body(request)
    unknown = sorted(set(body) - {"paused", "newest_first"})
    if unknown:
        raise HubSpotError(400, f"unknown keys {unknown}: 'paused', 'newest_first'")
    for key, value in body.items():
        if not isinstance(value, bool):
            raise HubSpotError(400, f"'{key}' must be true or false")
    if runtime.webhooks is None:
        raise HubSpotError(404, "no webhook URL is set: nothing is delivered")
    return runtime.webhooks.order(**body)


def _route_of(body: dict[str, Any], *, required: bool) -> str | None:
    route = body.get("route")
    if route is None and not required:
        return None
    if not isinstance(route, str) or not route:
        raise HubSpotError(400, "'route' must be a \"METHOD /template\" string")
    return route


@router.post("/hold")
async def hold(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """`{"route": "POST /crm/v3/objects/contacts/batch/update"}`: calls to it wait for release."""
    route = _route_of(await json_body(request), required=True)
    assert route is not None
    try:
        runtime.holds.hold(route)
    except ValueError as exc:
        raise HubSpotError(400, str(exc)) from None
    return runtime.holds.snapshot()


@router.post("/release")
async def release(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """`{"route": R}` (default: every held route); `"discard": true` answers 503, unprocessed."""
    body = await json_body(request)
    discard = body.get("discard", False)
    if not isinstance(discard, bool):
        raise HubSpotError(400, "'discard' must be true or false")
    released = runtime.holds.release(_route_of(body, required=False), discard=discard)
    return {"released": released, **runtime.holds.snapshot()}


@router.get("/dump")
def dump(runtime: RuntimeDep) -> dict[str, Any]:
    return dump_body(runtime.dump())
