"""Members to seed a sandbox with: any (contact, activities) pairs, or generated ones."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connectors.sandbox_kit.server import SandboxError
from qualification.records import Activity, Contact

POPULATION_DAYS = 90  # generated activity covers this many days up to now


class SeedMember(Protocol):
    @property
    def contact(self) -> Contact: ...

    @property
    def activities(self) -> Iterable[Activity]: ...


def generated_members(
    count: int, seed_value: int, *, end: datetime | None = None
) -> Iterable[SeedMember]:
    """`count` members from the population generator (qualification.population), whose
    activity ends at `end` (now by default)."""
    try:
        population = importlib.import_module("qualification.population")
    except ModuleNotFoundError:
        raise SandboxError(
            "no population generator (qualification.population) to make contacts from"
        ) from None
    end = end or datetime.now(UTC)
    members: Iterable[SeedMember] = population.generate_population(
        count, seed_value, end - timedelta(days=POPULATION_DAYS), end
    )
    return members
