"""Finding signals the criteria lack: candidate rules from the data, a design matrix the engine
would compute for them, decay half-lives per activity kind, and a sparse selection.

Candidates (each with its support, the contacts it matched and how many converted):
- fit: every value seen of the categorical properties (industry, size bucket, country, lead
  source, lifecycle stage), a missing value of each, frequent title words, email domain
  classes (free mail, education, frequent domains);
- engagement, per activity kind: each frequent value of the property that tells its activities
  apart (the URL's first path segment for page views and clicks, the form, the outcome, the
  call status), then the kind's default for the rest.

Features are what the engine computes for such rules at one point each: 1.0 for a fit rule that
matches, an activity's 2^(-age / half-life) for engagement (one activity feeds its first
matching rule, as in the engine), so fitted weights are log-odds per point.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from qualification.criteria import EMAIL_DOMAIN, Condition, Matcher, domain_of, is_free_mail, slug
from qualification.records import Activity, Contact

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

__all__ = [
    "CATEGORICAL_PROPERTIES",
    "Candidate",
    "Design",
    "Selection",
    "activity_candidates",
    "design",
    "fit_candidates",
    "fit_matrix",
    "select",
    "warm_model",
]

FloatArray = npt.NDArray[np.float64]

CATEGORICAL_PROPERTIES = (
    "industry",
    "numemployees",
    "country",
    "hs_analytics_source",
    "lifecyclestage",
)
MISSING_PROPERTIES = ("jobtitle", "industry", "numemployees", "country", "company")
# What tells one activity of a kind from another, in order of preference.
PATTERN_PROPERTIES = ("url", "form", "hs_meeting_outcome", "hs_call_status")
_TITLE_STOPWORDS = frozenset({"of", "and", "the", "for", "a", "an", "in", "to", "at", "de"})
_WORD = re.compile(r"[a-z][a-z0-9+]*")
_EDUCATION = r"\.(edu|ac\.[a-z]{2})$"
_SECONDS_PER_DAY = 86_400.0
_MAX_VALUES = 12  # of one pattern property: more is an id, not a kind


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rule the data suggests. `kind` is "fit" or an activity type; a kind's default has no
    condition (it takes that kind's activities no rule matched)."""

    kind: str
    signal: str
    label: str
    condition: Condition | None
    matched: int = 0  # contacts it matched among those it was found on
    converted: int = 0  # of those, how many converted

    @property
    def is_fit(self) -> bool:
        return self.kind == "fit"


# --- Candidates ---------------------------------------------------------------------------------


def fit_candidates(
    contacts: Sequence[Contact], converted: Sequence[bool], min_support: int
) -> list[Candidate]:
    found: list[tuple[str, str, Condition]] = []
    for prop in CATEGORICAL_PROPERTIES:
        counts = Counter(
            value.strip()
            for c in contacts
            if isinstance(value := c.properties.get(prop), str) and value.strip()
        )
        for value, count in sorted(counts.items()):
            if count >= min_support:
                found.append(
                    (f"{prop}_{slug(value)}", f"{prop} {value}", _condition(prop, equals=value))
                )
    for prop in MISSING_PROPERTIES:
        found.append((f"no_{prop}", f"no {prop}", _condition(prop, exists=False)))
    words = Counter(
        word for c in contacts for word in set(_title_words(c.properties.get("jobtitle")))
    )
    for word, count in sorted(words.items()):
        if count >= min_support:
            regex = rf"\b{re.escape(word)}\b"
            found.append(
                (f"title_{slug(word)}", f"title word {word!r}", _condition("jobtitle", regex=regex))
            )
    found.append(("free_mail_domain", "free-mail address", _condition("email", free_mail=True)))
    found.append(("business_domain", "business email domain", _condition("email", free_mail=False)))
    found.append(
        ("education_domain", "education email domain", _condition(EMAIL_DOMAIN, regex=_EDUCATION))
    )
    domains = Counter(
        d for c in contacts if (d := domain_of(c.properties.get("email"))) and not is_free_mail(d)
    )
    for domain, count in sorted(domains.items()):
        if count >= min_support:
            condition = _condition(EMAIL_DOMAIN, equals=domain)
            found.append((f"domain_{slug(domain)}", f"email domain {domain}", condition))
    candidates = []
    seen: set[str] = set()
    for signal, label, condition in found:
        if signal in seen:
            continue
        seen.add(signal)
        matches = condition.compile()
        hits = [i for i, c in enumerate(contacts) if matches(c.properties)]
        if min_support <= len(hits) <= len(contacts) - min_support:
            won = sum(1 for i in hits if converted[i])
            candidates.append(Candidate("fit", signal, label, condition, len(hits), won))
    return candidates


def _condition(prop: str, **operator: Any) -> Condition:
    return Condition.model_validate({"property": prop, **operator})


def _title_words(title: object) -> list[str]:
    if not isinstance(title, str):
        return []
    return [w for w in _WORD.findall(title.casefold()) if w not in _TITLE_STOPWORDS]


def _pattern_value(activity: Activity, prop: str) -> str | None:
    value = activity.properties.get(prop)
    if not isinstance(value, str) or not value:
        return None
    if prop == "url":
        path = urlsplit(value).path.strip("/")
        return "/" + path.split("/")[0] if path else "/"
    return value.strip()


def _pattern_condition(prop: str, value: str) -> Condition:
    if prop == "url":
        if value == "/":
            return _condition("url", regex=r"^(?:[a-z]+://[^/]+)?/?(?:[?#].*)?$")
        return _condition("url", regex=rf"^(?:[a-z]+://[^/]+)?{re.escape(value)}(?:[/?#]|$)")
    return _condition(prop, equals=value)


def activity_candidates(
    histories: Sequence[Sequence[Activity]],
    converted: Sequence[bool],
    at: datetime,
    min_support: int,
) -> dict[str, list[Candidate]]:
    """Per activity kind: its pattern rules (first match wins), then its default."""
    kinds: Counter[str] = Counter()
    for history in histories:
        kinds.update({a.type for a in history if a.occurred_at <= at})
    result: dict[str, list[Candidate]] = {}
    for kind, contacts_with in sorted(kinds.items()):
        if contacts_with < min_support:
            continue
        rules: list[Candidate] = []
        prop = next(
            (
                p
                for p in PATTERN_PROPERTIES
                if any(p in a.properties for h in histories for a in h if a.type == kind)
            ),
            None,
        )
        if prop is not None:
            values: Counter[str] = Counter()
            for history in histories:
                values.update(
                    {
                        v
                        for a in history
                        if a.type == kind and a.occurred_at <= at
                        if (v := _pattern_value(a, prop)) is not None
                    }
                )
            frequent = [v for v, n in values.most_common(_MAX_VALUES) if n >= min_support]
            for value in sorted(frequent):
                label = f"{kind.replace('_', ' ')} {value}"
                signal = f"{kind}_{slug(value) or 'home'}"
                rules.append(Candidate(kind, signal, label, _pattern_condition(prop, value)))
        rules.append(Candidate(kind, kind, kind.replace("_", " "), None))
        result[kind] = rules
    return result


# --- The design matrix --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Design:
    """Features of every candidate for a set of contacts, with engagement decay left open."""

    columns: tuple[Candidate, ...]
    kinds: tuple[str, ...]  # the activity kinds with candidates
    fit: FloatArray  # (n, F) 1.0 where a fit candidate matches
    rows: npt.NDArray[np.int64]  # per activity counted: the contact's row
    cols: npt.NDArray[np.int64]  # its candidate's column (into the engagement part)
    kind_of: npt.NDArray[np.int64]  # its kind (into `kinds`)
    age_days: FloatArray  # how long before `at` it happened
    n_fit: int
    kind_columns: tuple[slice, ...]  # each kind's columns in the engagement part

    def features(
        self, half_lives: Mapping[str, float], caps: Mapping[str, float] | None = None
    ) -> FloatArray:
        """(n, F + A): fit indicators, then each engagement candidate's decayed count; a kind's
        cap (in decayed activities) is shared pro rata among its candidates, as in the engine."""
        n = self.fit.shape[0]
        engagement = np.zeros((n, len(self.columns) - self.n_fit))
        days = np.array([half_lives[k] for k in self.kinds])
        decay = np.exp2(-self.age_days / days[self.kind_of]) if len(self.rows) else np.zeros(0)
        np.add.at(engagement, (self.rows, self.cols), decay)
        if caps:
            for k, kind in enumerate(self.kinds):
                cap = caps.get(kind, math.inf)
                if math.isinf(cap):
                    continue
                block = self.kind_columns[k]
                total = engagement[:, block].sum(axis=1)
                scale = np.where(total > cap, cap / np.where(total > 0, total, 1.0), 1.0)
                engagement[:, block] *= scale[:, None]
        return np.hstack([self.fit, engagement])


def fit_matrix(contacts: Sequence[Contact], fit: Sequence[Candidate]) -> FloatArray:
    """(n, F): 1.0 where a fit candidate matches the contact."""
    found = np.zeros((len(contacts), len(fit)))
    for j, candidate in enumerate(fit):
        if candidate.condition is not None:
            matches = candidate.condition.compile()
            found[:, j] = [matches(c.properties) for c in contacts]
    return found


def design(
    contacts: Sequence[Contact],
    histories: Sequence[Sequence[Activity]],
    fit: Sequence[Candidate],
    engagement: Mapping[str, Sequence[Candidate]],
    at: datetime,
    fitted: FloatArray | None = None,
) -> Design:
    """The features; `fitted` is `fit_matrix(contacts, fit)` when already computed."""
    kinds = tuple(engagement)
    matrix = fit_matrix(contacts, fit) if fitted is None else fitted
    offsets: dict[str, int] = {}
    columns: list[Candidate] = list(fit)
    rules: dict[str, list[tuple[Matcher, int]]] = {}
    for kind in kinds:
        offsets[kind] = len(columns) - len(fit)
        compiled = []
        for candidate in engagement[kind]:
            if candidate.condition is not None:
                compiled.append((candidate.condition.compile(), len(columns) - len(fit)))
            columns.append(candidate)
        rules[kind] = compiled
    kind_index = {kind: k for k, kind in enumerate(kinds)}
    defaults = {kind: offsets[kind] + len(engagement[kind]) - 1 for kind in kinds}
    rows, cols, kind_of, ages = [], [], [], []
    for i, history in enumerate(histories):
        for activity in history:
            if activity.occurred_at > at or activity.type not in kind_index:
                continue
            column = defaults[activity.type]
            for matches, col in rules[activity.type]:
                if matches(activity.properties):
                    column = col
                    break
            rows.append(i)
            cols.append(column)
            kind_of.append(kind_index[activity.type])
            ages.append((at - activity.occurred_at).total_seconds() / _SECONDS_PER_DAY)
    return Design(
        columns=tuple(columns),
        kinds=kinds,
        fit=matrix,
        rows=np.asarray(rows, dtype=np.int64),
        cols=np.asarray(cols, dtype=np.int64),
        kind_of=np.asarray(kind_of, dtype=np.int64),
        age_days=np.asarray(ages, dtype=np.float64),
        n_fit=len(fit),
        kind_columns=tuple(
            slice(offsets[kind], offsets[kind] + len(engagement[kind])) for kind in kinds
        ),
    )


# --- Fitting and selecting ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    intercept: float
    weights: dict[int, float]  # column -> log-odds per unit of its feature


def warm_model(c: float) -> LogisticRegression:
    """An L2 model that starts each fit from its last solution: for many fits of one shape."""
    from sklearn.linear_model import LogisticRegression  # only calibration fits (slow import)

    return LogisticRegression(C=c, solver="lbfgs", max_iter=2000, tol=1e-4, warm_start=True)


def fit_logistic(
    x: FloatArray,
    y: npt.NDArray[np.int8],
    c: float,
    penalty: str = "l2",
    model: LogisticRegression | None = None,
) -> tuple[float, FloatArray]:
    """Logistic regression on standardised columns; coefficients back on the raw scale."""
    from sklearn.linear_model import LogisticRegression  # only calibration fits (slow import)

    mean, spread = x.mean(axis=0), x.std(axis=0)
    spread[spread == 0.0] = 1.0
    if model is None:
        model = LogisticRegression(
            C=c,
            l1_ratio=1.0 if penalty == "l1" else 0.0,
            solver="saga" if penalty == "l1" else "lbfgs",
            max_iter=5000 if penalty == "l1" else 2000,
            tol=1e-4,
            random_state=0,  # saga visits rows in a random order: the same proposal every run
        )
    model.fit((x - mean) / spread, y)
    weights = model.coef_[0] / spread
    intercept = float(model.intercept_[0] - np.sum(weights * mean))
    return intercept, weights


def log_loss(
    intercept: float, weights: FloatArray, x: FloatArray, y: npt.NDArray[np.int8]
) -> float:
    z = np.clip(intercept + x @ weights, -35.0, 35.0)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def select(
    x: FloatArray,
    y: npt.NDArray[np.int8],
    nonnegative: Sequence[bool],
    max_rules: int,
    penalties: Sequence[float],
    refit_c: float,
    validation: tuple[FloatArray, npt.NDArray[np.int8]],
) -> Selection:
    """Columns by an L1 path: of the sets it keeps within `max_rules`, the one whose refit
    predicts the `validation` contacts best (log-loss), refitted with the L2 penalty
    `refit_c`. Columns that must not be negative (engagement points) and come out so are
    dropped and the rest refitted."""
    from sklearn.metrics import roc_auc_score  # only calibration fits (slow import)

    fit_x, fit_y = x, y
    val_x, val_y = validation
    chosen: list[int] = []
    best = math.inf
    for c in sorted(penalties):
        _, weights = fit_logistic(fit_x, fit_y, c, penalty="l1")
        kept = [
            j
            for j in np.flatnonzero(np.abs(weights) > 1e-9).tolist()
            if not (nonnegative[j] and weights[j] < 0.0)
        ]
        if len(kept) > max_rules:
            break
        if not kept:
            continue
        intercept, refit = fit_logistic(fit_x[:, kept], fit_y, refit_c)
        # ranking is what the proposal is for: the set ranking the validation contacts best
        loss = -float(roc_auc_score(val_y, val_x[:, kept] @ refit))
        if loss < best:
            chosen, best = kept, loss
    while True:
        if not chosen:
            rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            return Selection(math.log(rate / (1 - rate)), {})
        intercept, weights = fit_logistic(x[:, chosen], y, refit_c)
        wrong = [j for j, w in zip(chosen, weights, strict=True) if nonnegative[j] and w <= 0.0]
        if not wrong:
            return Selection(intercept, dict(zip(chosen, weights.tolist(), strict=True)))
        chosen = [j for j in chosen if j not in wrong]
