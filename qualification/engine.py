"""Scoring: a contact plus its activities, under some criteria, at an instant -> Qualification.

Three entry points share one assessment: `qualify` (everything from scratch), `update` (fold new
activities into the previous state) and `rescore` (time passed, nothing else: O(signals)).
Every result says when, without new activity, it would next change (`next_change_at`), so
callers schedule rescoring instead of polling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from qualification.criteria import (
    INACTIVITY_SIGNAL,
    OVERRIDE_SIGNAL,
    STATUS_SIGNAL,
    CompiledCriteria,
    Criteria,
)
from qualification.engagement import (
    EngagementState,
    Snapshot,
    TypeTotal,
    accumulate,
    advance_compiled,
    format_time,
    seconds_until_below,
    snapshot,
    total_at,
)
from qualification.health import HealthSnapshot, health_snapshot, raw_at, seconds_until_crossing
from qualification.records import Activity, Contact
from qualification.statuses import OVERRIDE_PROPERTY, Status, parse_override
from qualification.times import parse_instant

_ENGAGED = frozenset({Status.SALES_READY, Status.POOR_FIT})
_CUSTOMER = frozenset({Status.CUSTOMER_ACTIVE, Status.CUSTOMER_AT_RISK})
_MS = timedelta(milliseconds=1)
_MAX_NUDGES = 1000  # ms steps allowed to absorb float error after the analytic solution


def _round(x: float) -> int:
    """Half-up rounding (Python's round() is half-even, which would make thresholds uneven)."""
    return math.floor(x + 0.5)


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True)
class Reason:
    signal: str
    label: str
    points: int
    on: date | None = None  # latest event (engagement) or start of inactivity (penalty)

    @property
    def text(self) -> str:
        head = self.label if self.points == 0 else f"{self.points:+d} {self.label}"
        return head if self.on is None else f"{head} {self.on.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        on = None if self.on is None else self.on.isoformat()
        return {"signal": self.signal, "label": self.label, "points": self.points, "on": on}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        on = data.get("on")
        return cls(
            signal=str(data["signal"]),
            label=str(data["label"]),
            points=int(data["points"]),
            on=None if on is None else date.fromisoformat(on),
        )


_SET_BY_REP = Reason(OVERRIDE_SIGNAL, "set by rep", 0)
_NOTHING_KNOWN = Reason(STATUS_SIGNAL, "nothing known yet: no fit data, no activity", 0)


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything a rescore needs to know about the contact itself."""

    fit: int
    fit_reasons: tuple[Reason, ...]
    has_fit_data: bool
    disqualifier: Reason | None
    customer: bool
    override: Status | None
    signals: Mapping[str, float]  # fit signals that fired -> 1.0 (calibration features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fit": self.fit,
            "fit_reasons": [r.to_dict() for r in self.fit_reasons],
            "has_fit_data": self.has_fit_data,
            "disqualifier": None if self.disqualifier is None else self.disqualifier.to_dict(),
            "customer": self.customer,
            "override": None if self.override is None else self.override.value,
            "signals": dict(self.signals),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        disqualifier, override = data.get("disqualifier"), data.get("override")
        return cls(
            fit=int(data["fit"]),
            fit_reasons=tuple(Reason.from_dict(r) for r in data.get("fit_reasons", ())),
            has_fit_data=bool(data["has_fit_data"]),
            disqualifier=None if disqualifier is None else Reason.from_dict(disqualifier),
            customer=bool(data["customer"]),
            override=None if override is None else Status(override),
            signals={str(k): float(v) for k, v in data.get("signals", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Qualification:
    contact_id: str
    status: Status
    score: int
    fit: int
    engagement: int
    health: int | None  # customers, under criteria with customer_health
    reasons: tuple[Reason, ...]
    reasons_text: str
    criteria_version: str
    status_since: datetime
    computed_at: datetime
    next_change_at: datetime | None
    probability: float | None
    profile: Profile
    engagement_state: EngagementState

    def to_public_dict(self) -> dict[str, Any]:
        """What the CLI prints and the API returns: no profile or engagement state."""
        return {
            "contact_id": self.contact_id,
            "status": self.status.value,
            "score": self.score,
            "fit": self.fit,
            "engagement": self.engagement,
            "health": self.health,
            "reasons": [
                {"signal": r.signal, "label": r.label, "points": r.points} for r in self.reasons
            ],
            "reasons_text": self.reasons_text,
            "criteria_version": self.criteria_version,
            "status_since": format_time(self.status_since),
            "computed_at": format_time(self.computed_at),
            "next_change_at": None
            if self.next_change_at is None
            else format_time(self.next_change_at),
            "probability": self.probability,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-safe, for storage: `from_dict` gives back an equal Qualification."""
        return {
            **self.to_public_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
            "profile": self.profile.to_dict(),
            "engagement_state": self.engagement_state.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Qualification:
        next_change = data.get("next_change_at")
        probability, health = data.get("probability"), data.get("health")
        return cls(
            contact_id=str(data["contact_id"]),
            status=Status(data["status"]),
            score=int(data["score"]),
            fit=int(data["fit"]),
            engagement=int(data["engagement"]),
            health=None if health is None else int(health),
            reasons=tuple(Reason.from_dict(r) for r in data["reasons"]),
            reasons_text=str(data["reasons_text"]),
            criteria_version=str(data["criteria_version"]),
            status_since=parse_instant(data["status_since"]),
            computed_at=parse_instant(data["computed_at"]),
            next_change_at=None if next_change is None else parse_instant(next_change),
            probability=None if probability is None else float(probability),
            profile=Profile.from_dict(data["profile"]),
            engagement_state=EngagementState.from_dict(data["engagement_state"]),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    contact_id: str
    from_status: Status | None
    to_status: Status
    at: datetime
    reason: str


# ---------------------------------------------------------------------------------------------
# Public entry points


def build_profile(contact: Contact, criteria: Criteria) -> Profile:
    """Fit, disqualifier, customer and override: what the contact's properties say."""
    return _profile(contact, criteria.compiled)


def qualify(
    contact: Contact,
    activities: Iterable[Activity],
    criteria: Criteria,
    at: datetime,
    previous: Qualification | None = None,
) -> Qualification:
    """Full scoring from the contact and all its activities (those after `at` are ignored)."""
    _require_aware(at)
    compiled = criteria.compiled
    profile = _profile(contact, compiled)
    state = accumulate(EngagementState(at=at), activities, compiled, profile.customer)
    return _assess(contact.id, profile, state, compiled, at, previous)


def update(
    previous: Qualification,
    contact: Contact,
    new_activities: Iterable[Activity],
    criteria: Criteria,
    at: datetime,
) -> Qualification:
    """Fold only new activities into `previous` (same result as `qualify` over all of them)."""
    compiled = _same_criteria(previous, criteria)
    _require_aware(at)
    if contact.id != previous.contact_id:
        raise ValueError(f"contact {contact.id!r} is not {previous.contact_id!r}")
    if at < previous.computed_at:
        raise ValueError("update cannot go back in time")
    profile = _profile(contact, compiled)
    tracked = previous.profile.customer and compiled.health is not None
    if profile.customer and compiled.health is not None and not tracked:
        # health is only kept for customers: the earlier activities' part is not in the state
        raise ValueError(f"contact {contact.id!r} became a customer: use qualify()")
    state = advance_compiled(previous.engagement_state, at, compiled)
    state = accumulate(state, new_activities, compiled, profile.customer)
    if state.health and not profile.customer:
        state = EngagementState(state.at, state.signals)  # no longer a customer
    return _assess(contact.id, profile, state, compiled, at, previous)


def rescore(previous: Qualification, criteria: Criteria, at: datetime) -> Qualification:
    """Time passed, nothing else happened: O(signals), from the profile and engagement state."""
    compiled = _same_criteria(previous, criteria)
    _require_aware(at)
    if at < previous.engagement_state.at:
        raise ValueError("rescore cannot go back in time")
    return _assess(
        previous.contact_id,
        previous.profile,
        previous.engagement_state,
        compiled,
        at,
        previous,
    )


def transition(previous: Qualification | None, current: Qualification) -> Transition | None:
    """The status change from `previous` to `current`, if any (a first qualification is one)."""
    if previous is not None and previous.status == current.status:
        return None
    pinned = current.reasons[:1] == (_SET_BY_REP,)
    return Transition(
        contact_id=current.contact_id,
        from_status=None if previous is None else previous.status,
        to_status=current.status,
        at=current.computed_at,
        reason=_SET_BY_REP.label if pinned else current.reasons_text,
    )


def feature_values(q: Qualification, criteria: Criteria) -> dict[str, float]:
    """The calibration features behind `probability`: fit signals fired (1.0), each engagement
    signal's decayed points (its type's cap shared pro rata) and the inactivity flag."""
    compiled = _same_criteria(q, criteria)
    state = q.engagement_state
    seen = snapshot(state, compiled, (q.computed_at - state.at).total_seconds())
    idle = _idle(compiled, seen.last_activity_at, q.computed_at)
    return _features(q.profile, state, compiled, seen, idle)


# ---------------------------------------------------------------------------------------------
# Internals


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")


def _same_criteria(q: Qualification, criteria: Criteria) -> CompiledCriteria:
    compiled = criteria.compiled
    if q.criteria_version != compiled.version:
        raise ValueError(
            f"qualification of {q.contact_id!r} was made with criteria {q.criteria_version}, "
            f"not {compiled.version}: use qualify()"
        )
    return compiled


Ranked = tuple[int, str, str | None, Reason | None, str, int, datetime | None]


class _Rules:
    """Fit rules and disqualifiers with their reasons, which never change: built once per
    criteria, with the reasons' texts and ranking entries ready."""

    def __init__(self, compiled: CompiledCriteria) -> None:
        self.fit = tuple(
            (r.matches, r.points, r.signal, Reason(r.signal, r.label, r.points))
            for r in compiled.fit
        )
        self.disqualifiers = tuple(
            (r.matches, Reason(r.signal, r.label, 0)) for r in compiled.disqualifiers
        )
        # what a disqualified contact's reasons lead with
        self.ruled_out = {
            reason.signal: Reason(reason.signal, f"disqualified: {reason.label}", 0)
            for _, reason in self.disqualifiers
        }
        # id -> (reason, ...): the reasons are held here, so their ids stay theirs
        self._ranked: dict[int, tuple[Reason, Ranked]] = {
            id(reason): (reason, _rank_entry(reason)) for *_, reason in self.fit
        }
        fixed = [*self.ruled_out.values(), _SET_BY_REP, _NOTHING_KNOWN]
        self._texts = {id(reason): (reason, reason.text) for reason in fixed}

    @staticmethod
    def of(compiled: CompiledCriteria) -> _Rules:
        rules = compiled.memo.get("engine.rules")
        if rules is None:
            rules = compiled.memo["engine.rules"] = _Rules(compiled)
        return rules

    def ranked(self, reason: Reason) -> Ranked:
        known = self._ranked.get(id(reason))
        return known[1] if known is not None and known[0] is reason else _rank_entry(reason)

    def text(self, reason: Reason) -> str:
        known = self._texts.get(id(reason))
        return known[1] if known is not None and known[0] is reason else reason.text


def _rank_entry(reason: Reason) -> Ranked:
    return (
        -abs(reason.points),
        reason.signal,
        reason.text,
        reason,
        reason.label,
        reason.points,
        None,
    )


def _profile(contact: Contact, compiled: CompiledCriteria) -> Profile:
    props = contact.properties
    rules = _Rules.of(compiled)
    total = 0
    reasons: list[Reason] = []
    signals: dict[str, float] = {}
    for matches, points, signal, reason in rules.fit:
        if matches(props):
            total += points
            reasons.append(reason)
            signals[signal] = 1.0
    disqualifier = None
    for matches, reason in rules.disqualifiers:
        if matches(props):
            disqualifier = reason
            break
    has_fit_data = False
    for name in compiled.fit_properties:
        value = props.get(name)
        if value is not None and value != "":
            has_fit_data = True
            break
    override = props.get(OVERRIDE_PROPERTY)
    return Profile(
        fit=min(max(total, 0), 100),
        fit_reasons=tuple(reasons),
        has_fit_data=has_fit_data,
        disqualifier=disqualifier,
        customer=compiled.customer is not None and compiled.customer(props),
        override=None if override is None else parse_override(override),
        signals=signals,
    )


def _idle(compiled: CompiledCriteria, last: datetime | None, at: datetime) -> bool:
    """Whether the inactivity penalty applies (it may be worth 0 points, but still counts)."""
    after = compiled.inactivity_seconds
    return after is not None and last is not None and (at - last).total_seconds() >= after


def _score(compiled: CompiledCriteria, fit: int, engagement: int, penalty: int) -> int:
    raw = _round(compiled.fit_weight * fit + compiled.engagement_weight * engagement) + penalty
    return min(max(raw, 0), 100)


def _status(
    compiled: CompiledCriteria,
    profile: Profile,
    engagement: int,
    health: int | None,
    has_activity: bool,
    previous: Status | None,
    figure: float | None = None,
) -> Status:
    """The status; `figure` is what a capacity bar ranks by (score, or probability)."""
    if profile.disqualifier is not None:
        return Status.DISQUALIFIED
    if profile.override is not None:
        return profile.override
    margin = compiled.hysteresis
    if profile.customer:
        # health decides when the criteria define it; engagement alone otherwise
        if compiled.health is not None and health is not None:
            needed, figure = compiled.health.bar, health
        else:
            needed, figure = compiled.customer_threshold, engagement
        if previous is Status.CUSTOMER_ACTIVE:
            needed -= margin
        return Status.CUSTOMER_ACTIVE if figure >= needed else Status.CUSTOMER_AT_RISK
    if not profile.has_fit_data and not has_activity:
        return Status.UNKNOWN
    needed = compiled.engagement_threshold - (margin if previous in _ENGAGED else 0)
    if engagement < needed:
        return Status.NURTURE
    needed = compiled.fit_threshold - (margin if previous is Status.SALES_READY else 0)
    if profile.fit < needed:
        return Status.POOR_FIT
    return Status.SALES_READY if _within_capacity(compiled, figure, previous) else Status.NURTURE


def _within_capacity(
    compiled: CompiledCriteria, figure: float | None, previous: Status | None
) -> bool:
    """Whether a fit, engaged lead fits in the team's capacity (always, without a bar)."""
    bar, stay = compiled.capacity_bar, compiled.capacity_stay
    if bar is None or stay is None or figure is None:
        return True
    return figure >= (stay if previous is Status.SALES_READY else bar)


def _engagement_int(raw: float) -> int:
    return _round(100.0 if raw > 100.0 else (raw if raw > 0.0 else 0.0))


def _assess(
    contact_id: str,
    profile: Profile,
    state: EngagementState,
    compiled: CompiledCriteria,
    at: datetime,
    previous: Qualification | None,
) -> Qualification:
    seconds = (at - state.at).total_seconds()
    seen = snapshot(state, compiled, seconds)
    engagement = _engagement_int(seen.engagement)
    last = seen.last_activity_at
    idle = _idle(compiled, last, at)
    penalty = compiled.inactivity_points if idle else 0
    # Disqualified contacts keep the score they would have: reps see what they would be worth,
    # the status already says they are out.
    score = _score(compiled, profile.fit, engagement, penalty)
    healthy = None
    health = None
    if profile.customer and compiled.health is not None:
        healthy = health_snapshot(state.health, compiled.health, state.at, seconds)
        health = _engagement_int(healthy.raw)
    probability = None
    if compiled.calibration_intercept is not None:
        probability = _logistic(compiled, _features(profile, state, compiled, seen, idle))
    before = None if previous is None else previous.status
    figure = probability if compiled.capacity_by == "probability" else float(score)
    status = _status(compiled, profile, engagement, health, bool(state.signals), before, figure)
    fact = _deciding_fact(compiled, profile, status, engagement, health, before, figure)
    reasons, reasons_text = _reasons(profile, state, compiled, seen, fact, penalty, healthy)
    next_change = _next_change(
        compiled, profile, state, seen, at, status, score, engagement, penalty, idle
    )
    if status is Status.SALES_READY and compiled.capacity_by == "probability":
        by_bar = _probability_change(compiled, profile, state, seen, at, idle)
        if by_bar is not None and (next_change is None or by_bar < next_change):
            next_change = by_bar
    if healthy is not None:
        by_health = _health_change(compiled, profile, state, healthy, at, status)
        if by_health is not None and (next_change is None or by_health < next_change):
            next_change = by_health
    since = previous.status_since if previous is not None and previous.status == status else at
    return Qualification(
        contact_id=contact_id,
        status=status,
        score=score,
        fit=profile.fit,
        engagement=engagement,
        health=health,
        reasons=reasons,
        reasons_text=reasons_text,
        criteria_version=compiled.version,
        status_since=since,
        computed_at=at,
        next_change_at=next_change,
        probability=probability,
        profile=profile,
        engagement_state=state,
    )


def _deciding_fact(
    compiled: CompiledCriteria,
    profile: Profile,
    status: Status,
    engagement: int,
    health: int | None,
    previous: Status | None,
    figure: float | None = None,
) -> Reason:
    """What decided the status, said first: the figure against the bar it met or missed.

    A bar missed is the one to reach from here (the entry threshold); a bar met is the one that
    applied (lowered by the hysteresis margin for a contact already in the status)."""
    if status is Status.DISQUALIFIED and profile.disqualifier is not None:
        return _Rules.of(compiled).ruled_out[profile.disqualifier.signal]
    if profile.override is not None:
        return _SET_BY_REP
    fit, margin = profile.fit, compiled.hysteresis
    capacity = compiled.capacity
    if capacity is not None and status is Status.SALES_READY:
        # never the bar or a rank: those move with every recompute
        return Reason(STATUS_SIGNAL, f"within this week's capacity of {capacity}", 0)
    if (
        capacity is not None
        and figure is not None
        and status is Status.NURTURE
        and engagement >= compiled.engagement_threshold - (margin if previous in _ENGAGED else 0)
        and fit >= compiled.fit_threshold - (margin if previous is Status.SALES_READY else 0)
    ):
        shown = f"{figure:.0%}" if compiled.capacity_by == "probability" else f"{figure:.0f}"
        text = f"{compiled.capacity_by} {shown}: outside this week's capacity of {capacity}"
        return Reason(STATUS_SIGNAL, text, 0)
    if status is Status.SALES_READY:
        fit_bar = compiled.fit_threshold - (margin if previous is Status.SALES_READY else 0)
        bar = compiled.engagement_threshold - (margin if previous in _ENGAGED else 0)
        text = f"fit {fit} ≥ {fit_bar}, engagement {engagement} ≥ {bar}"
    elif status is Status.POOR_FIT:
        text = f"fit {fit}, needs {compiled.fit_threshold} for sales_ready"
    elif status is Status.NURTURE:
        text = f"engagement {engagement}, needs {compiled.engagement_threshold}"
    elif status in _CUSTOMER:
        figure, bar, name = engagement, compiled.customer_threshold, "engagement"
        if compiled.health is not None and health is not None:
            figure, bar, name = health, compiled.health.bar, "health"
        if status is Status.CUSTOMER_ACTIVE:
            bar -= margin if previous is Status.CUSTOMER_ACTIVE else 0
            text = f"{name} {figure} ≥ {bar} for customer_active"
        else:
            text = f"{name} {figure}, needs {bar} for customer_active"
    else:
        return _NOTHING_KNOWN
    return Reason(STATUS_SIGNAL, text, 0)


def _reasons(
    profile: Profile,
    state: EngagementState,
    compiled: CompiledCriteria,
    seen: Snapshot,
    fact: Reason,
    penalty: int,
    healthy: HealthSnapshot | None = None,
) -> tuple[tuple[Reason, ...], str]:
    """The reasons shown and their text: the deciding fact, then the strongest signals (for a
    customer under customer_health, its health signals first)."""
    # Rank plain tuples (signals are unique, so the sort never looks past the signal) and
    # build Reason objects only for the few that are shown.
    rules = _Rules.of(compiled)
    ranked = [rules.ranked(r) for r in profile.fit_reasons]
    scale = seen.scale
    floor = math.floor
    for s in state.signals:
        factor = scale.get(s.type)
        if factor is not None:
            points = floor(s.value * factor + 0.5)
            if points:
                ranked.append((-points, s.signal, None, None, s.label, points, s.last_at))
    last = seen.last_activity_at
    if penalty and last is not None:
        label = compiled.inactivity_label
        ranked.append((penalty, INACTIVITY_SIGNAL, None, None, label, penalty, last))
    ranked.sort()
    if healthy is not None:
        ranked = _health_ranked(state, healthy) + ranked
    reasons: list[Reason] = [fact]
    texts = [rules.text(fact)]
    for _, signal, text, reason, label, points, when in ranked[
        : max(compiled.reasons_max - len(reasons), 0)
    ]:
        if reason is None or text is None:
            on = None if when is None else _utc_date(when)
            reason = Reason(signal, label, points, on)
            text = f"{points:+d} {label}" if on is None else f"{points:+d} {label} {on}"
        reasons.append(reason)
        texts.append(text)
    return tuple(reasons), "; ".join(texts)


def _health_ranked(state: EngagementState, healthy: HealthSnapshot) -> list[Ranked]:
    """Health signals and lapses, strongest first (either sign)."""
    ranked: list[Ranked] = []
    for s in state.health:
        factor = healthy.scale.get(s.type)
        if factor is not None:
            points = _round(s.value * factor)
            if points:
                ranked.append((-abs(points), s.signal, None, None, s.label, points, s.last_at))
    for lapse, last in healthy.lapsed:
        signal = f"{lapse.type}_lapse"
        ranked.append((lapse.points, signal, None, None, lapse.label, lapse.points, last))
    ranked.sort()
    return ranked


def _utc_date(value: datetime) -> date:
    return value.date() if value.tzinfo is UTC else value.astimezone(UTC).date()


def _features(
    profile: Profile,
    state: EngagementState,
    compiled: CompiledCriteria,
    seen: Snapshot,
    idle: bool,
) -> dict[str, float]:
    features = dict(profile.signals)
    for s in state.signals:
        factor = seen.scale.get(s.type)
        if factor is not None:
            features[s.signal] = s.value * factor
    if compiled.inactivity_seconds is not None:
        features[INACTIVITY_SIGNAL] = 1.0 if idle else 0.0
    return features


def _logistic(compiled: CompiledCriteria, features: Mapping[str, float]) -> float:
    z = compiled.calibration_intercept or 0.0
    for name, weight in compiled.calibration_coefficients.items():
        z += weight * features.get(name, 0.0)
    if z < -700.0:  # exp overflow guard
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------------------------
# next_change_at


def status_floor(
    compiled: CompiledCriteria, profile: Profile, status: Status, penalty: int = 0
) -> int | None:
    """The engagement (integer) below which decay alone changes `status`, or None.

    The current status acts as the previous one, so its hysteresis margin applies."""
    if profile.disqualifier is not None or profile.override is not None:
        return None
    if status in _ENGAGED:
        floor = compiled.engagement_threshold - compiled.hysteresis
        if status is Status.SALES_READY and compiled.capacity_by == "score":
            floor = max(floor, _capacity_floor(compiled, profile.fit, penalty))
    elif status is Status.CUSTOMER_ACTIVE and compiled.health is None:
        floor = compiled.customer_threshold - compiled.hysteresis
    else:
        return None  # nurture, at-risk and unknown cannot move without new activity
    return floor if floor > 0 else None


def _capacity_floor(compiled: CompiledCriteria, fit: int, penalty: int) -> int:
    """The smallest engagement whose score still reaches the capacity bar lowered by its
    margin (0 without a bar; 101 when no engagement reaches it)."""
    stay = compiled.capacity_stay
    if stay is None:
        return 0
    for engagement in range(101):  # the score only rises with engagement
        if _score(compiled, fit, engagement, penalty) >= stay:
            return engagement
    return 101


def score_floor(
    compiled: CompiledCriteria, fit: int, engagement: int, score: int, penalty: int
) -> int | None:
    """The smallest engagement (integer) that still keeps the score above
    `score - score_write_delta`, or None when no engagement loss can push it that low."""
    target = score - compiled.score_write_delta
    weight = compiled.engagement_weight
    if target < 0 or weight <= 0.0 or engagement <= 0:
        return None
    # the largest engagement with score <= target: algebra first, then exact integer checks
    bound = (target - penalty + 0.5 - compiled.fit_weight * fit) / weight
    e = math.ceil(min(max(bound, -2.0), 102.0)) - 1  # clamped: tiny weights overflow
    e = max(min(e, engagement - 1), -1)
    while e >= 0 and _score(compiled, fit, e, penalty) > target:
        e -= 1
    while e + 1 < engagement and _score(compiled, fit, e + 1, penalty) <= target:
        e += 1
    return None if e < 0 else e + 1


def _next_change(
    compiled: CompiledCriteria,
    profile: Profile,
    state: EngagementState,
    seen: Snapshot,
    at: datetime,
    status: Status,
    score: int,
    engagement: int,
    penalty: int,
    idle: bool,
) -> datetime | None:
    last, totals = seen.last_activity_at, seen.totals
    penalty_start = None
    if last is not None and not idle:
        penalty_start = penalty_start_after(compiled, last)
    crossing = None
    floor = status_floor(compiled, profile, status, penalty)
    by_score = score_floor(compiled, profile.fit, engagement, score, penalty)
    if by_score is not None and (floor is None or by_score > floor):
        floor = by_score
    if floor is not None and totals:
        # integer engagement drops below `floor` exactly when the raw sum drops below floor - 0.5
        start = (at - state.at).total_seconds()
        seconds = seconds_until_below(totals, floor - 0.5, start, seen.engagement)
        if seconds is not None:
            crossing = _ceil_ms(state.at + timedelta(seconds=seconds))
            if crossing <= at:
                crossing = _ceil_ms(at + _MS)
            if penalty_start is None or crossing < penalty_start:
                crossing = _confirm(state, totals, crossing, floor)
    if crossing is None:
        return penalty_start
    return crossing if penalty_start is None else min(crossing, penalty_start)


def _probability_change(
    compiled: CompiledCriteria,
    profile: Profile,
    state: EngagementState,
    seen: Snapshot,
    at: datetime,
    idle: bool,
) -> datetime | None:
    """When decay alone takes a sales-ready lead's probability below the capacity bar's
    staying level. Calibrated engagement weights are positive, so the log-odds are a sum of
    capped exponentials; a negative weight (hand-written) is held where it is, which makes the
    answer an instant to look again from rather than the crossing."""
    stay = compiled.capacity_stay
    if stay is None or profile.disqualifier is not None or profile.override is not None:
        return None
    if stay <= 0.0:
        return None
    if stay >= 1.0:
        return _ceil_ms(at + _MS)
    coefficients = compiled.calibration_coefficients
    constant = (compiled.calibration_intercept or 0.0) + sum(
        coefficients.get(name, 0.0) * value for name, value in profile.signals.items()
    )
    if compiled.inactivity_seconds is not None and idle:
        constant += coefficients.get(INACTIVITY_SIGNAL, 0.0)
    weighted: dict[str, float] = {}
    values: dict[str, float] = {}
    for s in state.signals:
        if s.type in seen.scale:
            weighted[s.type] = weighted.get(s.type, 0.0) + coefficients.get(s.signal, 0.0) * s.value
            values[s.type] = values.get(s.type, 0.0) + s.value
    start = (at - state.at).total_seconds()
    terms: list[TypeTotal] = []
    exact = True
    for key, weight in weighted.items():
        ctype = compiled.types[key]
        if weight > 0.0 and values[key] > 0.0:
            terms.append((weight, ctype.rate, weight * ctype.cap / values[key]))
        elif weight < 0.0:
            exact = False
            constant += weight * seen.scale[key]  # held at its lowest: now
    level = math.log(stay / (1.0 - stay)) - constant
    totals = tuple(terms)
    seconds = seconds_until_below(totals, level, start)  # None when level <= 0: never
    if seconds is None:
        return None
    t = _ceil_ms(state.at + timedelta(seconds=seconds))
    if t <= at:
        t = _ceil_ms(at + _MS)
    if not exact:
        return t  # an instant to look again from, before any change
    for _ in range(_MAX_NUDGES):  # absorb float error: the first ms below the level
        if total_at(totals, (t - state.at).total_seconds()) < level:
            return t
        t += _MS
    return t


def _health_change(
    compiled: CompiledCriteria,
    profile: Profile,
    state: EngagementState,
    healthy: HealthSnapshot,
    at: datetime,
    status: Status,
) -> datetime | None:
    """When decay (or a lapse) alone next moves a customer across the health bar."""
    health = compiled.health
    if health is None or profile.disqualifier is not None or profile.override is not None:
        return None
    falling = status is Status.CUSTOMER_ACTIVE
    needed = health.bar - (compiled.hysteresis if falling else 0)
    if needed <= 0:
        return None  # never at risk
    start = (at - state.at).total_seconds()
    found = seconds_until_crossing(
        health.base, healthy.terms, healthy.steps, needed - 0.5, start, falling
    )
    if found is None:
        return None
    seconds, exact = found
    t = _ceil_ms(state.at + timedelta(seconds=seconds))
    if t <= at:
        t = _ceil_ms(at + _MS)
    if not exact:
        return t  # an instant to look again from, before any change
    for _ in range(_MAX_NUDGES):  # absorb float error: the first ms the integer shows it
        raw = raw_at(health.base, healthy.terms, healthy.steps, (t - state.at).total_seconds())
        if (_engagement_int(raw) < needed) is falling:
            return t
        t += _MS
    return t


def penalty_start_after(compiled: CompiledCriteria, last: datetime) -> datetime | None:
    """The first whole millisecond at which the inactivity penalty applies after `last`."""
    after = compiled.inactivity_seconds
    if after is None:
        return None
    delta = compiled.memo.get("engine.inactivity_delta")
    if delta is None:
        delta = compiled.memo["engine.inactivity_delta"] = timedelta(
            microseconds=math.ceil(after * 1e6)
        )
    start = _ceil_ms(last + delta)
    while not _idle(compiled, last, start):  # float seconds vs whole microseconds
        start += _MS
    return start


def _ceil_ms(value: datetime) -> datetime:
    extra = value.microsecond % 1000
    return value if not extra else value + timedelta(microseconds=1000 - extra)


def _confirm(
    state: EngagementState, totals: tuple[TypeTotal, ...], t: datetime, floor: int
) -> datetime:
    """Step the analytic answer forward by whole ms until the integer engagement is below
    `floor` (absorbs float error; below the floor is exactly when the change shows)."""
    for _ in range(_MAX_NUDGES):
        if _engagement_int(total_at(totals, (t - state.at).total_seconds())) < floor:
            return t
        t += _MS
    return t
