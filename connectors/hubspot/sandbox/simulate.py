"""New activity, now: what `POST /_sandbox/simulate` does to make the CRM move during a demo."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.hubspot.sandbox.properties import TICKET_CLOSED_STAGE, iso
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


# What becomes of a contact, asked for by name only (the default mix stays as it was): an open
# deal of theirs won, an open ticket of theirs closed (each a change of that record only, as a
# rep makes it in HubSpot), or a new ticket or survey answer.
OUTCOME_KINDS = ("deal_won", "ticket_closed", "ticket", "survey_response")
_OPEN = {"deal_won": "deals", "ticket_closed": "tickets"}


def _is_open(object_type: str, properties: Mapping[str, str]) -> bool:
    if object_type == "deals":
        return properties.get("hs_is_closed") != "true"
    return properties.get("hs_pipeline_stage") != TICKET_CLOSED_STAGE


def _open_record(store: Store, contact_id: str, kind: str) -> str | None:
    object_type = _OPEN[kind]
    for record_id in store.associated("contacts", contact_id, object_type):
        found = store.get(object_type, record_id)
        if found is not None and _is_open(object_type, found.properties):
            return record_id
    return None


def _outcome(store: Store, contact_id: str, kind: str, rng: random.Random) -> None:
    now = store.clock()
    if kind in _OPEN:
        record_id = _open_record(store, contact_id, kind)
        if record_id is None:
            return
        if kind == "deal_won":
            closed = {"dealstage": "closedwon", "hs_is_closed": "true", "hs_is_closed_won": "true"}
            store.update("deals", record_id, closed | {"closedate": iso(now)})
        else:
            closed = {"hs_pipeline_stage": TICKET_CLOSED_STAGE, "closed_date": iso(now)}
            store.update("tickets", record_id, closed)
        return
    details: dict[str, Any] = {"priority": "HIGH", "subject": "Help"}
    if kind == "survey_response":
        details = {"survey": "nps", "score": str(rng.randint(0, 10))}
    apply_activity(store, contact_id, kind, now, details)


def simulate(
    store: Store,
    rng: random.Random,
    contacts: int,
    events_per_contact: int,
    kinds: Sequence[str] | None = None,
) -> list[str]:
    """K new activities (of `kinds`, else the default mix) for N random live contacts (those
    with an open deal or ticket when only `deal_won` or `ticket_closed` is asked for); returns
    the ids touched (webhooks follow)."""
    mix = tuple(kinds) if kinds else KINDS
    unknown = sorted(set(mix) - {*KINDS, *OUTCOME_KINDS})
    if unknown:
        known = ", ".join(sorted({*KINDS, *OUTCOME_KINDS}))
        raise ValueError(f"unknown kinds {unknown}: choose among {known}")
    live = [obj.id for obj in store.all("contacts")]
    if set(mix) <= set(_OPEN):
        live = [c for c in live if any(_open_record(store, c, k) for k in mix)]
    chosen = rng.sample(live, min(contacts, len(live)))
    for contact_id in chosen:
        for _ in range(events_per_contact):
            kind = rng.choice(mix)
            if kind in OUTCOME_KINDS:
                _outcome(store, contact_id, kind, rng)
            else:
                apply_activity(store, contact_id, kind, store.clock(), _details(kind, rng))
    return chosen
