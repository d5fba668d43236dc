"""New activity, now: what `POST /_sandbox/simulate` does to make the CRM move during a demo."""

from __future__ import annotations

import random
from typing import Any

from connectors.hubspot.sandbox.seed import apply_activity
from connectors.hubspot.sandbox.store import Store

KINDS = (
    "page_view",
    "page_view",
    "page_view",
    "email_open",
    "email_open",
    "email_click",
    "form_submission",
    "meeting",
    "call",
    "email_reply",
    "chat",
)
_PAGES = ("/pricing", "/product", "/docs/getting-started", "/blog/lead-scoring", "/contact")
_FORMS = ("Demo request", "Newsletter signup", "Pricing inquiry", "Ebook download")


def _details(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "page_view":
        return {"url": f"https://www.example.com{rng.choice(_PAGES)}"}
    if kind == "form_submission":
        return {"form": rng.choice(_FORMS)}
    if kind == "meeting":
        return {"outcome": rng.choice(("SCHEDULED", "COMPLETED", "NO_SHOW"))}
    if kind == "call":
        return {
            "direction": rng.choice(("INBOUND", "OUTBOUND")),
            "status": rng.choice(("COMPLETED", "NO_ANSWER", "BUSY")),
            "duration_ms": rng.randint(0, 1_800_000),
        }
    if kind == "email_reply":
        return {"subject": "Re: following up"}
    return {}


def simulate(store: Store, rng: random.Random, contacts: int, events_per_contact: int) -> list[str]:
    """K new activities for N random live contacts; returns the ids touched (webhooks follow)."""
    live = [obj.id for obj in store.all("contacts")]
    chosen = rng.sample(live, min(contacts, len(live)))
    for contact_id in chosen:
        for _ in range(events_per_contact):
            kind = rng.choice(KINDS)
            apply_activity(store, contact_id, kind, store.clock(), _details(kind, rng))
    return chosen
