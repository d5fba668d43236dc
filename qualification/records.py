"""The engine's inputs: plain, immutable records with no tie to any CRM or storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Contact:
    """A person, with properties named as HubSpot names them (the canonical vocabulary)."""

    id: str
    properties: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Activity:
    """Something a contact did: `type` is open-ended (email_open, page_view, meeting, ...)."""

    contact_id: str
    type: str
    occurred_at: datetime  # timezone-aware, UTC
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened after scoring: converted (to an opportunity or deal) at an instant, or not;
    for a customer's contact, whether and when the customer churned (left)."""

    contact_id: str
    converted_at: datetime | None
    churned_at: datetime | None = None
