"""Engagement: activity points that fade with time, kept as one decayed sum per signal.

All signals of one activity type share its half-life, so a state is a handful of numbers at a
reference time `at`; engagement at any later time is O(signals), never O(activities).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from qualification.criteria import (
    CompiledCriteria,
    CompiledSignal,
    CompiledType,
    Criteria,
    render_label,
)
from qualification.records import Activity
from qualification.times import parse_instant

_MAX_NEWTON_STEPS = 200
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_SECOND_FRACTION = 1e-3  # Newton stops once a step is shorter than this (seconds)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class SignalSum(NamedTuple):
    """One signal's points so far (a tuple: a state holds many, and they are made by the
    million)."""

    signal: str
    type: str
    label: str
    value: float  # decayed points at the state's `at`, before any cap
    last_at: datetime  # the latest activity that fed this signal

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "type": self.type,
            "label": self.label,
            "value": self.value,
            "last_at": format_time(self.last_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalSum:
        return cls(
            signal=str(data["signal"]),
            type=str(data["type"]),
            label=str(data["label"]),
            value=float(data["value"]),
            last_at=parse_instant(data["last_at"]),
        )


@dataclass(frozen=True, slots=True)
class EngagementState:
    """Decayed sums at `at`: engagement signals, and for customers (under criteria with
    customer_health) the health signals, kept apart because their points and half-lives are
    their own."""

    at: datetime
    signals: tuple[SignalSum, ...] = ()
    health: tuple[SignalSum, ...] = ()

    def value_at(self, t: datetime, criteria: Criteria) -> dict[str, float]:
        """Each signal's sum decayed to `t` (uncapped): value * 2^(-(t - at) / half-life)."""
        types = criteria.compiled.types
        seconds = (t - self.at).total_seconds()
        return {
            s.signal: s.value * math.exp(-types[s.type].rate * seconds)
            for s in self.signals
            if s.type in types
        }

    @property
    def last_activity_at(self) -> datetime | None:
        return max((s.last_at for s in self.signals), default=None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": format_time(self.at),
            "signals": [s.to_dict() for s in self.signals],
        }
        if self.health:  # leads' stored states stay as they were
            data["health"] = [s.to_dict() for s in self.health]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngagementState:
        return cls(
            at=parse_instant(data["at"]),
            signals=tuple(SignalSum.from_dict(s) for s in data.get("signals", ())),
            health=tuple(SignalSum.from_dict(s) for s in data.get("health", ())),
        )


class Contribution(NamedTuple):
    signal: str
    label: str
    points: float  # decayed, with the type's cap shared pro rata
    last_at: datetime


def empty(at: datetime) -> EngagementState:
    if at.tzinfo is None:
        raise ValueError("engagement times must be timezone-aware")
    return EngagementState(at=at)


def classify(activity: Activity, criteria: CompiledCriteria) -> CompiledSignal | None:
    """The signal an activity feeds: the first matching rule of its type, else the default."""
    ctype = criteria.types.get(activity.type)
    if ctype is None:
        return None  # types the criteria do not name carry no engagement
    return ctype.signal_for(activity.properties)


def fold(
    state: EngagementState, activities: Iterable[Activity], criteria: Criteria
) -> EngagementState:
    """Add activities: older ones are decayed to `state.at`; newer ones move the reference up."""
    compiled = criteria.compiled
    activities = list(activities)
    ref = max((a.occurred_at for a in activities if a.type in compiled.types), default=state.at)
    return accumulate(advance_compiled(state, ref, compiled), activities, compiled)


def advance(state: EngagementState, t: datetime, criteria: Criteria) -> EngagementState:
    """The same state with its reference moved forward to `t` (values decayed)."""
    return advance_compiled(state, t, criteria.compiled)


def advance_compiled(
    state: EngagementState, t: datetime, compiled: CompiledCriteria
) -> EngagementState:
    if t <= state.at:
        return state
    seconds = (t - state.at).total_seconds()
    health = compiled.health
    return EngagementState(
        at=t,
        signals=_decayed(state.signals, compiled.types, seconds),
        health=_decayed(state.health, health.types, seconds) if health is not None else (),
    )


def _decayed(
    signals: tuple[SignalSum, ...], types: Mapping[str, CompiledType], seconds: float
) -> tuple[SignalSum, ...]:
    return tuple(
        SignalSum(
            s.signal,
            s.type,
            s.label,
            s.value * math.exp(-types[s.type].rate * seconds) if s.type in types else s.value,
            s.last_at,
        )
        for s in signals
    )


def accumulate(
    state: EngagementState,
    activities: Iterable[Activity],
    compiled: CompiledCriteria,
    with_health: bool = False,
) -> EngagementState:
    """Add the activities up to `state.at` (later ones are skipped), decayed to `state.at`;
    with `with_health` (customers, under criteria with customer_health) their health signals
    too, in the same pass.

    The hot path of scoring: one pass, no intermediate lists. Activities are summed in time
    order so that the float result does not depend on the order they arrive in; input that
    is not in time order is sorted first (a second pass).
    """
    if not isinstance(activities, list | tuple):
        activities = list(activities)  # the out-of-order path needs to see them all again
    if with_health and compiled.health is not None:
        return _accumulate_customer(state, activities, compiled)
    until = state.at
    types = compiled.types
    exp = math.exp
    sums: dict[str, float] = {}
    lasts: dict[str, datetime] = {}
    previous = _EARLIEST
    for activity in activities:
        occurred = activity.occurred_at
        if occurred > until:
            continue
        ctype = types.get(activity.type)
        if ctype is None:
            continue
        if occurred < previous:
            in_time_order = sorted(activities, key=_occurred_at)
            return accumulate(state, in_time_order, compiled)
        previous = occurred
        signal = ctype.signal_for(activity.properties) if ctype.rules else ctype.default
        key = signal.signal
        decay = exp(signal.rate * (occurred - until).total_seconds())
        sums[key] = sums.get(key, 0.0) + signal.points * decay
        lasts[key] = occurred  # time order: the last one seen is the latest
    if not sums:
        return state
    signals = _merged(state.signals, sums, lasts, compiled.signals)
    return EngagementState(at=until, signals=signals, health=state.health)


def _merged(
    old_signals: tuple[SignalSum, ...],
    sums: dict[str, float],
    lasts: dict[str, datetime],
    known: Mapping[str, CompiledSignal],
) -> tuple[SignalSum, ...]:
    """New sums plus the previous ones (already decayed to the same instant), by signal."""
    described = {}
    for old in old_signals:  # an update: merge the previous sums
        key = old.signal
        if key in sums:
            sums[key] += old.value
            if old.last_at > lasts[key]:
                lasts[key] = old.last_at
        else:
            sums[key] = old.value
            lasts[key] = old.last_at
        described[key] = (old.type, old.label)
    new = tuple.__new__
    signals = []
    for key in sorted(sums):
        info = known.get(key)
        kind, label = described[key] if info is None else (info.type, info.label)
        signals.append(new(SignalSum, (key, kind, label, sums[key], lasts[key])))
    return tuple(signals)


def _accumulate_customer(
    state: EngagementState, activities: Sequence[Activity], compiled: CompiledCriteria
) -> EngagementState:
    """`accumulate` for a customer: engagement and health signals in one pass. Health labels
    that name properties show the latest activity's values."""
    health = compiled.health
    assert health is not None
    until = state.at
    types, htypes, templates = compiled.types, health.types, health.templates
    exp = math.exp
    sums: dict[str, float] = {}
    lasts: dict[str, datetime] = {}
    hsums: dict[str, float] = {}
    hlasts: dict[str, datetime] = {}
    labels: dict[str, str] = {}
    previous = _EARLIEST
    for activity in activities:
        occurred = activity.occurred_at
        if occurred > until:
            continue
        kind = activity.type
        ctype = types.get(kind)
        htype = htypes.get(kind)
        if ctype is None and htype is None:
            continue
        if occurred < previous:
            return _accumulate_customer(state, sorted(activities, key=_occurred_at), compiled)
        previous = occurred
        seconds = (occurred - until).total_seconds()
        if ctype is not None:
            signal = ctype.signal_for(activity.properties) if ctype.rules else ctype.default
            key = signal.signal
            sums[key] = sums.get(key, 0.0) + signal.points * exp(signal.rate * seconds)
            lasts[key] = occurred
        if htype is not None:
            signal = htype.signal_for(activity.properties) if htype.rules else htype.default
            key = signal.signal
            hsums[key] = hsums.get(key, 0.0) + signal.points * exp(signal.rate * seconds)
            hlasts[key] = occurred
            if key in templates:
                labels[key] = render_label(signal.label, activity.properties)
    signals = _merged(state.signals, sums, lasts, compiled.signals) if sums else state.signals
    if not hsums:
        return EngagementState(at=until, signals=signals, health=state.health)
    fresh = dict(hlasts)  # the new activities' latest, before the merge
    merged = _merged(state.health, hsums, hlasts, health.signals)
    if templates:
        # a templated label is the latest activity's: a new one's, or the one kept from before
        kept = {old.signal: old.label for old in state.health}
        merged = tuple(
            s
            if s.signal not in templates
            else s._replace(
                label=labels[s.signal]
                if s.signal in labels and s.last_at == fresh.get(s.signal)
                else kept.get(s.signal, s.label)
            )
            for s in merged
        )
    return EngagementState(at=until, signals=signals, health=merged)


def _occurred_at(activity: Activity) -> datetime:
    return activity.occurred_at


# ---------------------------------------------------------------------------------------------
# Per-type totals: the engine's and the solver's view of a state

TypeTotal = tuple[float, float, float]  # (value at state.at, rate per second, cap)


class Snapshot(NamedTuple):
    """A state seen from `seconds` after its reference time."""

    totals: tuple[TypeTotal, ...]  # per type present, for the solver
    engagement: float  # capped per type, unclamped; equals total_at(totals, seconds)
    scale: dict[str, float]  # type -> factor from a signal's value to its contribution
    last_activity_at: datetime | None


def snapshot(state: EngagementState, criteria: CompiledCriteria, seconds: float) -> Snapshot:
    by_type: dict[str, float] = {}
    last = None
    for s in state.signals:
        by_type[s.type] = by_type.get(s.type, 0.0) + s.value
        if last is None or s.last_at > last:
            last = s.last_at
    types = criteria.types
    exp = math.exp
    totals = []
    scale = {}
    engagement = 0.0
    for key, value in by_type.items():
        ctype = types.get(key)
        if ctype is None:
            continue  # a type these criteria do not know carries nothing
        rate, cap = ctype.rate, ctype.cap
        totals.append((value, rate, cap))
        factor = exp(-rate * seconds) if seconds else 1.0
        decayed = value * factor  # same expression as total_at: identical floats
        if decayed < cap:
            engagement += decayed
            scale[key] = factor
        else:
            engagement += cap
            scale[key] = factor * cap / decayed  # the cap is shared pro rata
    return Snapshot(tuple(totals), engagement, scale, last)


def type_totals(state: EngagementState, criteria: CompiledCriteria) -> tuple[TypeTotal, ...]:
    """One (value, rate, cap) per activity type present."""
    return snapshot(state, criteria, 0.0).totals


def total_at(totals: tuple[TypeTotal, ...], seconds: float) -> float:
    """Engagement `seconds` after the state's reference time (capped per type, unclamped)."""
    exp = math.exp
    engagement = 0.0
    for value, rate, cap in totals:
        decayed = value * exp(-rate * seconds)
        engagement += decayed if decayed < cap else cap
    return engagement


def engagement_at(state: EngagementState, criteria: Criteria, t: datetime) -> float:
    """Engagement points at `t` (the 0..100 clamp is the engine's business)."""
    return snapshot(state, criteria.compiled, (t - state.at).total_seconds()).engagement


def contributions_at(state: EngagementState, criteria: Criteria, t: datetime) -> list[Contribution]:
    """What each signal adds at `t`; a capped type shares its cap pro rata among its signals."""
    scale = snapshot(state, criteria.compiled, (t - state.at).total_seconds()).scale
    return [
        Contribution(s.signal, s.label, s.value * scale[s.type], s.last_at)
        for s in state.signals
        if s.type in scale
    ]


# ---------------------------------------------------------------------------------------------
# When does engagement fall below a level?


def seconds_until_below(
    totals: tuple[TypeTotal, ...], level: float, start: float, current: float | None = None
) -> float | None:
    """The earliest s >= start with total_at(totals, s) < level (to ~1 ms), None if never.

    Engagement is a sum of capped exponentials: flat while a type is at its cap, then
    decaying. Between two consecutive "cap releases" the log of the sum is convex and
    decreasing, so Newton's method on it, started at the left end, never overshoots the root
    and is exact in one step when one type dominates.
    """
    if level <= 0.0:
        return None  # engagement never goes negative
    if (total_at(totals, start) if current is None else current) < level:
        return start
    releases = sorted(
        math.log(value / cap) / rate
        for value, rate, cap in totals
        if value > cap and math.log(value / cap) / rate > start
    )
    left = start
    for release in releases:
        if total_at(totals, release) >= level:
            left = release
        else:
            break
    return _newton_from_left(totals, level, left)


def _newton_from_left(totals: tuple[TypeTotal, ...], level: float, left: float) -> float:
    # Terms still at their cap just after `left` stay constant until the root (their release
    # comes later, else `left` would have moved past it).
    constant = 0.0
    by_rate: dict[float, float] = {}  # types sharing a half-life decay as one term
    for value, rate, cap in totals:
        if value > cap and math.log(value / cap) / rate > left:
            constant += cap
        elif value > 0.0:
            by_rate[rate] = by_rate.get(rate, 0.0) + value
    decaying = [(value, rate) for rate, value in by_rate.items()]
    remaining = level - constant
    if remaining <= 0.0 or not decaying:
        return left  # float noise at a release point: the crossing is right here
    # The sum is at least the constant plus any one decaying term, so where one term alone
    # falls to `remaining` is not after the root: a safe start, exact when one type dominates.
    s = left
    for value, rate in decaying:
        if value > remaining:
            alone = math.log(value / remaining) / rate
            if alone > s:
                s = alone
    if len(decaying) == 1:
        return s
    log_level = math.log(level)
    exp = math.exp
    for _ in range(_MAX_NEWTON_STEPS):
        total, slope = constant, 0.0
        for value, rate in decaying:
            term = value * exp(-rate * s)
            total += term
            slope -= rate * term
        if total < level or slope == 0.0:
            break
        step = (math.log(total) - log_level) * total / -slope
        s += step
        if step < _SECOND_FRACTION:
            break
    return s
