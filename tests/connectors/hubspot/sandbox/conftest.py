"""Fixtures: a real sandbox server in a thread, seeded with a tiny hand-made population."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.hubspot.sandbox import SandboxConfig, SandboxServer
from qualification.records import Activity, Contact

TOKEN = "test-token"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Member:
    contact: Contact
    activities: list[Activity] = field(default_factory=list)


def member(
    number: int, activities: Sequence[tuple[str, int, dict[str, object]]] = (), **properties: str
) -> Member:
    """Contact `number` (HubSpot id str(number)); activities as (type, days ago, details)."""
    cid = str(number)
    props: dict[str, str | None] = {
        "email": f"person{number}@example.com",
        "firstname": f"First{number}",
        "lastname": f"Last{number}",
        **properties,
    }
    return Member(
        Contact(cid, props),
        [
            Activity(cid, kind, NOW - timedelta(days=days), dict(details))
            for kind, days, details in activities
        ],
    )


def population(count: int = 25) -> list[Member]:
    industries = ["COMPUTER_SOFTWARE", "RETAIL", "BANKING"]
    return [
        member(
            n,
            [("page_view", n, {"url": f"https://example.com/p{n}"}), ("meeting", 1, {})]
            if n % 5 == 0
            else [("email_open", n, {})],
            industry=industries[n % 3],
            numemployees="50-100" if n % 2 else "1000+",
            annualrevenue=str(n * 1000),
        )
        for n in range(1, count + 1)
    ]


def client(server: SandboxServer, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token=TOKEN), members=population()) as server:
        yield server


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with client(sandbox) as http:
        yield http
