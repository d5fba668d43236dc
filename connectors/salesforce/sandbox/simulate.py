"""New activity, now, as a sales team makes it: `POST /_sandbox/simulate`. Each chosen Lead or
Contact gets K of: a logged call, an email, a meeting, a campaign response, a title change, a
Lead's status moving on or its rating changing, or a Lead's conversion into a Contact.
Activities move the person's `LastActivityDate` (a system change: `SystemModstamp` only)."""

from __future__ import annotations

import random

from connectors.salesforce.sandbox.schema import LEAD_STATUSES
from connectors.salesforce.sandbox.seed import Seeder
from connectors.salesforce.sandbox.store import Record, Store
from qualification.records import Activity

_KINDS = (
    "call",
    "call",
    "email_reply",
    "meeting",
    "email_click",
    "form_submission",
    "title",
    "title",
    "convert",
)
_TITLES = ("VP Sales", "Head of Revenue Operations", "Sales Director", "CRO", "Account Executive")


def _change(store: Store, person: Record, rng: random.Random) -> None:
    if person.type == "Lead" and rng.random() < 0.5:
        if rng.random() < 0.5:
            store.update(person, {"Rating": rng.choice(("Hot", "Warm", "Cold"))})
        else:
            current = person.get("Status")
            index = LEAD_STATUSES.index(current) if current in LEAD_STATUSES else 0
            store.update(person, {"Status": LEAD_STATUSES[min(index + 1, 1)]})
        return
    if not person.get("IsConverted"):
        store.update(person, {"Title": rng.choice(_TITLES)})


def simulate(store: Store, rng: random.Random, people: int, per_person: int) -> list[str]:
    """K activities or changes for N random live Leads and Contacts; the ids touched."""
    with store.locked():
        live = [r for sobject in ("Lead", "Contact") for r in store.records(sobject)]
        live = [r for r in live if not r.get("IsConverted")]
        chosen = rng.sample(live, min(people, len(live)))
        seeder = Seeder(store)
        for person in chosen:
            for _ in range(per_person):
                kind = rng.choice(_KINDS)
                if kind == "title":
                    _change(store, person, rng)
                    continue
                if person.get("IsConverted"):
                    continue  # converted during this run: nothing more happens to the Lead
                if kind == "convert":
                    if person.type == "Lead":
                        store.convert_lead(person)
                    continue
                now = store.clock.now()
                details = {"campaign": "Product launch", "form": "Demo request"}
                if kind == "call":
                    details = {
                        "hs_call_direction": rng.choice(("INBOUND", "OUTBOUND")),
                        "hs_call_status": rng.choice(("COMPLETED", "NO_ANSWER")),
                        "hs_call_duration": str(rng.randint(0, 1_800_000)),
                    }
                at = seeder.activity(person, Activity(person.id, kind, now, details))
                if at is not None:
                    store.update(person, {"LastActivityDate": at.date()}, system=True)
        return [person.id for person in chosen]
