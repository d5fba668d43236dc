"""Decay-only rescoring of many contacts at once, with numpy.

`pack` turns qualifications into arrays (one row per contact); `rescore_batch` then does for
every row what `engine.rescore` does for one — same engagement, score, status and
next_change_at — without a Python loop over contacts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from qualification.criteria import CompiledCriteria, Criteria
from qualification.engine import Qualification
from qualification.health import MAX_ROUNDS
from qualification.statuses import Status

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

STATUS_CODES: tuple[Status, ...] = tuple(Status)  # a row's status code indexes this tuple
_CODE = {status: code for code, status in enumerate(STATUS_CODES)}
_DQ, _CA, _CAR, _UNKNOWN, _SR, _PF, _NURTURE = (
    _CODE[s]
    for s in (
        Status.DISQUALIFIED,
        Status.CUSTOMER_ACTIVE,
        Status.CUSTOMER_AT_RISK,
        Status.UNKNOWN,
        Status.SALES_READY,
        Status.POOR_FIT,
        Status.NURTURE,
    )
)
_NO_OVERRIDE = -1
_US = 1_000_000  # times are int64 microseconds since the epoch: exact, like datetime
_MS = 1_000
_NEWTON_STEPS = 60
_NUDGES = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = np.iinfo(np.int64).max


def _micros(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


@dataclass(frozen=True, eq=False)
class StateBatch:
    """Qualifications as columns; one row per contact, one value column per signal."""

    criteria_version: str
    contact_ids: tuple[str, ...]
    signals: tuple[str, ...]  # value columns
    types: tuple[str, ...]  # type columns
    signal_type: IntArray  # (S,) index into `types`
    half_life_days: FloatArray  # (K,)
    rates: FloatArray  # (K,) per second
    caps: FloatArray  # (K,) inf when uncapped
    values: FloatArray  # (n, S) decayed points at each row's reference time
    type_values: FloatArray  # (n, K) the same summed per type
    reference_us: IntArray  # (n,) the engagement state's `at`
    last_activity_us: IntArray  # (n,) latest activity (valid where has_activity)
    has_activity: BoolArray
    fit: IntArray
    has_fit_data: BoolArray
    disqualified: BoolArray
    customer: BoolArray
    override: IntArray  # status code, or -1
    status: IntArray  # the packed qualifications' status (the hysteresis baseline)
    health: HealthColumns | None = None  # customers' health, under criteria with customer_health

    def __len__(self) -> int:
        return len(self.contact_ids)


@dataclass(frozen=True, eq=False)
class HealthColumns:
    """Customers' health signals per health type (H columns; zero for other rows)."""

    types: tuple[str, ...]
    rates: FloatArray  # (H,)
    caps: FloatArray  # (H,) inf when uncapped
    lapse_seconds: FloatArray  # (H,) inf for a type without a lapse
    lapse_points: IntArray  # (H,)
    values: FloatArray  # (n, H) signed, at each row's reference time
    last_us: IntArray  # (n, H) the type's latest activity (valid where `seen`)
    seen: BoolArray  # (n, H) the customer did this kind of activity


@dataclass(frozen=True, eq=False)
class BatchResult:
    contact_ids: tuple[str, ...]
    engagement: IntArray
    score: IntArray
    status: IntArray  # codes into STATUS_CODES
    next_change_at: FloatArray  # epoch seconds, NaN when nothing can change

    def statuses(self) -> list[Status]:
        return [STATUS_CODES[code] for code in self.status.tolist()]


def pack(qualifications: Sequence[Qualification], criteria: Criteria) -> StateBatch:
    """Raises ValueError for criteria with a capacity bar in force: ranking against it is
    done contact by contact (`engine.rescore`)."""
    if criteria.capacity_bar is not None:
        raise ValueError("batch rescoring does not rank against a capacity bar: use rescore")
    compiled = criteria.compiled
    types = tuple(compiled.types)
    signals = tuple(compiled.signal_types)
    column = {signal: i for i, signal in enumerate(signals)}
    type_index = {key: i for i, key in enumerate(types)}
    n = len(qualifications)
    values = np.zeros((n, len(signals)))
    reference = np.zeros(n, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    columns: dict[str, list[object]] = {
        name: []
        for name in (
            "has_activity",
            "fit",
            "has_fit_data",
            "disqualified",
            "customer",
            "override",
            "status",
        )
    }
    for row, q in enumerate(qualifications):
        if q.criteria_version != compiled.version:
            raise ValueError(
                f"{q.contact_id!r} was qualified with criteria {q.criteria_version}, "
                f"not {compiled.version}"
            )
        state, profile = q.engagement_state, q.profile
        reference[row] = _micros(state.at)
        latest = None
        for s in state.signals:
            values[row, column[s.signal]] = s.value
            latest = s.last_at if latest is None or s.last_at > latest else latest
        if latest is not None:
            last[row] = _micros(latest)
        columns["has_activity"].append(bool(state.signals))
        columns["fit"].append(profile.fit)
        columns["has_fit_data"].append(profile.has_fit_data)
        columns["disqualified"].append(profile.disqualifier is not None)
        columns["customer"].append(profile.customer)
        columns["override"].append(
            _NO_OVERRIDE if profile.override is None else _CODE[profile.override]
        )
        columns["status"].append(_CODE[q.status])
    health = _pack_health(qualifications, compiled)
    signal_type = np.array([type_index[compiled.signal_types[s].key] for s in signals], np.int64)
    one_hot = np.zeros((len(signals), len(types)))
    one_hot[np.arange(len(signals)), signal_type] = 1.0
    rates = np.array([compiled.types[k].rate for k in types])
    return StateBatch(
        criteria_version=compiled.version,
        contact_ids=tuple(q.contact_id for q in qualifications),
        signals=signals,
        types=types,
        signal_type=signal_type,
        half_life_days=np.log(2) / rates / 86_400.0,
        rates=rates,
        caps=np.array([compiled.types[k].cap for k in types]),
        values=values,
        type_values=values @ one_hot,
        reference_us=reference,
        last_activity_us=last,
        has_activity=np.array(columns["has_activity"], dtype=bool),
        fit=np.array(columns["fit"], dtype=np.int64),
        has_fit_data=np.array(columns["has_fit_data"], dtype=bool),
        disqualified=np.array(columns["disqualified"], dtype=bool),
        customer=np.array(columns["customer"], dtype=bool),
        override=np.array(columns["override"], dtype=np.int64),
        status=np.array(columns["status"], dtype=np.int64),
        health=health,
    )


def _pack_health(
    qualifications: Sequence[Qualification], compiled: CompiledCriteria
) -> HealthColumns | None:
    health = compiled.health
    if health is None:
        return None
    types = tuple(health.types)
    column = {key: j for j, key in enumerate(types)}
    n = len(qualifications)
    values = np.zeros((n, len(types)))
    last = np.zeros((n, len(types)), dtype=np.int64)
    seen = np.zeros((n, len(types)), dtype=bool)
    for row, q in enumerate(qualifications):
        for s in q.engagement_state.health:
            j = column.get(s.type)
            if j is None:
                continue
            values[row, j] += s.value
            stamp = _micros(s.last_at)
            if not seen[row, j] or stamp > last[row, j]:
                last[row, j] = stamp
            seen[row, j] = True
    lapses = [health.lapses.get(key) for key in types]
    return HealthColumns(
        types=types,
        rates=np.array([health.types[k].rate for k in types]),
        caps=np.array([health.types[k].cap for k in types]),
        lapse_seconds=np.array([np.inf if x is None else x.seconds for x in lapses]),
        lapse_points=np.array([0 if x is None else x.points for x in lapses], dtype=np.int64),
        values=values,
        last_us=last,
        seen=seen,
    )


def rescore_batch(batch: StateBatch, criteria: Criteria, at: datetime) -> BatchResult:
    compiled = criteria.compiled
    if batch.criteria_version != compiled.version:
        raise ValueError("the batch was packed under other criteria: qualify again")
    at_us = _micros(at)
    if len(batch) and int(batch.reference_us.max()) > at_us:
        raise ValueError("rescore cannot go back in time")
    seconds = (at_us - batch.reference_us) / _US
    raw = _engagement_raw(batch, seconds)
    engagement = _engagement_int(raw)
    idle = _idle(batch, compiled, at_us)
    penalty = np.where(idle, compiled.inactivity_points, 0).astype(np.int64)
    score = _score(compiled, batch.fit, engagement, penalty)
    health = None
    if batch.health is not None:
        health = _engagement_int(_health_raw(batch, batch.health, compiled, seconds))
    status = _status(batch, compiled, engagement, batch.status, health=health)
    next_change = _next_change(
        batch, compiled, at_us, seconds, raw, engagement, score, status, penalty, idle, health
    )
    if batch.health is not None and health is not None:
        by_health = _health_change(batch, batch.health, compiled, at_us, seconds, status)
        next_change = np.fmin(next_change, by_health)
    return BatchResult(
        contact_ids=batch.contact_ids,
        engagement=engagement,
        score=score,
        status=status,
        next_change_at=next_change,
    )


# ---------------------------------------------------------------------------------------------
# Vectorised versions of the engine's rules (kept line for line comparable with engine.py)


def _engagement_raw(
    batch: StateBatch, seconds: FloatArray, rows: IntArray | slice = slice(None)
) -> FloatArray:
    decayed = batch.type_values[rows] * np.exp(-seconds[:, None] * batch.rates[None, :])
    capped: FloatArray = np.minimum(decayed, batch.caps[None, :])
    summed: FloatArray = np.add.reduce(capped, axis=1)
    return summed


def _engagement_int(raw: FloatArray) -> IntArray:
    return np.floor(np.clip(raw, 0.0, 100.0) + 0.5).astype(np.int64)


def _idle(batch: StateBatch, compiled: CompiledCriteria, at_us: int) -> BoolArray:
    after = compiled.inactivity_seconds
    if after is None:
        return np.zeros(len(batch), dtype=bool)
    return batch.has_activity & ((at_us - batch.last_activity_us) / _US >= after)


def _score(
    compiled: CompiledCriteria, fit: IntArray, engagement: IntArray, penalty: IntArray
) -> IntArray:
    weighted = compiled.fit_weight * fit + compiled.engagement_weight * engagement
    raw = np.floor(weighted + 0.5).astype(np.int64) + penalty
    clipped: IntArray = np.clip(raw, 0, 100)
    return clipped


def _status(
    batch: StateBatch,
    compiled: CompiledCriteria,
    engagement: IntArray,
    previous: IntArray,
    rows: IntArray | slice = slice(None),
    health: IntArray | None = None,
) -> IntArray:
    margin = compiled.hysteresis
    was_engaged = (previous == _SR) | (previous == _PF)
    engaged = engagement >= compiled.engagement_threshold - margin * was_engaged
    fits = batch.fit[rows] >= compiled.fit_threshold - margin * (previous == _SR)
    status = np.where(engaged, np.where(fits, _SR, _PF), _NURTURE)
    unknown = ~batch.has_fit_data[rows] & ~batch.has_activity[rows]
    status = np.where(unknown, _UNKNOWN, status)
    if compiled.health is not None and health is not None:
        active = health >= compiled.health.bar - margin * (previous == _CA)
    else:
        active = engagement >= compiled.customer_threshold - margin * (previous == _CA)
    status = np.where(batch.customer[rows], np.where(active, _CA, _CAR), status)
    override = batch.override[rows]
    status = np.where(override != _NO_OVERRIDE, override, status)
    return np.where(batch.disqualified[rows], _DQ, status).astype(np.int64)


def _status_floor(batch: StateBatch, compiled: CompiledCriteria, status: IntArray) -> IntArray:
    """engine.status_floor per row; 0 means none."""
    pinned = batch.disqualified | (batch.override != _NO_OVERRIDE)
    floor = np.zeros(len(status), dtype=np.int64)
    floor = np.where(
        (status == _SR) | (status == _PF),
        compiled.engagement_threshold - compiled.hysteresis,
        floor,
    )
    if compiled.health is None:  # with customer_health, health moves customers, not engagement
        floor = np.where(status == _CA, compiled.customer_threshold - compiled.hysteresis, floor)
    return np.where(pinned | (floor < 0), 0, floor)


def _score_floor(
    compiled: CompiledCriteria,
    fit: IntArray,
    engagement: IntArray,
    score: IntArray,
    penalty: IntArray,
) -> IntArray:
    """engine.score_floor per row; 0 means none."""
    target = score - compiled.score_write_delta
    weight = compiled.engagement_weight
    if weight <= 0.0:
        return np.zeros(len(score), dtype=np.int64)
    with np.errstate(over="ignore"):
        bound = (target - penalty + 0.5 - compiled.fit_weight * fit) / weight
    e = np.ceil(np.clip(bound, -2.0, 102.0)).astype(np.int64)  # clipped: tiny weights overflow
    e = np.clip(e - 1, -1, engagement - 1)
    for _ in range(101):
        lower = (e >= 0) & (_score(compiled, fit, np.maximum(e, 0), penalty) > target)
        if not lower.any():
            break
        e = np.where(lower, e - 1, e)
    for _ in range(101):
        higher = (e + 1 < engagement) & (_score(compiled, fit, e + 1, penalty) <= target)
        if not higher.any():
            break
        e = np.where(higher, e + 1, e)
    valid = (target >= 0) & (engagement > 0) & (e >= 0)
    return np.where(valid, e + 1, 0)


def _next_change(
    batch: StateBatch,
    compiled: CompiledCriteria,
    at_us: int,
    seconds: FloatArray,
    raw: FloatArray,
    engagement: IntArray,
    score: IntArray,
    status: IntArray,
    penalty: IntArray,
    idle: BoolArray,
    health: IntArray | None,
) -> FloatArray:
    n = len(batch)
    penalty_start = np.full(n, _NEVER, dtype=np.int64)
    after = compiled.inactivity_seconds
    if after is not None:
        # engine.penalty_start_after: whole ms, at or after the instant the penalty applies
        start_us = _ceil_ms(batch.last_activity_us + math.ceil(after * 1e6))
        for _ in range(_NUDGES):
            early = (start_us - batch.last_activity_us) / _US < after
            if not early.any():
                break
            start_us = np.where(early, start_us + _MS, start_us)
        penalty_start = np.where(batch.has_activity & ~idle, start_us, _NEVER)
    floor = np.maximum(
        _status_floor(batch, compiled, status),
        _score_floor(compiled, batch.fit, engagement, score, penalty),
    )
    rows = np.flatnonzero((floor > 0) & batch.has_activity)
    crossing_us = np.full(n, _NEVER, dtype=np.int64)
    if len(rows):
        found = _seconds_until_below(
            batch.type_values[rows],
            batch.rates,
            batch.caps,
            floor[rows] - 0.5,
            seconds[rows],
            raw[rows],
        )
        ok = ~np.isnan(found)
        rows, found = rows[ok], found[ok]
        us = _ceil_ms(batch.reference_us[rows] + np.round(found * _US).astype(np.int64))
        us = np.where(us <= at_us, -(-(at_us + _MS) // _MS) * _MS, us)
        crossing_us[rows] = _confirm(batch, compiled, rows, us, status, score, penalty, health)
    first = np.minimum(crossing_us, penalty_start)
    return np.where(first < _NEVER, first / _US, np.nan)


def _ceil_ms(us: IntArray) -> IntArray:
    ceiled: IntArray = -(-us // _MS) * _MS
    return ceiled


def _confirm(
    batch: StateBatch,
    compiled: CompiledCriteria,
    rows: IntArray,
    us: IntArray,
    status: IntArray,
    score: IntArray,
    penalty: IntArray,
    health: IntArray | None,
) -> IntArray:
    """Step each analytic answer forward by whole ms until the change shows (float error).

    Engagement only: health is held where it is (its own crossing is solved apart)."""
    us = us.copy()
    pending = np.arange(len(rows))
    for _ in range(_NUDGES):
        r = rows[pending]
        seconds = (us[pending] - batch.reference_us[r]) / _US
        engagement = _engagement_int(_engagement_raw(batch, seconds, r))
        lower = _score(compiled, batch.fit[r], engagement, penalty[r])
        moved = lower <= score[r] - compiled.score_write_delta
        held = None if health is None else health[r]
        moved |= _status(batch, compiled, engagement, status[r], r, held) != status[r]
        pending = pending[~moved]
        if not len(pending):
            break
        us[pending] += _MS
    return us


def _seconds_until_below(
    values: FloatArray,
    rates: FloatArray,
    caps: FloatArray,
    level: FloatArray,
    start: FloatArray,
    current: FloatArray,
) -> FloatArray:
    """engagement.seconds_until_below for many rows (NaN = never)."""
    m = len(level)
    result = np.full(m, np.nan)
    below = current < level
    result[below] = start[below]
    # A type at its cap stays flat until its release time, then decays.
    with np.errstate(divide="ignore", invalid="ignore"):
        release = np.where(values > caps, np.log(values / caps) / rates, -np.inf)
    left = start.copy()
    later = release > start[:, None]
    for k in np.flatnonzero(later.any(axis=0)):
        at_release = np.where(later[:, k], release[:, k], start)
        decayed = np.minimum(values * np.exp(-at_release[:, None] * rates), caps)
        still_above = later[:, k] & (decayed.sum(axis=1) >= level)
        left = np.where(still_above, np.maximum(left, at_release), left)
    capped = release > left[:, None]
    constant = np.where(capped, caps, 0.0).sum(axis=1)
    decaying = np.where(capped, 0.0, values)
    remaining = level - constant
    todo = ~below & (remaining > 0) & (decaying > 0).any(axis=1)
    result[~below & ~todo] = left[~below & ~todo]
    with np.errstate(divide="ignore", invalid="ignore"):
        alone = np.where(
            decaying > remaining[:, None],
            np.log(decaying / remaining[:, None]) / rates,
            -np.inf,
        )
    s = np.maximum(left, alone.max(axis=1))
    active = np.flatnonzero(todo)
    log_level = np.log(level)
    for _ in range(_NEWTON_STEPS):
        if not len(active):
            break
        terms = decaying[active] * np.exp(-s[active, None] * rates)
        total = constant[active] + terms.sum(axis=1)
        slope = -(terms * rates).sum(axis=1)
        done = (total < level[active]) | (slope == 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (np.log(total) - log_level[active]) * total / -slope
        step = np.where(done, 0.0, step)
        s[active] += step
        active = active[~done & (step >= 1e-3)]
    result[todo] = s[todo]
    return result


# ---------------------------------------------------------------------------------------------
# Customer health (qualification.health, row by row in the same arithmetic)


def _clamped(values: FloatArray, caps: FloatArray) -> FloatArray:
    limited: FloatArray = np.clip(values, -caps[None, :], caps[None, :])
    return limited


def _health_raw(
    batch: StateBatch,
    h: HealthColumns,
    compiled: CompiledCriteria,
    seconds: FloatArray,
    rows: IntArray | slice = slice(None),
) -> FloatArray:
    """health.raw_at per row (meaningful for customer rows; others have no health signals)."""
    assert compiled.health is not None
    decayed = h.values[rows] * np.exp(-seconds[:, None] * h.rates[None, :])
    raw = compiled.health.base + np.add.reduce(_clamped(decayed, h.caps), axis=1)
    starts = _lapse_starts(batch, h, rows)
    applies = seconds[:, None] >= starts
    raw += np.where(applies, h.lapse_points[None, :], 0).sum(axis=1)
    summed: FloatArray = raw
    return summed


def _lapse_starts(
    batch: StateBatch, h: HealthColumns, rows: IntArray | slice = slice(None)
) -> FloatArray:
    """(rows, H) seconds after each row's reference when a lapse starts (inf: never)."""
    since = (h.last_us[rows] - batch.reference_us[rows][:, None]) / _US
    starts: FloatArray = np.where(h.seen[rows], since + h.lapse_seconds[None, :], np.inf)
    return starts


def _part(h: HealthColumns, rows: IntArray, s: FloatArray, sign: float) -> FloatArray:
    magnitude = np.where(h.values[rows] * sign > 0.0, np.abs(h.values[rows]), 0.0)
    decayed = np.minimum(magnitude * np.exp(-s[:, None] * h.rates[None, :]), h.caps[None, :])
    total: FloatArray = decayed.sum(axis=1)
    return total


def _until_below(
    h: HealthColumns,
    magnitudes: FloatArray,
    level: FloatArray,
    start: FloatArray,
) -> FloatArray:
    """engagement.seconds_until_below per row, NaN where never (also where level <= 0)."""
    result = np.full(len(level), np.nan)
    ok = level > 0.0
    if ok.any():
        current = np.minimum(
            magnitudes[ok] * np.exp(-start[ok, None] * h.rates[None, :]), h.caps[None, :]
        ).sum(axis=1)
        result[ok] = _seconds_until_below(
            magnitudes[ok], h.rates, h.caps, level[ok], start[ok], current
        )
    return result


def _first_fall(
    h: HealthColumns,
    base: float,
    rows: IntArray,
    starts: FloatArray,
    level: FloatArray,
    s: FloatArray,
) -> FloatArray:
    positive = np.where(h.values[rows] > 0.0, h.values[rows], 0.0)
    applied = np.where(starts <= s[:, None], h.lapse_points[None, :], 0).sum(axis=1)
    constant = base - _part(h, rows, s, -1.0) + applied
    future = np.sort(np.where(starts > s[:, None], starts, np.inf), axis=1)
    order = np.argsort(np.where(starts > s[:, None], starts, np.inf), axis=1, kind="stable")
    points = np.take_along_axis(
        np.broadcast_to(h.lapse_points[None, :], starts.shape), order, axis=1
    )
    found = np.full(len(rows), np.nan)
    done = np.zeros(len(rows), dtype=bool)
    left = s.copy()
    for j in range(future.shape[1]):
        at = future[:, j]
        t = _until_below(h, positive, level - constant, left)
        hit = ~done & ~np.isnan(t) & (t < at)
        found[hit] = t[hit]
        done |= hit
        stepping = ~done & np.isfinite(at)
        constant = constant + np.where(stepping, points[:, j], 0)
        left = np.where(stepping, at, left)
    rest = ~done
    if rest.any():
        found[rest] = _until_below(h, positive[rest], (level - constant)[rest], left[rest])
    return found


def _first_rise(
    h: HealthColumns,
    base: float,
    rows: IntArray,
    starts: FloatArray,
    level: FloatArray,
    s: FloatArray,
) -> FloatArray:
    fading = np.where(h.values[rows] < 0.0, -h.values[rows], 0.0)
    applied = np.where(starts <= s[:, None], h.lapse_points[None, :], 0).sum(axis=1)
    room = base + _part(h, rows, s, 1.0) + applied - level
    found = _until_below(h, fading, room, s)
    found[~(fading > 0.0).any(axis=1)] = np.nan  # nothing can raise health
    return found


def _health_change(
    batch: StateBatch,
    h: HealthColumns,
    compiled: CompiledCriteria,
    at_us: int,
    seconds: FloatArray,
    status: IntArray,
) -> FloatArray:
    """engine._health_change per row: epoch seconds, NaN when nothing can change."""
    health = compiled.health
    assert health is not None
    n = len(batch)
    result = np.full(n, np.nan)
    pinned = batch.disqualified | (batch.override != _NO_OVERRIDE)
    falling_all = status == _CA
    needed_all = health.bar - compiled.hysteresis * falling_all
    candidates = np.flatnonzero(
        batch.customer & ~pinned & ((status == _CA) | (status == _CAR)) & (needed_all > 0)
    )
    if not len(candidates):
        return result
    rows = candidates
    falling = falling_all[rows]
    needed = needed_all[rows]
    level = needed - 0.5
    starts = _lapse_starts(batch, h, rows)
    s = seconds[rows].copy()
    found_s = np.full(len(rows), np.nan)
    exact = np.zeros(len(rows), dtype=bool)
    pending = np.arange(len(rows))
    for _ in range(MAX_ROUNDS):
        if not len(pending):
            break
        r, sub_s = rows[pending], s[pending]
        fall = falling[pending]
        found = np.full(len(pending), np.nan)
        if fall.any():
            found[fall] = _first_fall(
                h, health.base, r[fall], starts[pending][fall], level[pending][fall], sub_s[fall]
            )
        if (~fall).any():
            found[~fall] = _first_rise(
                h, health.base, r[~fall], starts[pending][~fall], level[pending][~fall],
                sub_s[~fall],
            )  # fmt: skip
        never = np.isnan(found)
        reached = _health_raw(batch, h, compiled, np.where(never, 0.0, found), r)
        crossed = ~never & np.where(fall, reached < level[pending], reached >= level[pending])
        found_s[pending[crossed]] = found[crossed]
        exact[pending[crossed]] = True
        stalled = ~never & ~crossed & (found <= sub_s)  # float noise: settled by ms steps
        found_s[pending[stalled]] = found[stalled]
        exact[pending[stalled]] = True
        moving = ~never & ~crossed & ~stalled
        s[pending[moving]] = found[moving]
        pending = pending[moving]
    found_s[pending] = s[pending]  # not converged: an earlier instant to look again from
    ok = ~np.isnan(found_s)
    rows, found_s, exact = rows[ok], found_s[ok], exact[ok]
    falling, needed = falling[ok], needed[ok]
    us = _ceil_ms(batch.reference_us[rows] + np.round(found_s * _US).astype(np.int64))
    us = np.where(us <= at_us, -(-(at_us + _MS) // _MS) * _MS, us)
    todo = np.flatnonzero(exact)
    for _ in range(_NUDGES):
        if not len(todo):
            break
        r = rows[todo]
        later = (us[todo] - batch.reference_us[r]) / _US
        value = _engagement_int(_health_raw(batch, h, compiled, later, r))
        shown = (value < needed[todo]) == falling[todo]
        todo = todo[~shown]
        us[todo] += _MS
    result[rows] = us / _US
    return result
