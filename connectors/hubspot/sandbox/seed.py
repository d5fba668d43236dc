"""Filling the sandbox from a population, and turning an activity into what HubSpot keeps of it.

HubSpot has no bulk read for page views, marketing-email events or form submissions: it keeps
the latest of each on the contact. So:

| activity          | becomes                                                                  |
|-------------------|--------------------------------------------------------------------------|
| page_view         | hs_analytics_last_visit_timestamp (latest), hs_analytics_last_url (its   |
|                   | `url`), hs_analytics_num_page_views (+1)                                 |
| email_open        | hs_email_last_open_date (latest)                                         |
| email_click       | hs_email_last_click_date (latest)                                        |
| form_submission   | recent_conversion_date/_event_name (latest, its `form`),                 |
|                   | first_conversion_date/_event_name (earliest), num_conversion_events (+1) |
| meeting           | a meetings object (hs_timestamp, hs_meeting_outcome), associated         |
| call              | a calls object (hs_call_direction, hs_call_status, hs_call_duration)     |
| email_reply       | an emails object with hs_email_direction INCOMING_EMAIL                  |
| email_sent        | an emails object with hs_email_direction EMAIL                           |
| survey_response   | a feedback_submissions object (hs_survey_type from `survey`, hs_value    |
|                   | its `score`, hs_response_group for NPS, hs_submission_timestamp)         |
| ticket            | a tickets object (hs_ticket_priority its `priority`; `status` CLOSED     |
|                   | puts it in the closed stage 4 with a closed_date, OPEN in stage 1)       |
| anything else     | a notes object whose hs_note_body names it ("chat", "product usage"):    |
|                   | HubSpot has no object for chats or product usage                          |

Each contact also gets what HubSpot keeps of its sales history as of now (`sales_history`):
the `hs_lifecyclestage_<stage>_date` of every stage up to its `lifecyclestage`, a won deal for
each customer (closed on its customer date), an open deal for each opportunity, and a lost
deal for some sales-qualified leads; amounts follow company size, currencies the country.

Seeding is lenient where the API is strict: a property the population uses that HubSpot lacks
is defined (as a string), and an enumeration value HubSpot lacks becomes an option.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from connectors.hubspot.sandbox.properties import (
    TICKET_CLOSED_STAGE,
    TICKET_PIPELINE,
    Option,
    PropertyDefinition,
    iso,
    lifecycle_date,
    parse_moment,
)
from connectors.hubspot.sandbox.store import Store
from connectors.sandbox_kit import CURRENCY_OF_COUNTRY, SeedMember

ANALYTICS_SOURCE = "ANALYTICS"
_NOTE_BODIES = {"chat": "chat", "product_usage": "product usage"}


def _later(current: str | None, candidate: datetime) -> bool:
    seen = parse_moment(current) if current else None
    return seen is None or candidate >= seen


def _earlier(current: str | None, candidate: datetime) -> bool:
    seen = parse_moment(current) if current else None
    return seen is None or candidate < seen


def _count(current: str | None) -> str:
    try:
        return str(int(float(current or "0")) + 1)
    except ValueError:
        return "1"


def contact_changes(
    current: Mapping[str, str], kind: str, at: datetime, details: Mapping[str, Any]
) -> dict[str, str] | None:
    """The contact properties an activity changes, or None when it is an engagement object."""
    stamp = iso(at)
    if kind == "page_view":
        changes = {
            "hs_analytics_num_page_views": _count(current.get("hs_analytics_num_page_views"))
        }
        if _later(current.get("hs_analytics_last_visit_timestamp"), at):
            changes["hs_analytics_last_visit_timestamp"] = stamp
            if details.get("url"):
                changes["hs_analytics_last_url"] = str(details["url"])
        return changes
    if kind in ("email_open", "email_click"):
        name = "hs_email_last_open_date" if kind == "email_open" else "hs_email_last_click_date"
        return {name: stamp} if _later(current.get(name), at) else {}
    if kind == "form_submission":
        form = str(details.get("form") or details.get("name") or "Form submission")
        changes = {"num_conversion_events": _count(current.get("num_conversion_events"))}
        if _later(current.get("recent_conversion_date"), at):
            changes |= {"recent_conversion_date": stamp, "recent_conversion_event_name": form}
        if _earlier(current.get("first_conversion_date"), at):
            changes |= {"first_conversion_date": stamp, "first_conversion_event_name": form}
        return changes
    return None


def _response_group(score: float) -> str:
    """NPS's groups: 9-10 promoters, 7-8 passives, 0-6 detractors."""
    return "PROMOTER" if score >= 9 else ("PASSIVE" if score >= 7 else "DETRACTOR")


def _survey(at: datetime, details: Mapping[str, Any]) -> dict[str, str]:
    survey_type = str(details.get("survey") or "nps").upper()
    values = {
        "hs_survey_type": survey_type,
        "hs_survey_name": f"Customer {survey_type}",
        "hs_survey_channel": "EMAIL",
        "hs_submission_timestamp": iso(at),
    }
    raw = details.get("score", details.get("rating"))
    try:
        score = float(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        score = None
    if score is not None:
        values["hs_value"] = str(int(score)) if score.is_integer() else str(score)
        if survey_type == "NPS":
            values["hs_response_group"] = _response_group(score)
    return values


# How long a closed ticket took: HubSpot keeps when it closed, the population only that it did.
TICKET_CLOSED_AFTER = timedelta(hours=30)


def _ticket(at: datetime, details: Mapping[str, Any], now: datetime | None) -> dict[str, str]:
    closed = str(details.get("status") or "OPEN").upper() == "CLOSED"
    values = {
        "subject": str(details.get("subject") or "Support request"),
        "hs_pipeline": TICKET_PIPELINE,
        "hs_pipeline_stage": TICKET_CLOSED_STAGE if closed else "1",
        "hs_ticket_priority": str(details.get("priority") or "MEDIUM").upper(),
    }
    if closed:
        closed_at = at + TICKET_CLOSED_AFTER
        values["closed_date"] = iso(min(closed_at, now) if now is not None else closed_at)
    return values


def engagement_for(
    kind: str, at: datetime, details: Mapping[str, Any], *, now: datetime | None = None
) -> tuple[str, dict[str, str]]:
    """The object type (an engagement, a ticket or a survey answer) and properties an activity
    becomes; `now` bounds the dates it implies (a ticket's close)."""
    stamp = iso(at)
    if kind == "survey_response":
        return "feedback_submissions", _survey(at, details)
    if kind == "ticket":
        return "tickets", _ticket(at, details, now)
    if kind == "meeting":
        outcome = str(
            details.get("hs_meeting_outcome") or details.get("outcome") or "COMPLETED"
        ).upper()
        title = str(details.get("title") or "Meeting")
        return "meetings", {
            "hs_timestamp": stamp,
            "hs_meeting_outcome": outcome,
            "hs_meeting_title": title,
        }
    if kind == "call":
        duration = (
            details.get("hs_call_duration")
            or details.get("duration_ms")
            or details.get("duration")
            or 0
        )
        try:
            duration_ms = int(float(duration))
        except (TypeError, ValueError):
            duration_ms = 0
        return "calls", {
            "hs_timestamp": stamp,
            "hs_call_direction": str(
                details.get("hs_call_direction") or details.get("direction") or "OUTBOUND"
            ).upper(),
            "hs_call_status": str(
                details.get("hs_call_status") or details.get("status") or "COMPLETED"
            ).upper(),
            "hs_call_duration": str(duration_ms),
        }
    if kind in ("email_reply", "email_sent"):
        return "emails", {
            "hs_timestamp": stamp,
            "hs_email_direction": "INCOMING_EMAIL" if kind == "email_reply" else "EMAIL",
            "hs_email_subject": str(details.get("subject") or "Re: your message"),
        }
    return "notes", {
        "hs_timestamp": stamp,
        "hs_note_body": _NOTE_BODIES.get(kind, kind.replace("_", " ")),
    }


def _valid(store: Store, object_type: str, values: Mapping[str, str]) -> dict[str, str]:
    """Values the definitions accept; a refused enumeration value falls back to the first option."""
    checked, errors = store.check(object_type, values)
    for error in errors:
        definition = store.definition(object_type, error.name)
        if definition is not None and definition.options:
            checked[error.name] = definition.options[0].value
    return checked


def apply_activity(
    store: Store,
    contact_id: str,
    kind: str,
    at: datetime,
    details: Mapping[str, Any],
    *,
    source: str = ANALYTICS_SOURCE,
    emit: bool = True,
) -> None:
    """Record one activity, now, the way HubSpot would keep it (and tell webhooks)."""
    with store.locked():
        contact = store.get("contacts", contact_id)
        if contact is None:
            return
        changes = contact_changes(contact.properties, kind, at, details)
        if changes is not None:
            if changes:
                store.update("contacts", contact_id, changes, source=source, emit=emit)
            return
        object_type, values = engagement_for(kind, at, details, now=store.clock())
        store.create_engagement(
            object_type,
            _valid(store, object_type, values),
            contact_id,
            source=source,
            emit=emit,
        )


def _define_leniently(store: Store, values: Mapping[str, str]) -> None:
    """Define properties and enumeration options the population uses and HubSpot lacks."""
    definitions = store.definitions["contacts"]
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is None:
            definitions[name] = PropertyDefinition(
                name=name,
                label=name.replace("_", " ").capitalize(),
                type="string",
                field_type="text",
                group_name="contactinformation",
                hubspot_defined=False,
            )
        elif definition.type == "enumeration" and not definition.read_only and value:
            known = {option.value for option in definition.options}
            wanted = value.split(";") if definition.field_type == "checkbox" else [value]
            for item in wanted:
                if item not in known:
                    definition.options.append(
                        Option(item, item.replace("_", " ").title(), len(definition.options))
                    )
                    known.add(item)


def seed(store: Store, members: Iterable[SeedMember]) -> dict[str, str]:
    """Load contacts and their activities (no webhooks); returns population id -> HubSpot id.

    A numeric population id is kept as the HubSpot id; others get the next free id.
    """
    ids: dict[str, str] = {}
    with store.locked():
        for member in members:
            contact = member.contact
            raw = {k: v for k, v in contact.properties.items() if v is not None}
            created = parse_moment(raw.pop("createdate", "") or "")
            for name in ("lastmodifieddate", "hs_object_id", "hs_merged_object_ids"):
                raw.pop(name, None)
            _define_leniently(store, raw)
            values, _ = store.check("contacts", raw)
            activities = sorted(member.activities, key=lambda activity: activity.occurred_at)
            if created is None:
                created = activities[0].occurred_at if activities else store.clock()
            created = min(created, store.clock())
            # What the activities leave on the contact, folded in before the one write.
            modified = created
            engagements: list[tuple[str, dict[str, str], datetime]] = []
            for activity in activities:
                at = min(activity.occurred_at, store.clock())
                changes = contact_changes(values, activity.type, at, activity.properties)
                if changes is None:
                    object_type, found = engagement_for(
                        activity.type, at, activity.properties, now=store.clock()
                    )
                    engagements.append((object_type, _valid(store, object_type, found), at))
                elif changes:
                    values.update(changes)
                    modified = max(modified, at)
            deals = sales_history(contact.id, values, created, store.clock())
            wanted_id = contact.id if contact.id.isdigit() else None
            if wanted_id is not None and store.resolve("contacts", wanted_id) is not None:
                wanted_id = None
            if _taken(store, values.get("email")):
                values.pop("email")  # a duplicate in the population: HubSpot would refuse it
            obj = store.create(
                "contacts",
                values,
                emit=False,
                object_id=wanted_id,
                created_at=created,
                modified_at=modified,
            )
            ids[contact.id] = obj.id
            for object_type, found, at in engagements:
                store.create_engagement(object_type, found, obj.id, emit=False, at=at)
            for deal, at in deals:
                store.create_engagement("deals", deal, obj.id, emit=False, at=at)
    return ids


# The stages HubSpot stamps a date for, in the order a contact moves through them.
_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)
_DEAL_SIZE = {
    "1-5": 1_200,
    "5-25": 4_800,
    "25-50": 9_000,
    "50-100": 15_000,
    "100-500": 30_000,
    "500-1000": 48_000,
    "1000+": 90_000,
}
_OPEN_STAGES = ("qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent")
LOST_SHARE = 0.3  # sales-qualified leads whose deal was lost


def sales_history(
    key: str, values: dict[str, str], created: datetime, now: datetime
) -> list[tuple[dict[str, str], datetime]]:
    """Stamp the lifecycle-stage dates into `values`; the deals to create, with their dates.

    Deterministic per `key` (the population id): a string seed is hashed the same way in every
    run, so reseeding gives the same history."""
    stage = values.get("lifecyclestage")
    if stage not in _STAGES:
        return []
    rng = random.Random(f"sales:{key}")  # noqa: S311 - a simulation, not a secret
    reached = _STAGES[: _STAGES.index(stage) + 1]
    if stage != "subscriber":
        reached = reached[1:]  # a lead that came in by a form was never a subscriber
    span = max((now - created).total_seconds(), 0.0)
    fractions = sorted(rng.random() for _ in reached[1:])
    stamps = [created] + [created + timedelta(seconds=span * f) for f in fractions]
    for name, at in zip(reached, stamps, strict=True):
        values[lifecycle_date(name)] = iso(at)
    entered = dict(zip(reached, stamps, strict=True))
    base = _DEAL_SIZE.get(values.get("numemployees") or "", 6_000)
    deal = {
        "dealname": f"{values.get('company') or 'New'} deal",
        "pipeline": "default",
        "amount": str(int(round(base * rng.uniform(0.6, 1.4), -2))),
        "deal_currency_code": CURRENCY_OF_COUNTRY.get(values.get("country") or "", "USD"),
    }
    if stage == "customer":
        won_at = entered["customer"]
        opened = entered.get("opportunity", won_at - timedelta(days=rng.uniform(10, 60)))
        closed = {"dealstage": "closedwon", "hs_is_closed": "true", "hs_is_closed_won": "true"}
        return [(deal | closed | {"closedate": iso(won_at)}, min(opened, won_at))]
    if stage == "opportunity":
        expected = now + timedelta(days=rng.uniform(10, 60))  # an open deal's expected close
        open_deal = {"dealstage": rng.choice(_OPEN_STAGES), "hs_is_closed": "false"}
        return [(deal | open_deal | {"closedate": iso(expected)}, entered["opportunity"])]
    if stage == "salesqualifiedlead" and rng.random() < LOST_SHARE:
        opened = entered["salesqualifiedlead"]
        lost_at = opened + (now - opened) * rng.random()
        lost = {"dealstage": "closedlost", "hs_is_closed": "true", "hs_is_closed_won": "false"}
        return [(deal | lost | {"closedate": iso(lost_at)}, opened)]
    return []


def _taken(store: Store, email: str | None) -> bool:
    return bool(email) and store.find_by("contacts", "email", email or "") is not None
