"""The sandbox's own routes (`/_sandbox/...`, the same paths and bodies as the HubSpot
sandbox's where they mean the same): counts, faults, simulation, the clock, the recycle bin,
holding a route open, and the dump of Glengarry's values. Neither authenticated nor counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request

from connectors.salesforce.sandbox.clock import sf_datetime
from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.routes.common import json_object
from connectors.salesforce.sandbox.runtime import RuntimeDep
from connectors.salesforce.sandbox.simulate import simulate
from connectors.sandbox_kit import dump_body, pop_actions

router = APIRouter(prefix="/_sandbox")
_ACTIONS = ("expire_sessions", "spend_allocation")


def _bad(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_INPUT", message)


@router.get("/health")
def health(runtime: RuntimeDep) -> dict[str, Any]:
    store = runtime.store
    return {"status": "ok", "leads": store.count("Lead"), "contacts": store.count("Contact")}


@router.get("/stats")
def stats(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.stats_json()


@router.post("/stats/reset")
def reset_stats(runtime: RuntimeDep) -> dict[str, Any]:
    runtime.stats.reset()
    runtime.allocation.reset()
    return runtime.stats_json()


@router.get("/faults")
def get_faults(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.faults.as_json()


@router.post("/faults")
async def set_faults(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_object(request)
    try:
        actions = pop_actions(body, _ACTIONS)
        runtime.faults.update(body)
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc)) from None
    if "expire_sessions" in actions:
        runtime.sessions.expire_all()
    if "spend_allocation" in actions:
        runtime.allocation.spend()
    return runtime.faults.as_json()


@router.post("/simulate")
async def run_simulation(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    body = await json_object(request, optional=True)
    contacts, per_contact = body.get("contacts", 10), body.get("events_per_contact", 3)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (contacts, per_contact)):
        raise _bad("contacts and events_per_contact must be integers")
    if contacts < 0 or per_contact < 0:
        raise _bad("contacts and events_per_contact must not be negative")
    kinds = body.get("kinds")
    if kinds is not None and (
        not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)
    ):
        raise _bad("kinds must be a list of strings")
    try:
        touched = simulate(runtime.store, runtime.rng, contacts, per_contact, kinds)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return {"contact_ids": touched, "events": len(touched) * per_contact}


@router.post("/clock")
async def advance_clock(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    days = (await json_object(request)).get("advance_days")
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise _bad("advance_days must be a non-negative number")
    return {"now": sf_datetime(runtime.store.clock.advance(timedelta(days=days)))}


@router.post("/purge")
async def purge(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Empty the recycle bin (`{"sobject": "Lead"}` for one object's)."""
    name = (await json_object(request, optional=True)).get("sobject")
    store = runtime.store
    obj = store.sobject(name) if isinstance(name, str) else None
    if name is not None and obj is None:
        raise _bad(f"unknown sobject {name!r}")
    purged = store.purge(obj.name if obj is not None else None)
    names = [obj.name] if obj is not None else list(store.objects)
    return {
        "purged": purged,
        "earliestDateAvailable": {n: sf_datetime(store.earliest_available(n)) for n in names},
    }


def _route_of(body: dict[str, Any], *, required: bool) -> str | None:
    route = body.get("route")
    if route is None and not required:
        return None
    if not isinstance(route, str) or not route:
        raise _bad("'route' must be a \"METHOD /template\" string")
    return route


@router.post("/hold")
async def hold(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """`{"route": "PATCH /services/data/v62.0/composite/sobjects"}`: calls wait for release."""
    route = _route_of(await json_object(request), required=True)
    assert route is not None
    try:
        runtime.holds.hold(route)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return runtime.holds.snapshot()


@router.post("/release")
async def release(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """`{"route": R}` (default: every held route); `"discard": true` answers 503, unprocessed."""
    body = await json_object(request, optional=True)
    discard = body.get("discard", False)
    if not isinstance(discard, bool):
        raise _bad("'discard' must be true or false")
    released = runtime.holds.release(_route_of(body, required=False), discard=discard)
    return {"released": released, **runtime.holds.snapshot()}


@router.get("/dump")
def dump(runtime: RuntimeDep) -> dict[str, Any]:
    return dump_body(runtime.dump())
