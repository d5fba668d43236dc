"""The shared sandbox pieces on their own: faults, holds, counting, routing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.types import Message

from connectors.sandbox_kit import (
    CallStats,
    FaultConfig,
    Faults,
    Holds,
    Turnstile,
    endpoints_of,
    pop_actions,
    route_template,
)


@dataclass(frozen=True, slots=True)
class StormyConfig(FaultConfig):
    lock_rate: float = 0.0
    spent: bool = False


def test_fault_updates_are_coerced_and_validated() -> None:
    faults = Faults(StormyConfig())
    changed = faults.update({"latency_ms": "20", "lock_rate": 1, "spent": True, "seed": None})
    assert (changed.latency_ms, changed.lock_rate, changed.spent, changed.seed) == (
        20,
        1.0,
        True,
        None,
    )
    with pytest.raises(ValueError, match="unknown fault setting 'typo'"):
        faults.update({"typo": 1})
    with pytest.raises(ValueError, match="lock_rate must be between 0 and 1"):
        faults.update({"lock_rate": 2})
    with pytest.raises(ValueError, match="slow_ms must not be negative"):
        faults.update({"slow_ms": -1})
    with pytest.raises(TypeError, match="spent must be true or false"):
        faults.update({"spent": "yes"})
    assert faults.config == changed


def test_actions_are_taken_out_of_a_faults_body_and_the_settings_left() -> None:
    body: dict[str, Any] = {"spend": True, "expire": False, "latency_ms": 5}
    assert pop_actions(body, ("spend", "expire", "other")) == {"spend"}
    assert body == {"latency_ms": 5}
    with pytest.raises(TypeError, match="spend, expire must be true or false"):
        pop_actions({"spend": 1}, ("spend", "expire"))


def test_draws_are_seeded_and_use_the_sandboxs_statuses() -> None:
    config = FaultConfig(error_rate=0.5, latency_ms=10, seed=4)
    one, two = Faults(config, error_statuses=(503,)), Faults(config, error_statuses=(503,))
    draws = [one.draw() for _ in range(20)]
    assert draws == [two.draw() for _ in range(20)]
    assert {d.error_status for d in draws} == {None, 503}
    assert all(d.delay_seconds == 0.01 for d in draws)
    assert Faults(FaultConfig(timeout_rate=1.0, slow_ms=500)).draw().delay_seconds == 0.5


def _routes() -> list[APIRoute]:
    router = APIRouter()

    @router.get("/things/{thingId}")
    def read() -> None: ...

    @router.post("/things/{thingId}/poke")
    def poke() -> None: ...

    return [r for r in router.routes if isinstance(r, APIRoute)]


def test_route_templates_and_endpoints() -> None:
    routes = _routes()
    assert route_template(routes, "GET", "/things/7") == "/things/{thingId}"
    assert route_template(routes, "DELETE", "/things/7") == "/things/{thingId}"
    assert route_template(routes, "GET", "/other") == "(unmatched)"
    assert endpoints_of(routes) == ["GET /things/{thingId}", "POST /things/{thingId}/poke"]


def test_call_stats_count_limits_by_status_or_by_note() -> None:
    stats = CallStats(limited_statuses=(429,))
    stats.count("GET /a", 200)
    stats.count("GET /a", 429)
    stats.count("GET /a", 403)
    stats.note_limited()
    assert stats.snapshot() == {
        "calls": {"GET /a": {"200": 1, "429": 1, "403": 1}},
        "rate_limited": 2,
    }
    stats.reset()
    assert stats.snapshot() == {"calls": {}, "rate_limited": 0}


def _http(path: str, method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def test_a_held_call_reads_its_body_then_waits_for_release() -> None:
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    stats, holds = CallStats(), Holds(["POST /things/{thingId}/poke"])
    turnstile = Turnstile(app, stats=stats, holds=holds, routes=_routes())
    chunks: list[Message] = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(ValueError, match="no route 'POST /nowhere' to hold"):
        holds.hold("POST /nowhere")
    holds.hold("POST /things/{thingId}/poke")
    call = asyncio.create_task(turnstile(_http("/things/1/poke"), receive, send))
    for _ in range(100):
        if holds.snapshot()["waiting"]:
            break
        await asyncio.sleep(0)
    assert holds.snapshot() == {
        "holding": ["POST /things/{thingId}/poke"],
        "waiting": {"POST /things/{thingId}/poke": 1},
        "clients": {"POST /things/{thingId}/poke": [""]},  # the test's scope names no client
    }
    assert read == 2  # the whole request was read before waiting
    assert seen == []
    assert sent == []
    assert await asyncio.to_thread(holds.release) == 1
    await asyncio.wait_for(call, 5)
    assert seen == [b"abcd"]
    assert stats.snapshot()["calls"] == {"POST /things/{thingId}/poke": {"200": 1}}


async def test_a_discarded_call_is_answered_503_without_reaching_the_app() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    stats, holds = CallStats(), Holds()
    turnstile = Turnstile(
        app, stats=stats, holds=holds, routes=_routes(), discarded=lambda: [{"errorCode": "X"}]
    )
    holds.hold("POST /things/{thingId}/poke")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    call = asyncio.create_task(turnstile(_http("/things/1/poke"), receive, send))
    for _ in range(100):
        if holds.snapshot()["waiting"]:
            break
        await asyncio.sleep(0)
    holds.release("POST /things/{thingId}/poke", discard=True)
    await asyncio.wait_for(call, 5)
    assert reached == []
    assert sent[0]["status"] == 503
    assert sent[1]["body"] == b'[{"errorCode": "X"}]'
    assert stats.snapshot()["calls"] == {"POST /things/{thingId}/poke": {"503": 1}}
