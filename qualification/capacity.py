"""Sizing sales_ready to the team: the bar that sends about `new_conversations_per_week` leads a
week to sales, from the current figures and the pace at which leads have been becoming ready.

The leads that become ready in a week are about proportional to the eligible leads (fit and
engaged) above the bar, so a recompute scales the number of eligible leads above the bar by
capacity / (entries of the last week): more entries than capacity raise the bar, fewer lower
it. The step is damped (its square root, at most a halving or doubling of that number) because
a week's entries are noisy and leads held back by a high bar all enter when it drops. The
first bar, without a history, is the capacity-th best eligible lead.

The bar is sticky: a recompute keeps it while the entries are within the capacity's margin, so
a daily recompute does not nudge leads in and out at the edge (each lead also keeps its status
until its figure falls below the bar lowered by the margin).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qualification.criteria import CapacityBar, Criteria
from qualification.engine import Qualification, qualify
from qualification.records import Activity, Contact
from qualification.statuses import Status

__all__ = [
    "CapacityUse",
    "Week",
    "eligible_figures",
    "simulate_weeks",
    "size_bar",
]

_MAX_STEP = 2.0  # a recompute at most doubles or halves the eligible leads above the bar


def size_bar(
    criteria: Criteria,
    eligible: Sequence[float],
    entered_per_week: float,
    at: datetime,
    previous: CapacityBar | None = None,
) -> CapacityBar:
    """The bar for `criteria.capacity`.

    eligible: the ranking figure (score, or probability once calibrated) of every lead that
    passes the fit and engagement thresholds now; entered_per_week: how many leads became
    sales-ready a week lately, under `previous` (ignored without one).
    """
    capacity = criteria.capacity
    if capacity is None:
        raise ValueError("these criteria state no capacity")
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    per_week = capacity.new_conversations_per_week
    by = criteria.ranked_by
    ranked = sorted(eligible, reverse=True)
    if previous is None or previous.by != by or previous.capacity != per_week:
        threshold = _bar_for(ranked, per_week)
        return CapacityBar(by, threshold, per_week, float(_above(ranked, threshold)), at)
    if abs(entered_per_week - per_week) <= capacity.margin * per_week:
        return CapacityBar(by, previous.threshold, per_week, entered_per_week, at)
    above = max(_above(ranked, previous.threshold), 1)
    step = math.sqrt(per_week / max(entered_per_week, 1.0))
    step = min(max(step, 1.0 / _MAX_STEP), _MAX_STEP)
    threshold = _bar_for(ranked, max(round(above * step), 1))
    expected = entered_per_week * _above(ranked, threshold) / above
    return CapacityBar(by, threshold, per_week, expected, at)


def _above(ranked: Sequence[float], threshold: float) -> int:
    return sum(1 for figure in ranked if figure >= threshold)


def _bar_for(ranked: Sequence[float], count: int) -> float:
    """The bar letting about `count` of the (descending) figures through. Leads that rank the
    same get the same answer: of the bar at the count-th figure (ties let a few more in) and
    the next one up (a few fewer), the closer."""
    if not ranked:
        return 0.0  # nobody eligible: whoever qualifies is within capacity
    if count >= len(ranked):
        return ranked[-1]
    threshold = ranked[count - 1]
    admitted = _above(ranked, threshold)
    higher = next((f for f in reversed(ranked[: count - 1]) if f > threshold), None)
    if higher is not None and count - _above(ranked, higher) < admitted - count:
        return higher
    return threshold


# --- Capacity used, week by week ----------------------------------------------------------------

_WEEK = timedelta(days=7)
_LEADS = frozenset({Status.SALES_READY, Status.POOR_FIT, Status.NURTURE})


@dataclass(frozen=True, slots=True)
class Week:
    ending: datetime
    entered: int  # leads that became sales_ready during the week: new conversations for sales
    ready: int  # sales_ready at its end
    bar: float | None  # the capacity bar in force during the week

    def to_dict(self) -> dict[str, Any]:
        return {
            "week_ending": self.ending.astimezone(UTC).isoformat(),
            "entered": self.entered,
            "ready": self.ready,
            "bar": self.bar,
        }


@dataclass(frozen=True, slots=True)
class CapacityUse:
    """What the schedule would have done over the weeks before `at`: the qualifications at
    `at` (each with its status of the week before as history) and the weeks."""

    weeks: tuple[Week, ...]
    capacity: int | None
    qualifications: tuple[Qualification, ...]
    bar: CapacityBar | None  # the bar in force at `at`

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity_per_week": self.capacity,
            "ranked_by": None if self.bar is None else self.bar.by,
            "weeks": [week.to_dict() for week in self.weeks],
        }


def eligible_figures(qualifications: Iterable[Qualification], criteria: Criteria) -> list[float]:
    """The ranking figure of every lead that passes the fit and engagement bars (or is sales-
    ready now): the leads a capacity bar chooses among."""
    thr = criteria.thresholds
    by = criteria.ranked_by
    figures = []
    for q in qualifications:
        passes = q.fit >= thr.fit and q.engagement >= thr.engagement and q.status in _LEADS
        if passes or q.status is Status.SALES_READY:
            figure = q.probability if by == "probability" else float(q.score)
            if figure is not None:
                figures.append(figure)
    return figures


def simulate_weeks(
    members: Sequence[tuple[Contact, Sequence[Activity]]],
    criteria: Criteria,
    at: datetime,
    weeks: int = 4,
) -> CapacityUse:
    """Score weekly over the `weeks` before `at`, each week with the bar the schedule would
    have sized from the week before (with `capacity`), and count the leads becoming ready."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    start = at - weeks * _WEEK
    plain = criteria.with_capacity_bar(None)
    current = [qualify(c, a, plain, start) for c, a in members]
    bar = None
    if criteria.capacity is not None:
        bar = size_bar(criteria, eligible_figures(current, criteria), 0.0, start)
    history: list[Week] = []
    for week in range(1, weeks + 1):
        t = start + week * _WEEK
        scoring = criteria.with_capacity_bar(bar)
        latest = [
            qualify(c, a, scoring, t, previous)
            for (c, a), previous in zip(members, current, strict=True)
        ]
        entered = sum(
            1
            for before, now in zip(current, latest, strict=True)
            if now.status is Status.SALES_READY and before.status is not Status.SALES_READY
        )
        ready = sum(1 for q in latest if q.status is Status.SALES_READY)
        history.append(Week(t, entered, ready, None if bar is None else bar.threshold))
        current = latest
        if criteria.capacity is not None and week < weeks:
            figures = eligible_figures(latest, criteria)
            bar = size_bar(criteria, figures, float(entered), t, bar)
    return CapacityUse(tuple(history), _per_week(criteria), tuple(current), bar)


def _per_week(criteria: Criteria) -> int | None:
    return None if criteria.capacity is None else criteria.capacity.new_conversations_per_week
