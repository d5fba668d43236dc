"""The CRM fields Glengarry writes, and when a qualification is worth writing again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from qualification.criteria import Criteria
from qualification.engine import Qualification

STATUS = "glengarry_status"
SCORE = "glengarry_score"
FIT = "glengarry_fit"
ENGAGEMENT = "glengarry_engagement"
REASONS = "glengarry_reasons"
STATUS_SINCE = "glengarry_status_since"
CRITERIA_VERSION = "glengarry_criteria_version"
# Written only once a calibration is active: percent, one decimal, for reps to sort by.
CONVERSION_PROBABILITY = "glengarry_conversion_probability"

FIELD_NAMES = (STATUS, SCORE, FIT, ENGAGEMENT, REASONS, STATUS_SINCE, CRITERIA_VERSION)
PROBABILITY_WRITE_DELTA = 2.0  # percentage points
REASONS_MAX_CHARS = 1000  # fits a single-line text property in every CRM we target
_SEPARATOR = "; "
_TOP_REASONS = 3


def crm_time(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a 'Z', as CRMs display and parse it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clip_reasons(text: str, limit: int = REASONS_MAX_CHARS) -> str:
    """Whole reasons only: drop trailing ones (ending with '…') until the text fits."""
    if len(text) <= limit:
        return text
    cut = text.rfind(_SEPARATOR, 0, limit - 1)
    return (text[:cut] if cut > 0 else text[: limit - 1]) + "…"


def crm_percent(probability: float) -> str:
    return f"{100.0 * probability:.1f}"


def crm_values(q: Qualification) -> dict[str, str]:
    values = {
        STATUS: q.status.value,
        SCORE: str(q.score),
        FIT: str(q.fit),
        ENGAGEMENT: str(q.engagement),
        REASONS: clip_reasons(q.reasons_text),
        STATUS_SINCE: crm_time(q.status_since),
        CRITERIA_VERSION: q.criteria_version,
    }
    if q.probability is not None:
        values[CONVERSION_PROBABILITY] = crm_percent(q.probability)
    return values


_POINTS = re.compile(r"^[+-]\d+ ")
_DATE = re.compile(r" \d{4}-\d{2}-\d{2}$")


def _reason_key(text: str) -> str:
    """A reason's text without its points and date: what it is about, not how much."""
    return _DATE.sub("", _POINTS.sub("", text.strip().removesuffix("…")))


def _top_keys(texts: list[str]) -> frozenset[str]:
    return frozenset(_reason_key(t) for t in texts[:_TOP_REASONS] if t)


def needs_write(
    last_written: Mapping[str, str] | None, q: Qualification, criteria: Criteria
) -> bool:
    """Write when nothing was written yet, or when the status or the top reasons changed, the
    score moved by score_write_delta or more, or the conversion probability by
    PROBABILITY_WRITE_DELTA points (or appeared). Decaying points alone do not justify an API
    call, and neither does a new criteria version: it travels with the writes that are news,
    so activating criteria rewrites only the contacts they qualify differently."""
    if not last_written or any(name not in last_written for name in FIELD_NAMES):
        return True
    if last_written[STATUS] != q.status.value:
        return True
    try:
        written_score = int(last_written[SCORE])
    except ValueError:
        return True
    if abs(q.score - written_score) >= criteria.thresholds.score_write_delta:
        return True
    if q.probability is not None:
        try:
            written_percent = float(last_written[CONVERSION_PROBABILITY])
        except (KeyError, ValueError):
            return True
        if abs(100.0 * q.probability - written_percent) >= PROBABILITY_WRITE_DELTA:
            return True
    # The reasons lead with the deciding fact ("engagement 12, needs 40", "within this week's
    # capacity of 150"): its figures move with decay and the bar, and what it decides is the
    # status, compared above. The signals after it are the news.
    written = _top_keys(last_written[REASONS].split(_SEPARATOR)[1:])
    return written != _top_keys([r.text for r in q.reasons[1:]])
