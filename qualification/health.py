"""Customer health: a base, signed points that fade per activity type, and lapse penalties.

health(s) = base + sum over types of clamp(value * e^(-rate * s), -cap, cap)
                 + the points of every lapse that has started by s

Unlike engagement, health is not monotone in time: a detractor's points fade (health rises)
while product usage fades (health falls). `seconds_until_crossing` finds when decay alone next
takes it across a level by bounding it on [s, inf) with the terms that move the other way held
where they are: the bound is monotone, its crossing is found exactly, and it is never later
than the true one. One round is exact when all moving terms go one way (the usual case); mixed
ones converge in a few rounds, and a search that has not converged returns its last (earlier)
instant, so a caller rescoring then is early, never late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from qualification.criteria import CompiledHealth, CompiledLapse
from qualification.engagement import SignalSum, TypeTotal, seconds_until_below

__all__ = ["HealthSnapshot", "health_snapshot", "raw_at", "seconds_until_crossing"]

HealthTerm = tuple[float, float, float]  # (signed value at the reference, rate per second, cap)
Step = tuple[float, int]  # (seconds after the reference when a lapse starts, its points)

MAX_ROUNDS = 12


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """A customer's health signals seen from `seconds` after their reference time."""

    terms: tuple[HealthTerm, ...]  # one per type present
    steps: tuple[Step, ...]  # the lapses of types the customer did, in start order
    raw: float  # unclamped health at that instant
    scale: Mapping[str, float]  # type -> factor from a signal's value to its contribution
    lapsed: tuple[tuple[CompiledLapse, datetime], ...]  # lapses applying, with the last activity


def health_snapshot(
    signals: Iterable[SignalSum], health: CompiledHealth, ref: datetime, seconds: float
) -> HealthSnapshot:
    by_type: dict[str, float] = {}
    last: dict[str, datetime] = {}
    for s in signals:
        by_type[s.type] = by_type.get(s.type, 0.0) + s.value
        if s.type not in last or s.last_at > last[s.type]:
            last[s.type] = s.last_at
    terms: list[HealthTerm] = []
    scale: dict[str, float] = {}
    raw = float(health.base)
    exp = math.exp
    for key, value in by_type.items():
        htype = health.types.get(key)
        if htype is None:
            continue  # a type these criteria do not know carries nothing
        rate, cap = htype.rate, htype.cap
        terms.append((value, rate, cap))
        factor = exp(-rate * seconds) if seconds else 1.0
        decayed = value * factor
        if abs(decayed) <= cap:
            raw += decayed
            scale[key] = factor
        else:
            raw += math.copysign(cap, decayed)
            scale[key] = factor * cap / abs(decayed)  # the cap is shared pro rata
    starts: list[tuple[float, int, CompiledLapse, datetime]] = []
    for key, lapse in health.lapses.items():
        done = last.get(key)
        if done is not None:  # nothing stopped that never started
            start = (done - ref).total_seconds() + lapse.seconds
            starts.append((start, lapse.points, lapse, done))
    if len(starts) > 1:
        starts.sort(key=_by_start)
    lapsed: list[tuple[CompiledLapse, datetime]] = []
    for start, points, lapse, done in starts:  # in raw_at's order: the same float sum
        if seconds >= start:
            raw += points
            lapsed.append((lapse, done))
    steps = tuple((start, points) for start, points, _, _ in starts)
    return HealthSnapshot(tuple(terms), steps, raw, scale, tuple(lapsed))


def _by_start(item: tuple[float, int, CompiledLapse, datetime]) -> tuple[float, str]:
    return item[0], item[2].type


def raw_at(base: float, terms: Iterable[HealthTerm], steps: Iterable[Step], s: float) -> float:
    """Unclamped health `s` seconds after the reference (same arithmetic as the snapshot)."""
    raw = float(base)
    exp = math.exp
    for value, rate, cap in terms:
        decayed = value * exp(-rate * s)
        raw += decayed if abs(decayed) <= cap else math.copysign(cap, decayed)
    for start, points in steps:
        if s >= start:
            raw += points
    return raw


def _part(terms: Iterable[HealthTerm], s: float, sign: float) -> float:
    """The terms of one sign at `s`, as a magnitude."""
    total = 0.0
    for value, rate, cap in terms:
        if value * sign > 0.0:
            decayed = abs(value) * math.exp(-rate * s)
            total += decayed if decayed <= cap else cap
    return total


def _magnitudes(terms: Iterable[HealthTerm], sign: float) -> tuple[TypeTotal, ...]:
    return tuple((abs(v), r, c) for v, r, c in terms if v * sign > 0.0)


def seconds_until_crossing(
    base: float,
    terms: tuple[HealthTerm, ...],
    steps: tuple[Step, ...],
    level: float,
    start: float,
    falling: bool,
) -> tuple[float, bool] | None:
    """The first s >= start with health < level (falling) or >= level (rising), and whether it
    is the crossing itself (True) or an earlier instant to look again from (False); None when
    decay alone never gets there. Health is assumed on the other side of `level` at `start`."""
    find = _first_fall if falling else _first_rise
    s = start
    for _ in range(MAX_ROUNDS):
        found = find(base, terms, steps, level, s)
        if found is None:
            return None
        reached = raw_at(base, terms, steps, found)
        if (reached < level) if falling else (reached >= level):
            return found, True
        if found <= s:
            # The bound equals health at s, so it only stalls on float noise at a crossing:
            # the caller's millisecond steps settle it.
            return found, True
        s = found
    return s, False


def _first_fall(
    base: float, terms: tuple[HealthTerm, ...], steps: tuple[Step, ...], level: float, s: float
) -> float | None:
    """First t >= s where the lower bound (negatives held at s) drops below `level`."""
    rising = _magnitudes(terms, 1.0)  # the positive terms: falling towards 0
    constant = base - _part(terms, s, -1.0) + sum(p for at, p in steps if at <= s)
    left = s
    for at, points in steps:
        if at <= s:
            continue
        t = seconds_until_below(rising, level - constant, left)
        if t is not None and t < at:
            return t
        constant += points
        left = at
    return seconds_until_below(rising, level - constant, left)


def _first_rise(
    base: float, terms: tuple[HealthTerm, ...], steps: tuple[Step, ...], level: float, s: float
) -> float | None:
    """First t >= s where the upper bound (positives and lapses held at s) reaches `level`."""
    fading = _magnitudes(terms, -1.0)  # the negative terms, as magnitudes falling towards 0
    if not fading:
        return None  # nothing can raise health
    room = base + _part(terms, s, 1.0) + sum(p for at, p in steps if at <= s) - level
    return seconds_until_below(fading, room, s)
