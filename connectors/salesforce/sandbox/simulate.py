"""New activity, now, as a sales team makes it: `POST /_sandbox/simulate`. Each chosen Lead or
Contact gets K of: a logged call, an email, a meeting, a campaign response, a title change, a
Lead's status moving on or its rating changing, or a Lead's conversion into a Contact. Asked
for `kinds`, only those, which may also be what says what became of a Contact: `ticket` (a new
Case), `survey_response` (a completed NPS survey, where Feedback Management is licensed) or
`deal_won` (a new Opportunity, Closed Won, with the Contact's role on it).
Activities move the person's `LastActivityDate` (a system change: `SystemModstamp` only).
Everything is done as a sales rep (a User made on the first run), not as the integration user,
so that Flows skipping the integration user's changes still see these."""

from __future__ import annotations

import random
from collections.abc import Sequence

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
# What becomes of a Contact (a Lead has no Cases and no contact roles): asked for by name only,
# so that the default mix (and the demos built on it) stays as it was.
OUTCOME_KINDS = ("ticket", "survey_response", "deal_won")
KINDS = (*dict.fromkeys(_KINDS), *OUTCOME_KINDS)
SALES_REP = "rep@glengarry-sandbox.example"
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


def sales_rep(store: Store) -> Record:
    """The sales rep simulated activity is made by (created when first needed)."""
    with store.locked():
        found = next((u for u in store.records("User") if u.get("Username") == SALES_REP), None)
        if found is not None:
            return found
        return store.create(
            "User",
            {"Username": SALES_REP, "FirstName": "Sam", "LastName": "Rep", "Email": SALES_REP,
             "IsActive": True},
        )  # fmt: skip


def _deal_won(store: Store, person: Record) -> None:
    """A new Opportunity on the Contact's Account, won today, with the Contact's role on it."""
    today = store.clock.now().date()
    deal = store.create(
        "Opportunity",
        {"Name": "Expansion", "AccountId": person.get("AccountId"), "StageName": "Closed Won",
         "CloseDate": today, "Amount": 12_000.0},
    )  # fmt: skip
    store.create(
        "OpportunityContactRole",
        {"OpportunityId": deal.id, "ContactId": person.id, "Role": "Decision Maker",
         "IsPrimary": True},
    )  # fmt: skip


def _outcome(store: Store, seeder: Seeder, person: Record, kind: str, rng: random.Random) -> None:
    now = store.clock.now()
    if kind == "deal_won":
        _deal_won(store, person)
    elif kind == "ticket":
        details = {"priority": rng.choice(("HIGH", "MEDIUM", "URGENT")), "subject": "Help"}
        seeder.activity(person, Activity(person.id, "ticket", now, details))
    else:
        details = {"survey": "nps", "score": str(rng.randint(0, 10))}
        seeder.activity(person, Activity(person.id, "survey_response", now, details))


def simulate(
    store: Store,
    rng: random.Random,
    people: int,
    per_person: int,
    kinds: Sequence[str] | None = None,
) -> list[str]:
    """K activities or changes (of `kinds`, else the default mix) for N random live Leads and
    Contacts (Contacts only when every kind asked for is an outcome); the ids touched."""
    mix = tuple(kinds) if kinds else _KINDS
    unknown = sorted(set(mix) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}: choose among {', '.join(KINDS)}")
    objects = ("Contact",) if set(mix) <= set(OUTCOME_KINDS) else ("Lead", "Contact")
    with store.acting_as(sales_rep(store).id):
        live = [r for sobject in objects for r in store.records(sobject)]
        live = [r for r in live if not r.get("IsConverted")]
        chosen = rng.sample(live, min(people, len(live)))
        seeder = Seeder(store)
        for person in chosen:
            for _ in range(per_person):
                kind = rng.choice(mix)
                if kind in OUTCOME_KINDS:
                    if person.type == "Contact":
                        _outcome(store, seeder, person, kind, rng)
                    continue
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
