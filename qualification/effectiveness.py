"""Is qualification working? The effectiveness report, computed from a connection's history.

Pure: the app loads status changes, outcomes, rep activities and survey answers, and this
module turns them into the report. Everything is point in time: the cohort is the status each
contact had at `since` (read from its status changes, never from today's properties), only
what happened by `until` is seen, and a conversion counts only after the instant it is judged
from. Every rate carries its `n`; a group under `SMALL` is marked small.

Conversions are the outcomes `CONVERSIONS` (became an opportunity, a customer, or won a deal).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median, quantiles
from typing import Any, NamedTuple

from qualification.evaluation import CUSTOMER_STATUSES, SALES_READY, evaluate
from qualification.records import Outcome

__all__ = [
    "CONVERSIONS",
    "SMALL",
    "Change",
    "Happened",
    "ReportInput",
    "Survey",
    "Touch",
    "effectiveness_report",
    "rate",
]

SMALL = 30  # a group smaller than this is marked small
CONVERSIONS = frozenset({"became_opportunity", "became_customer", "deal_won"})
SALES = frozenset({"became_customer", "deal_won"})
DEALS = frozenset({"deal_won", "deal_lost"})
AT_RISK = "customer_at_risk"
ACTIVE = "customer_active"
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
_TICK = timedelta(microseconds=1)  # weeks are (start, end]: a change at `since + 7d` is week 0
COMPANY_CURRENCY = "company_currency"  # a deal whose CRM keeps one currency for the account


class Change(NamedTuple):
    """A status change: the contact entered `to_status` at `at` with this score/probability."""

    contact: int
    from_status: str | None
    to_status: str
    at: datetime
    score: int | None = None
    probability: float | None = None


class Happened(NamedTuple):
    """An outcome the CRM recorded for a contact."""

    contact: int
    kind: str
    at: datetime
    amount: float | None = None
    currency: str | None = None
    deal: str = ""


class Touch(NamedTuple):
    """A rep reaching a contact: a task, a call, a meeting, an email sent."""

    contact: int
    at: datetime


class Survey(NamedTuple):
    contact: int
    at: datetime
    survey: str  # nps, csat, ces
    value: float | None


@dataclass(frozen=True)
class ReportInput:
    since: datetime
    until: datetime
    horizon: timedelta
    changes: Sequence[Change]
    outcomes: Sequence[Happened]
    touches: Sequence[Touch]
    surveys: Sequence[Survey] | None  # None: the connection may not read them
    surveys_missing: str = ""  # why, when `surveys` is None
    outcomes_missing: str = ""  # why, when the connection reads no outcomes (none is no zero)


def rate(n: int, count: int, key: str = "count") -> dict[str, Any]:
    """A rate with its n, marked small under `SMALL`."""
    return {
        "n": n,
        key: count,
        "rate": round(count / n, 4) if n else None,
        "small": n < SMALL,
    }


class _Contact:
    """A contact's status changes, in time order."""

    __slots__ = ("changes",)

    def __init__(self, changes: list[Change]) -> None:
        changes.sort(key=_at)  # already in order from storage: linear
        self.changes = changes

    def status_at(self, at: datetime) -> Change | None:
        """The change in force at `at` (the last at or before it)."""
        i = bisect.bisect_right(self.changes, at, key=_at)
        return self.changes[i - 1] if i else None

    def before(self, at: datetime) -> Change | None:
        """The last change strictly before `at`."""
        i = bisect.bisect_left(self.changes, at, key=_at)
        return self.changes[i - 1] if i else None


def _at(change: Change) -> datetime:
    return change.at


@dataclass(frozen=True, slots=True)
class _Cohort:
    """What the report reads, the history grouped by contact and cut at `until`."""

    since: datetime
    until: datetime
    horizon: timedelta
    contacts: Mapping[int, _Contact]
    conversions: Mapping[int, list[datetime]]  # sorted
    outcomes: Sequence[Happened]
    touches: Mapping[int, list[datetime]]  # sorted
    at_since: Mapping[int, Change]  # each contact's status at `since`, if it had one

    @property
    def outcomes_until(self) -> datetime:
        return min(self.since + self.horizon, self.until)

    def converted(self, contact: int, after: datetime, by: datetime) -> datetime | None:
        """The first conversion of the contact in (after, by]."""
        times = self.conversions.get(contact, [])
        i = bisect.bisect_right(times, after)
        return times[i] if i < len(times) and times[i] <= by else None

    def first_touch(self, contact: int, after: datetime) -> datetime | None:
        times = self.touches.get(contact, [])
        i = bisect.bisect_left(times, after)
        return times[i] if i < len(times) and times[i] <= self.until else None


def effectiveness_report(data: ReportInput) -> dict[str, Any]:
    cohort = _cohort(data)
    return {
        "window": {
            "since": data.since.isoformat(),
            "until": data.until.isoformat(),
            "horizon_days": data.horizon / DAY,
            # Conversions of the cohort at `since` are counted up to this instant.
            "outcomes_until": cohort.outcomes_until.isoformat(),
            "small_under": SMALL,
        },
        **_conversion(cohort, data.outcomes_missing),
        **_deals(cohort, data.outcomes_missing),
        "forecast": _forecast(cohort),
        "flows": _flows(cohort),
        "status_mix": _status_mix(cohort),
        "time_to_conversion": _time_to_conversion(cohort),
        "left_unworked": _left_unworked(cohort),
        "speed_to_lead": _speed_to_lead(cohort),
        "customers": _customers(cohort),
        "happiness_by_presale_status": _happiness(cohort, data),
    }


def _cohort(data: ReportInput) -> _Cohort:
    until = data.until
    by_contact: dict[int, list[Change]] = defaultdict(list)
    for change in data.changes:
        if change.at <= until:
            by_contact[change.contact].append(change)
    contacts = {contact: _Contact(changes) for contact, changes in by_contact.items()}
    at_since: dict[int, Change] = {}
    for contact, history in contacts.items():
        then = history.status_at(data.since)
        if then is not None:
            at_since[contact] = then
    outcomes = [o for o in data.outcomes if o.at <= until]
    conversions: dict[int, list[datetime]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.kind in CONVERSIONS:
            conversions[outcome.contact].append(outcome.at)
    touches: dict[int, list[datetime]] = defaultdict(list)
    for touch in data.touches:
        if touch.at <= until:
            touches[touch.contact].append(touch.at)
    for times in (*conversions.values(), *touches.values()):
        times.sort()
    return _Cohort(
        data.since,
        until,
        data.horizon,
        contacts,
        conversions,
        outcomes,
        touches,
        at_since,
    )


class _Scored(NamedTuple):
    """A contact's qualification at `since`, as evaluation.evaluate reads it."""

    contact_id: str
    status: str
    score: int
    probability: float | None


def _at_since(cohort: _Cohort) -> Mapping[int, Change]:
    return cohort.at_since


def _conversion(cohort: _Cohort, missing: str) -> dict[str, Any]:
    if missing:
        note = f"no outcome data: {missing}"
        return {"lift": note, "conversion_by_status": note}
    leads = {c: ch for c, ch in _at_since(cohort).items() if ch.to_status not in CUSTOMER_STATUSES}
    by = cohort.outcomes_until
    outcomes = [
        Outcome(str(contact), cohort.converted(contact, cohort.since, by)) for contact in leads
    ]
    report = evaluate(
        [_Scored(str(c), ch.to_status, ch.score or 0, ch.probability) for c, ch in leads.items()],
        outcomes,
        cohort.since,
    )
    ready = report.conversion_by_status.get(SALES_READY)
    ready_rate = rate(ready.n if ready else 0, ready.converted if ready else 0, "converted")
    return {
        "lift": {
            "value": None if report.lift is None else round(report.lift, 4),
            "sales_ready": ready_rate,
            "all": rate(report.n, report.converted, "converted"),
            "roc_auc": None if report.roc_auc is None else round(report.roc_auc, 4),
            "ranked_by": report.ranked_by,
            "small": ready_rate["small"],
        },
        "conversion_by_status": {
            status: rate(r.n, r.converted, "converted")
            for status, r in report.conversion_by_status.items()
        },
    }


def _presale_group(cohort: _Cohort, contact: int, at: datetime) -> str:
    history = cohort.contacts.get(contact)
    change = history.before(at) if history else None
    if change is None:
        return "no_history"
    if change.to_status in CUSTOMER_STATUSES:
        return "customer"
    return SALES_READY if change.to_status == SALES_READY else "other"


def _deals(cohort: _Cohort, missing: str) -> dict[str, Any]:
    if missing:
        note = f"no outcome data: {missing}"
        return {"close_rate": note, "won_amount": note}
    # A deal is associated with each of its contacts: counted once, in the group of the
    # most qualified of them at its close (sales_ready first).
    order = {SALES_READY: 0, "other": 1, "customer": 2, "no_history": 3}
    deals: dict[str, tuple[str, Happened]] = {}
    for outcome in cohort.outcomes:
        if outcome.kind not in DEALS or not cohort.since < outcome.at <= cohort.until:
            continue
        group = _presale_group(cohort, outcome.contact, outcome.at)
        key = outcome.deal or f"{outcome.contact}:{outcome.at.isoformat()}"
        kept = deals.get(key)
        if kept is None or order[group] < order[kept[0]]:
            deals[key] = (group, outcome)
    closed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    amounts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for group, outcome in deals.values():
        closed[group][0] += 1
        if outcome.kind == "deal_won":
            closed[group][1] += 1
            if outcome.amount is not None:
                amounts[group][outcome.currency or COMPANY_CURRENCY] += outcome.amount
    groups = sorted(closed, key=order.__getitem__)
    return {
        "close_rate": {g: rate(closed[g][0], closed[g][1], "won") for g in groups},
        "won_amount": {
            g: {cur: round(total, 2) for cur, total in sorted(amounts[g].items())} for g in groups
        },
    }


def _forecast(cohort: _Cohort) -> dict[str, Any]:
    """Expected conversions (the sum of the probabilities contacts had on their status change
    in a week) against those of them that converted within the horizon; a week whose horizon
    is not over by `until` is marked incomplete."""
    entries = [
        change
        for history in cohort.contacts.values()
        for change in history.changes
        if cohort.since < change.at and change.to_status not in CUSTOMER_STATUSES
    ]
    cohort_at_since = _at_since(cohort).values()
    if not any(c.probability is not None for c in (*entries, *cohort_at_since)):
        return {
            "calibrated": False,
            "note": "the criteria are not calibrated: no conversion probabilities to forecast",
            "weeks": [],
            "calibration": [],
        }
    # The latest change of each contact in each week (entries are in time order per contact).
    by_week: dict[int, dict[int, Change]] = defaultdict(dict)
    for change in entries:
        if change.probability is not None:
            by_week[(change.at - cohort.since - _TICK) // WEEK][change.contact] = change
    weeks: list[dict[str, Any]] = []
    start, index = cohort.since, 0
    while start < cohort.until:
        end = min(start + WEEK, cohort.until)
        latest = by_week.get(index, {})
        actual = sum(
            1
            for change in latest.values()
            if cohort.converted(change.contact, change.at, change.at + cohort.horizon)
        )
        weeks.append(
            {
                "week_start": start.isoformat(),
                "n": len(latest),
                "expected": round(sum(c.probability or 0.0 for c in latest.values()), 2),
                "actual": actual,
                "complete": end + cohort.horizon <= cohort.until,
                "small": len(latest) < SMALL,
            }
        )
        start, index = end, index + 1
    return {"calibrated": True, "note": None, "weeks": weeks, "calibration": _deciles(cohort)}


def _deciles(cohort: _Cohort) -> list[dict[str, Any]]:
    """Leads at `since` ranked by the probability they had then, in ten groups of equal size:
    the mean predicted probability against the share that converted by `outcomes_until`."""
    by = cohort.outcomes_until
    # Ties keep the contacts' order: sorting on the outcome too would stack a decile.
    scored = sorted(
        (
            (change.probability, cohort.converted(contact, cohort.since, by) is not None)
            for contact, change in _at_since(cohort).items()
            if change.probability is not None and change.to_status not in CUSTOMER_STATUSES
        ),
        key=lambda pair: pair[0],
    )
    table = []
    for decile in range(10):
        group = scored[len(scored) * decile // 10 : len(scored) * (decile + 1) // 10]
        if not group:
            continue
        converted = sum(1 for _, hit in group if hit)
        table.append(
            {
                "decile": decile + 1,
                "predicted": round(sum(p for p, _ in group) / len(group), 4),
                **rate(len(group), converted, "converted"),
            }
        )
    return table


def _flows(cohort: _Cohort) -> dict[str, Any]:
    """Status changes in (since, until]: from -> to -> count. Contacts move both ways."""
    matrix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    total = 0
    for history in cohort.contacts.values():
        for change in history.changes:
            if cohort.since < change.at:
                matrix[change.from_status or "new"][change.to_status] += 1
                total += 1
    return {
        "n": total,
        "matrix": {f: dict(sorted(to.items())) for f, to in sorted(matrix.items())},
    }


def _status_mix(cohort: _Cohort) -> list[dict[str, Any]]:
    """How many contacts held each status at `since`, at the end of each week after it, and
    at `until`: one sweep over the changes in time order, not a look-up per contact and week."""
    points = [cohort.since]
    while points[-1] + WEEK < cohort.until:
        points.append(points[-1] + WEEK)
    if points[-1] < cohort.until:
        points.append(cohort.until)
    changes = sorted(
        (change for history in cohort.contacts.values() for change in history.changes), key=_at
    )
    held: dict[int, str] = {}
    counts: Counter[str] = Counter()
    mix: list[dict[str, Any]] = []
    i = 0
    for point in points:
        while i < len(changes) and changes[i].at <= point:
            change = changes[i]
            before = held.get(change.contact)
            if before is not None:
                counts[before] -= 1
            held[change.contact] = change.to_status
            counts[change.to_status] += 1
            i += 1
        mix.append(
            {
                "at": point.isoformat(),
                "n": len(held),
                "counts": {status: n for status, n in sorted(counts.items()) if n},
            }
        )
    return mix


def _days(values: Iterable[timedelta]) -> dict[str, Any]:
    days = sorted(v / DAY for v in values)
    if not days:
        return {"n": 0, "median_days": None, "p25_days": None, "p75_days": None, "small": True}
    q = quantiles(days, n=4, method="inclusive") if len(days) > 1 else [days[0]] * 3
    return {
        "n": len(days),
        "median_days": round(median(days), 2),
        "p25_days": round(q[0], 2),
        "p75_days": round(q[2], 2),
        "small": len(days) < SMALL,
    }


def _time_to_conversion(cohort: _Cohort) -> dict[str, Any]:
    """From the latest entry into sales_ready to the first conversion in the window."""
    spans: list[timedelta] = []
    without = 0
    for contact, times in cohort.conversions.items():
        at = next((t for t in times if cohort.since < t), None)
        if at is None:
            continue
        history = cohort.contacts.get(contact)
        entry = None
        if history is not None:
            entry = next(
                (c for c in reversed(history.changes) if c.at <= at and c.to_status == SALES_READY),
                None,
            )
        if entry is None:
            without += 1
        else:
            spans.append(at - entry.at)
    return {"from_sales_ready": _days(spans), "converted_without_sales_ready": without}


def _left_unworked(cohort: _Cohort) -> dict[str, Any]:
    """Contacts that left sales_ready in the window with no rep activity while they were."""
    left = unworked = 0
    to: dict[str, int] = defaultdict(int)
    for contact, history in cohort.contacts.items():
        for previous, change in zip(history.changes, history.changes[1:], strict=False):
            if change.from_status != SALES_READY or not cohort.since < change.at:
                continue
            left += 1
            touched = cohort.first_touch(contact, previous.at)
            if touched is None or touched > change.at:
                unworked += 1
                to[change.to_status] += 1
    return {**rate(left, unworked, "unworked"), "unworked_to": dict(sorted(to.items()))}


def _speed_to_lead(cohort: _Cohort) -> dict[str, Any]:
    """Entries into sales_ready in the window with a full week to watch: how many a rep reached
    within a day and within a week, and the conversion of those reached against those left
    waiting (within the horizon after entering)."""
    n = day = week = 0
    reached = [0, 0]
    waiting = [0, 0]
    for contact, history in cohort.contacts.items():
        entry = next(
            (
                c
                for c in history.changes
                if c.to_status == SALES_READY and cohort.since < c.at <= cohort.until - WEEK
            ),
            None,
        )
        if entry is None:
            continue
        n += 1
        touched = cohort.first_touch(contact, entry.at)
        within_week = touched is not None and touched - entry.at <= WEEK
        day += touched is not None and touched - entry.at <= DAY
        week += within_week
        group = reached if within_week else waiting
        group[0] += 1
        group[1] += (
            cohort.converted(contact, entry.at, min(entry.at + cohort.horizon, cohort.until))
            is not None
        )
    return {
        "within_a_day": rate(n, day, "reached"),
        "within_a_week": rate(n, week, "reached"),
        "conversion_reached": rate(reached[0], reached[1], "converted"),
        "conversion_waiting": rate(waiting[0], waiting[1], "converted"),
    }


def _customers(cohort: _Cohort) -> dict[str, Any]:
    """Customers at `since`: the share at risk, and what became of the at-risk by
    `outcomes_until`: churned (left the customer statuses), recovered (active again)."""
    customers = {c: ch for c, ch in _at_since(cohort).items() if ch.to_status in CUSTOMER_STATUSES}
    by = cohort.outcomes_until
    fate: dict[str, dict[str, int]] = {AT_RISK: defaultdict(int), ACTIVE: defaultdict(int)}
    for contact, change in customers.items():
        later = [c for c in cohort.contacts[contact].changes if cohort.since < c.at <= by]
        churned = next((c for c in later if c.to_status not in CUSTOMER_STATUSES), None)
        if churned is not None:
            fate[change.to_status]["churned"] += 1
        elif change.to_status == AT_RISK and any(c.to_status == ACTIVE for c in later):
            fate[AT_RISK]["recovered"] += 1
    at_risk = sum(1 for ch in customers.values() if ch.to_status == AT_RISK)
    active = len(customers) - at_risk
    return {
        "at_risk_share": rate(len(customers), at_risk, "at_risk"),
        "at_risk_churned": rate(at_risk, fate[AT_RISK]["churned"], "churned"),
        "at_risk_recovered": rate(at_risk, fate[AT_RISK]["recovered"], "recovered"),
        "active_churned": rate(active, fate[ACTIVE]["churned"], "churned"),
    }


def _happiness(cohort: _Cohort, data: ReportInput) -> dict[str, Any] | str:
    """NPS and CSAT of the customers sold by `until`, by the status they had before the sale:
    each customer's latest answer after the sale."""
    if data.surveys is None:
        return f"no survey data: {data.surveys_missing or 'scope missing'}"
    sold: dict[int, datetime] = {}
    for outcome in cohort.outcomes:
        if outcome.kind in SALES and (
            outcome.contact not in sold or outcome.at < sold[outcome.contact]
        ):
            sold[outcome.contact] = outcome.at
    latest: dict[tuple[int, str], Survey] = {}
    for survey in sorted(data.surveys, key=lambda s: s.at):
        sale = sold.get(survey.contact)
        if sale is None or survey.value is None or not sale < survey.at <= cohort.until:
            continue
        latest[(survey.contact, survey.survey)] = survey
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (contact, kind), survey in latest.items():
        status = _presale_status(cohort, contact, sold[contact])
        if survey.value is not None:
            groups[status][kind].append(survey.value)
    return {status: _voice(answers) for status, answers in sorted(groups.items())}


def _presale_status(cohort: _Cohort, contact: int, sale: datetime) -> str:
    history = cohort.contacts.get(contact)
    if history is None:
        return "no_history"
    for change in reversed(history.changes):
        if change.at < sale and change.to_status not in CUSTOMER_STATUSES:
            return change.to_status
    return "no_history"


def _voice(answers: Mapping[str, list[float]]) -> dict[str, Any]:
    nps = answers.get("nps", [])
    csat = answers.get("csat", [])
    promoters = sum(1 for v in nps if v >= 9)
    detractors = sum(1 for v in nps if v <= 6)
    return {
        "nps": {
            "n": len(nps),
            "score": round(100 * (promoters - detractors) / len(nps), 1) if nps else None,
            "promoters": promoters,
            "detractors": detractors,
            "small": len(nps) < SMALL,
        },
        "csat": {
            "n": len(csat),
            "mean": round(sum(csat) / len(csat), 2) if csat else None,
            "satisfied": sum(1 for v in csat if v >= 4),  # 4 or 5 on HubSpot's 1-5 scale
            "small": len(csat) < SMALL,
        },
    }
