"""Qualification criteria: the YAML a marketer edits, validated strictly, compiled once.

The pydantic models are the edge (typos are load errors with a path); `Criteria.compiled` turns
them into plain dataclasses and closures so the engine's hot path never touches pydantic.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from qualification.patterns import compile_search
from qualification.statuses import OVERRIDE_PROPERTY

Matcher = Callable[[Mapping[str, Any]], bool]

EMAIL_DOMAIN = "email_domain"  # pseudo-property: the domain part of `email`
INACTIVITY_SIGNAL = "inactivity"
OVERRIDE_SIGNAL = "override"
STATUS_SIGNAL = "status"  # the reason that says what decided the status
_RESERVED_SIGNALS = frozenset({INACTIVITY_SIGNAL, OVERRIDE_SIGNAL, STATUS_SIGNAL})
_SIGNAL_PATTERN = r"^[a-z0-9_]+$"
_SECONDS_PER_DAY = 86_400.0

# Domains of free mail providers; `*_PREFIXES` cover a provider's country domains (gmx.de, ...).
FREE_MAIL_DOMAINS = frozenset(
    (
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "mail.ru",
        "bk.ru",
        "list.ru",
        "inbox.ru",
        "rambler.ru",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "qq.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "naver.com",
        "hanmail.net",
        "daum.net",
        "rediffmail.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "ukr.net",
        "fastmail.com",
        "tutanota.com",
        "hey.com",
        "mail.com",
        "email.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "btinternet.com",
        "sky.com",
    )
)
FREE_MAIL_PREFIXES = ("gmx.", "yandex.", "yahoo.", "hotmail.", "outlook.", "live.", "aol.")


# ---------------------------------------------------------------------------------------------
# Value helpers shared by the compiled conditions


def domain_of(value: object) -> str | None:
    """The lower-cased part after the last '@', or the value itself when it is a bare domain."""
    if not isinstance(value, str):
        return None
    return value[value.rfind("@") + 1 :].strip().lower() or None


_COUNTRY_SUFFIX = re.compile(r"(?:[a-z]{2}|com|net|co\.[a-z]{2}|com\.[a-z]{2})")


# Bounded memos for pure string functions: property values repeat across contacts (buckets,
# domains, URLs) and conditions are evaluated some twenty times per contact.
_MEMO_LIMIT = 8192
_FREE_MAIL_MEMO: dict[str, bool] = {}
_BOUND_MEMO: dict[str, float | None] = {}


def _remember(memo: dict[str, Any], key: str, value: Any) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def is_free_mail(domain: str) -> bool:
    known = _FREE_MAIL_MEMO.get(domain)
    if known is not None:
        return known
    free = domain in FREE_MAIL_DOMAINS
    # a provider's country variants (gmx.de, yahoo.co.uk), not e.g. live.example.com
    for prefix in FREE_MAIL_PREFIXES:
        if not free and domain.startswith(prefix):
            free = _COUNTRY_SUFFIX.fullmatch(domain[len(prefix) :]) is not None
    _remember(_FREE_MAIL_MEMO, domain, free)
    return free


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()


_LEADING_NUMBER = re.compile(r"\s*([-+]?\d[\d,]*(?:\.\d+)?)")


def lower_bound(value: object) -> float | None:
    """A number, or the lower bound of a bucket such as "100-500" or "1,000+"; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    if value in _BOUND_MEMO:
        return _BOUND_MEMO[value]
    match = _LEADING_NUMBER.match(value)
    bound = None if match is None else float(match.group(1).replace(",", ""))
    _remember(_BOUND_MEMO, value, bound)
    return bound


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")


def _scalar(value: object) -> object:
    if not isinstance(value, str | int | float | bool):
        raise ValueError("must be a text, a number or true/false")
    return value


Scalar = Annotated[str | int | float | bool, BeforeValidator(_scalar)]


# ---------------------------------------------------------------------------------------------
# Models


class _Model(BaseModel):
    # No NaN or infinity: a NaN range bound matches nothing silently, infinite points make every
    # score NaN, and neither has a JSON form to hash or store.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Range(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("range min is above max")
        return self


_LEAF_OPERATORS = {
    "equals": "equals",
    "in_": "in",
    "regex": "regex",
    "range": "range",
    "exists": "exists",
    "free_mail": "free_mail",
}
_BRANCH_OPERATORS = {"not_": "not", "all_": "all", "any_": "any"}


class Condition(_Model):
    """Exactly one operator; leaf operators test one `property` (case-insensitively)."""

    property: str | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    regex: str | None = None
    range: Range | None = None
    exists: bool | None = None
    free_mail: bool | None = None
    not_: Condition | None = Field(default=None, alias="not")
    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_search(value)  # ValueError naming why, RE2's refusals included
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> Self:
        used = [
            alias
            for name, alias in (_LEAF_OPERATORS | _BRANCH_OPERATORS).items()
            if getattr(self, name) is not None
        ]
        if len(used) != 1:
            found = ", ".join(used) or "none"
            raise ValueError(
                "a condition needs exactly one of equals, in, regex, range, exists, free_mail, "
                f"not, all, any (found: {found})"
            )
        operator = used[0]
        if operator in _LEAF_OPERATORS.values():
            if not self.property:
                raise ValueError(f"`{operator}` needs a `property`")
        elif self.property is not None:
            raise ValueError(f"`{operator}` combines conditions and takes no `property`")
        if operator in ("all", "any") and not (self.all_ or self.any_):
            raise ValueError(f"`{operator}` needs at least one condition")
        return self

    def properties(self) -> Iterator[str]:
        """Names of the properties this condition reads (email_domain reads `email`)."""
        if self.property is not None:
            yield "email" if self.property == EMAIL_DOMAIN else self.property
        for child in (self.not_, *(self.all_ or ()), *(self.any_ or ())):
            if child is not None:
                yield from child.properties()

    def compile(self) -> Matcher:
        return _compile_condition(self)


class _Rule(_Model):
    """A labelled rule; `signal` (a stable id for reasons and calibration) defaults to a slug
    of the label so YAML stays short."""

    label: Annotated[str, Field(min_length=1)]
    signal: Annotated[str, Field(pattern=_SIGNAL_PATTERN)]
    condition: Condition

    @model_validator(mode="before")
    @classmethod
    def _signal_from_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("signal") and isinstance(data.get("label"), str):
            return {**data, "signal": slug(data["label"])}
        return data


class FitRule(_Rule):
    points: int


class Disqualifier(_Rule):
    """A condition that rules a contact out whatever its fit and engagement."""


class EngagementRule(_Rule):
    """Matches an activity's properties; the first matching rule replaces the type's default."""

    points: float = Field(ge=0)


class EngagementType(_Model):
    # Points are never negative: engagement must only rise with activity and only fall with
    # time (negative signals belong in fit rules or disqualifiers).
    points: float = Field(ge=0)
    half_life_days: float = Field(gt=0)
    cap: float | None = Field(default=None, gt=0)
    rules: list[EngagementRule] = Field(default_factory=list)
    label: Annotated[str, Field(min_length=1)]


class HealthRule(_Rule):
    """Matches an activity's properties; the first matching rule replaces the type's default.
    The label may name the activity's properties in braces ("NPS {score} on"): the reason then
    shows the latest matching activity's values."""

    points: float  # either sign: a detractor lowers health, a promoter raises it


class Lapse(_Model):
    """Points lost once a kind of activity the customer did has stopped for `after_days`."""

    after_days: float = Field(gt=0)
    points: int = Field(le=0)
    label: Annotated[str, Field(min_length=1)]


class HealthType(_Model):
    label: Annotated[str, Field(min_length=1)]
    points: float = 0.0
    half_life_days: float = Field(gt=0)
    cap: float | None = Field(default=None, gt=0)  # bounds the type's total either way
    rules: list[HealthRule] = Field(default_factory=list)
    lapse: Lapse | None = None


class CustomerHealth(_Model):
    """Health of a customer (0..100): `base` plus decaying points from what customers do and
    say; below `at_risk_below` the customer is at risk."""

    base: int = Field(default=50, ge=0, le=100)
    at_risk_below: int = Field(ge=0, le=100)
    activities: dict[Annotated[str, Field(pattern=_SIGNAL_PATTERN)], HealthType] = Field(
        default_factory=dict
    )


class Capacity(_Model):
    """What the sales team can take: sales_ready then holds the leads most likely to convert
    that fit into it (by probability once calibrated, by score before), through a bar sized
    from the scores and recomputed on a schedule (`qualification.capacity.size_bar`)."""

    new_conversations_per_week: int = Field(gt=0)
    # Staying sales-ready needs the bar lowered by this share, and a recompute keeps the bar
    # while the weekly inflow it gives is within this share of the capacity: no flapping.
    margin: float = Field(default=0.1, ge=0, lt=1)


@dataclass(frozen=True, slots=True)
class CapacityBar:
    """The bar sized for a capacity, kept beside the criteria version, outside its hash: a
    recompute is not a new version."""

    by: str  # "score" or "probability"
    threshold: float  # entering sales_ready needs the figure at or above it
    capacity: int  # the new conversations a week it was sized for
    expected_per_week: float  # new sales-ready contacts a week expected at this bar
    computed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "threshold": self.threshold,
            "capacity": self.capacity,
            "expected_per_week": self.expected_per_week,
            "computed_at": self.computed_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CapacityBar:
        computed = datetime.fromisoformat(str(data["computed_at"]))
        if computed.tzinfo is None:
            raise ValueError("computed_at needs a timezone")
        by = str(data["by"])
        if by not in RANKED_BY:
            raise ValueError(f"by must be one of {', '.join(RANKED_BY)}")
        return cls(
            by=by,
            threshold=float(data["threshold"]),
            capacity=int(data["capacity"]),
            expected_per_week=float(data["expected_per_week"]),
            computed_at=computed.astimezone(UTC),
        )


RANKED_BY = ("score", "probability")


class Inactivity(_Model):
    after_days: float = Field(gt=0)
    points: int = Field(le=0)
    label: Annotated[str, Field(min_length=1)] = "no activity since"


class Thresholds(_Model):
    fit: int = Field(ge=0, le=100)
    engagement: int = Field(ge=0, le=100)
    customer_engagement: int = Field(default=20, ge=0, le=100)
    hysteresis: int = Field(default=0, ge=0, le=100)
    score_write_delta: int = Field(default=5, ge=1, le=100)


class ScoreWeights(_Model):
    fit_weight: float = Field(default=0.5, ge=0)
    engagement_weight: float = Field(default=0.5, ge=0)


class Calibration(_Model):
    intercept: float
    coefficients: dict[str, float] = Field(default_factory=dict)


_DEFAULT_CUSTOMER = Condition(property="lifecyclestage", equals="customer")
_CACHED = ("version", "fit_properties", "contact_properties", "compiled")


class Criteria(_Model):
    name: Annotated[str, Field(min_length=1)]
    fit: list[FitRule] = Field(default_factory=list)
    engagement: dict[Annotated[str, Field(pattern=_SIGNAL_PATTERN)], EngagementType] = Field(
        default_factory=dict
    )
    inactivity: Inactivity | None = None
    disqualifiers: list[Disqualifier] = Field(default_factory=list)
    customer: Condition | None = _DEFAULT_CUSTOMER
    thresholds: Thresholds
    score: ScoreWeights = ScoreWeights()
    reasons_max: int = Field(default=5, ge=1)
    calibration: Calibration | None = None
    customer_health: CustomerHealth | None = None
    capacity: Capacity | None = None
    _capacity_bar: CapacityBar | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _semantic_problems(self)
        if problems:
            # one line per problem; parse_criteria splits them back into `problems`
            raise ValueError("\n".join(problems))
        return self

    def to_document(self) -> dict[str, Any]:
        """The criteria as a YAML/JSON-ready mapping (aliases, defaults left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    @cached_property
    def version(self) -> str:
        canonical = json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @cached_property
    def fit_properties(self) -> frozenset[str]:
        """Contact properties the fit rules read."""
        return frozenset(p for rule in self.fit for p in rule.condition.properties())

    @cached_property
    def contact_properties(self) -> frozenset[str]:
        """Every contact property qualification reads (fit, disqualifiers, customer, override)."""
        extra = [p for rule in self.disqualifiers for p in rule.condition.properties()]
        if self.customer is not None:
            extra.extend(self.customer.properties())
        return self.fit_properties | frozenset(extra) | {OVERRIDE_PROPERTY}

    @cached_property
    def compiled(self) -> CompiledCriteria:
        return _compile_criteria(self)

    @property
    def signals(self) -> dict[str, str]:
        """Every signal id -> its label (fit rules, engagement types and rules, inactivity)."""
        found = {rule.signal: rule.label for rule in self.fit}
        for key, etype in self.engagement.items():
            found[key] = etype.label
            found.update((rule.signal, rule.label) for rule in etype.rules)
        if self.inactivity is not None:
            found[INACTIVITY_SIGNAL] = self.inactivity.label
        return found

    @property
    def ranked_by(self) -> str:
        """What capacity ranks leads by: the calibrated probability, else the score."""
        return "probability" if self.calibration is not None else "score"

    @property
    def capacity_bar(self) -> CapacityBar | None:
        """The bar in force (None until one is sized, or without `capacity`)."""
        return self._capacity_bar if self.capacity is not None else None

    def with_capacity_bar(self, bar: CapacityBar | None) -> Self:
        """These criteria with a recomputed capacity bar: the same version, other statuses."""
        if bar is not None and self.capacity is None:
            raise ValueError("these criteria state no capacity")
        if bar is not None and bar.by != self.ranked_by:
            raise ValueError(f"the bar ranks by {bar.by}, these criteria by {self.ranked_by}")
        copied = self.model_copy()
        copied._capacity_bar = bar
        return copied

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        # the cached derived values describe the original, not the copy
        copied = super().model_copy(update=update, deep=deep)
        for key in _CACHED:
            copied.__dict__.pop(key, None)
        return copied


def _semantic_problems(criteria: Criteria) -> list[str]:
    problems: list[str] = []
    thr = criteria.thresholds
    if thr.hysteresis and thr.hysteresis >= thr.engagement:
        problems.append(
            f"thresholds.hysteresis: must be below thresholds.engagement ({thr.engagement})"
        )
    seen: dict[str, str] = {}

    def claim(signal: str, path: str) -> None:
        if signal in _RESERVED_SIGNALS:
            problems.append(f"{path}: signal {signal!r} is reserved")
        elif signal in seen:
            problems.append(f"{path}: duplicate signal {signal!r} (also {seen[signal]})")
        else:
            seen[signal] = path

    for i, rule in enumerate(criteria.fit):
        claim(rule.signal, f"fit[{i}].signal")
    for i, dq in enumerate(criteria.disqualifiers):
        claim(dq.signal, f"disqualifiers[{i}].signal")
    for key, etype in criteria.engagement.items():
        claim(key, f"engagement.{key}")
        for i, erule in enumerate(etype.rules):
            claim(erule.signal, f"engagement.{key}.rules[{i}].signal")
    health = criteria.customer_health
    for key, htype in (health.activities if health is not None else {}).items():
        claim(health_signal(key), f"customer_health.activities.{key}")
        for i, hrule in enumerate(htype.rules):
            path = f"customer_health.activities.{key}.rules[{i}]"
            claim(hrule.signal, f"{path}.signal")
            problems.extend(f"{path}.label: {p}" for p in _template_problems(hrule.label))
    if criteria.calibration is not None:
        known = set(criteria.signals)
        for name in criteria.calibration.coefficients:
            if name not in known:
                problems.append(
                    f"calibration.coefficients.{name}: not a fit, engagement or inactivity signal"
                )
    return problems


def health_signal(activity_type: str) -> str:
    """The signal id of a health type's default points (kept apart from its engagement id)."""
    return f"{activity_type}_health"


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _template_problems(label: str) -> list[str]:
    names = _PLACEHOLDER.findall(label)
    bad = [name for name in names if not _PLACEHOLDER_NAME.fullmatch(name)]
    if bad or label.count("{") != len(names) or label.count("}") != len(names):
        return ["placeholders are property names in braces, such as {score}"]
    return []


def render_label(template: str, properties: Mapping[str, Any]) -> str:
    """A label with its {property} placeholders filled from an activity ("?" when missing)."""
    if "{" not in template:
        return template

    def value(match: re.Match[str]) -> str:
        found = properties.get(match.group(1))
        return "?" if found is None or found == "" else str(found)

    return _PLACEHOLDER.sub(value, template)


# ---------------------------------------------------------------------------------------------
# Loading


class CriteriaError(ValueError):
    """Criteria that cannot be used; `problems` lists each as "<key.path>: <problem>"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


# The default criteria hold some 300 values nested 9 deep. A YAML alias repeats what it names
# without copying it, so a kilobyte of aliases of aliases stands for billions of values, which
# validation would walk one by one: such a document is refused before it is validated.
MAX_VALUES = 50_000
MAX_DEPTH = 40
_NUL = "\x00"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one, and
    nesting deeper than MAX_DEPTH (PyYAML composes nodes recursively: thousands of `[` would
    end in a slow RecursionError)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = parent.start_mark if parent is not None else None
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        if isinstance(key, str | int | float | bool):
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"(yaml): {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+|\[key\]")


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):  # a key with ':', '.' or spaces, quoted whole
            path += f"[{part[:60]!r}]"
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


_MESSAGES = {"extra_forbidden": "unknown key", "missing": "required key is missing"}


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        message = _MESSAGES.get(error["type"], error["msg"]).removeprefix("Value error, ")
        if not error["loc"] and error["type"] == "value_error":
            problems.extend(message.splitlines())  # semantic checks: already "<path>: <problem>"
        else:
            problems.append(f"{_path(error['loc'])}: {message}")
    return problems


def _size_problem(data: Any) -> str | None:
    """Why `data` (as loaded, aliases shared) is too large or holds an unstorable string."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 0
    while stack:
        value, path, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return (
                f"(top level): the document expands to more than {MAX_VALUES} values "
                "(YAML aliases repeat what they name)"
            )
        if depth > MAX_DEPTH:
            return f"{path or '(top level)'}: nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, str) and _NUL in value:
            return f"{path or '(top level)'}: a text holds a NUL character"
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and _NUL in key:
                    return f"{path or '(top level)'}: a key holds a NUL character"
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(value))
    return None


def parse_criteria(text: str, source: str = "<criteria>") -> Criteria:
    """Parse and validate criteria YAML; raises CriteriaError listing every problem found."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader  # nosec B506
    except yaml.YAMLError as exc:
        raise CriteriaError(source, [_yaml_problem(exc)]) from None
    except RecursionError:  # a backstop: compose_node bounds the nesting
        raise CriteriaError(source, [f"(yaml): nested deeper than {MAX_DEPTH} levels"]) from None
    except ValueError as exc:  # a constructor's own refusal: an int of 5,000 digits, a date
        raise CriteriaError(source, [f"(yaml): {exc}"[:300]]) from None
    problem = _size_problem(data)
    if problem is not None:
        raise CriteriaError(source, [problem])
    if not isinstance(data, dict):
        raise CriteriaError(
            source, ["(top level): criteria must be a mapping (name, fit, engagement, ...)"]
        )
    try:
        return Criteria.model_validate(data)
    except ValidationError as exc:
        raise CriteriaError(source, _problems(exc)) from None


@cache
def default_criteria() -> Criteria:
    """The built-in criteria (parsed once: Criteria are immutable, so sharing is safe)."""
    return parse_criteria(DEFAULT_CRITERIA_YAML, source="default criteria")


# ---------------------------------------------------------------------------------------------
# Compiled form: plain data and closures for the engine's hot path


@dataclass(frozen=True, slots=True)
class CompiledSignal:
    signal: str
    type: str
    label: str
    points: float
    rate: float  # the type's decay rate, per second


@dataclass(frozen=True, slots=True)
class CompiledType:
    key: str
    label: str
    rate: float  # ln 2 / half-life in seconds: value(t) = value * exp(-rate * seconds)
    cap: float  # math.inf when uncapped
    default: CompiledSignal
    rules: tuple[tuple[Matcher, CompiledSignal], ...]
    # When every rule reads one and the same property (page_view: url), the signal depends on
    # that value alone and is memoised by it.
    rule_property: str | None = None
    memo: dict[str, CompiledSignal] = field(default_factory=dict, compare=False, repr=False)

    def signal_for(self, props: Mapping[str, Any]) -> CompiledSignal:
        """The first matching rule's signal, else the type's default."""
        key = None if self.rule_property is None else props.get(self.rule_property)
        if key.__class__ is str:
            known = self.memo.get(key)
            if known is not None:
                return known
        found = self.default
        for matches, signal in self.rules:
            if matches(props):
                found = signal
                break
        if key.__class__ is str:
            _remember(self.memo, key, found)
        return found


@dataclass(frozen=True, slots=True)
class CompiledRule:
    matches: Matcher
    points: int
    signal: str
    label: str


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class CompiledCriteria:
    version: str
    fit: tuple[CompiledRule, ...]
    fit_properties: tuple[str, ...]
    disqualifiers: tuple[CompiledRule, ...]
    customer: Matcher | None
    types: Mapping[str, CompiledType]
    signal_types: Mapping[str, CompiledType]
    signals: Mapping[str, CompiledSignal]  # every engagement signal by id
    fit_threshold: int
    engagement_threshold: int
    customer_threshold: int
    hysteresis: int
    score_write_delta: int
    fit_weight: float
    engagement_weight: float
    reasons_max: int
    inactivity_seconds: float | None
    inactivity_points: int
    inactivity_label: str
    calibration_intercept: float | None
    calibration_coefficients: Mapping[str, float]
    health: CompiledHealth | None
    capacity: int | None  # new conversations a week, while a bar is in force
    capacity_bar: float | None  # the figure needed to enter sales_ready
    capacity_stay: float | None  # the figure needed to stay (the bar lowered by the margin)
    capacity_by: str  # "score" or "probability"
    # derived data other modules build once per criteria (e.g. the engine's constant reasons)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class CompiledLapse:
    type: str
    seconds: float  # after the type's latest activity
    points: int
    label: str


@dataclass(frozen=True, slots=True)
class CompiledHealth:
    base: int
    bar: int  # at risk below this
    types: Mapping[str, CompiledType]  # signed points; caps bound a type's total either way
    lapses: Mapping[str, CompiledLapse]  # by activity type
    templates: frozenset[str]  # signals whose label names activity properties
    signals: Mapping[str, CompiledSignal]  # every health signal by id


def _compiled_type(
    key: str,
    label: str,
    points: float,
    half_life_days: float,
    cap: float | None,
    rules: list[tuple[Condition, str, str, float]],
    default_signal: str,
) -> CompiledType:
    rate = math.log(2) / (half_life_days * _SECONDS_PER_DAY)
    compiled_rules = tuple(
        (condition.compile(), CompiledSignal(signal, key, rule_label, rule_points, rate))
        for condition, signal, rule_label, rule_points in rules
    )
    read = {p for condition, *_ in rules for p in condition.properties()}
    uses_domain = any(_reads_domain(condition) for condition, *_ in rules)
    return CompiledType(
        key=key,
        label=label,
        rate=rate,
        cap=math.inf if cap is None else cap,
        default=CompiledSignal(default_signal, key, label, points, rate),
        rules=compiled_rules,
        rule_property=read.pop() if len(read) == 1 and not uses_domain else None,
    )


def _compile_health(health: CustomerHealth | None) -> CompiledHealth | None:
    if health is None:
        return None
    types = {
        key: _compiled_type(
            key,
            htype.label,
            htype.points,
            htype.half_life_days,
            htype.cap,
            [(r.condition, r.signal, r.label, r.points) for r in htype.rules],
            health_signal(key),
        )
        for key, htype in health.activities.items()
    }
    lapses = {
        key: CompiledLapse(
            key, htype.lapse.after_days * _SECONDS_PER_DAY, htype.lapse.points, htype.lapse.label
        )
        for key, htype in health.activities.items()
        if htype.lapse is not None
    }
    templates = frozenset(
        signal
        for key, htype in health.activities.items()
        for signal, label in [
            (health_signal(key), htype.label),
            *((r.signal, r.label) for r in htype.rules),
        ]
        if "{" in label
    )
    signals = {ctype.default.signal: ctype.default for ctype in types.values()}
    signals.update((sig.signal, sig) for ctype in types.values() for _, sig in ctype.rules)
    return CompiledHealth(health.base, health.at_risk_below, types, lapses, templates, signals)


def _compile_criteria(criteria: Criteria) -> CompiledCriteria:
    types: dict[str, CompiledType] = {
        key: _compiled_type(
            key,
            etype.label,
            etype.points,
            etype.half_life_days,
            etype.cap,
            [(r.condition, r.signal, r.label, r.points) for r in etype.rules],
            key,
        )
        for key, etype in criteria.engagement.items()
    }
    signals = {ctype.default.signal: ctype.default for ctype in types.values()}
    signals.update((sig.signal, sig) for ctype in types.values() for _, sig in ctype.rules)
    signal_types = {key: types[signal.type] for key, signal in signals.items()}
    thr, inactivity, calibration = criteria.thresholds, criteria.inactivity, criteria.calibration
    cap, bar = criteria.capacity, criteria.capacity_bar
    return CompiledCriteria(
        version=criteria.version,
        fit=tuple(
            CompiledRule(r.condition.compile(), r.points, r.signal, r.label) for r in criteria.fit
        ),
        fit_properties=tuple(sorted(criteria.fit_properties)),
        disqualifiers=tuple(
            CompiledRule(d.condition.compile(), 0, d.signal, d.label)
            for d in criteria.disqualifiers
        ),
        customer=None if criteria.customer is None else criteria.customer.compile(),
        types=types,
        signal_types=signal_types,
        signals=signals,
        fit_threshold=thr.fit,
        engagement_threshold=thr.engagement,
        customer_threshold=thr.customer_engagement,
        hysteresis=thr.hysteresis,
        score_write_delta=thr.score_write_delta,
        fit_weight=criteria.score.fit_weight,
        engagement_weight=criteria.score.engagement_weight,
        reasons_max=criteria.reasons_max,
        inactivity_seconds=None if inactivity is None else inactivity.after_days * _SECONDS_PER_DAY,
        inactivity_points=0 if inactivity is None else inactivity.points,
        inactivity_label="" if inactivity is None else inactivity.label,
        calibration_intercept=None if calibration is None else calibration.intercept,
        calibration_coefficients={} if calibration is None else dict(calibration.coefficients),
        health=_compile_health(criteria.customer_health),
        capacity=None if bar is None else bar.capacity,
        capacity_bar=None if bar is None else bar.threshold,
        capacity_stay=None if bar is None or cap is None else bar.threshold * (1 - cap.margin),
        capacity_by=criteria.ranked_by,
    )


def _reads_domain(cond: Condition) -> bool:
    children = (cond.not_, *(cond.all_ or ()), *(cond.any_ or ()))
    return cond.property == EMAIL_DOMAIN or any(
        c is not None and _reads_domain(c) for c in children
    )


def _compile_condition(cond: Condition) -> Matcher:
    if cond.not_ is not None:
        inner = cond.not_.compile()
        return lambda props: not inner(props)
    if cond.all_ is not None:
        every = tuple(c.compile() for c in cond.all_)

        def match_all(props: Mapping[str, Any]) -> bool:
            for matches in every:  # noqa: SIM110 - no generator per call on the hot path
                if not matches(props):
                    return False
            return True

        return match_all
    if cond.any_ is not None:
        some = tuple(c.compile() for c in cond.any_)

        def match_any(props: Mapping[str, Any]) -> bool:
            for matches in some:  # noqa: SIM110 - no generator per call on the hot path
                if matches(props):
                    return True
            return False

        return match_any
    if cond.property == EMAIL_DOMAIN:
        return _compile_domain_leaf(cond)
    return _compile_leaf(cond)


def _value_test(cond: Condition) -> Callable[[Any], bool]:
    """Test for a present (non-empty) value."""
    if cond.equals is not None:
        wanted = _text(cond.equals)
        return lambda v: _text(v) == wanted
    if cond.in_ is not None:
        allowed = frozenset(_text(v) for v in cond.in_)
        return lambda v: _text(v) in allowed
    if cond.regex is not None:
        search = compile_search(cond.regex)
        return lambda v: search(v if isinstance(v, str) else _text(v))
    if cond.range is not None:
        low = -math.inf if cond.range.min is None else cond.range.min
        high = math.inf if cond.range.max is None else cond.range.max

        def in_range(v: Any) -> bool:
            number = lower_bound(v)
            return number is not None and low <= number <= high

        return in_range
    if cond.exists is not None:
        present = cond.exists
        return lambda v: present
    wanted_free = bool(cond.free_mail)

    def free_mail(v: Any) -> bool:
        domain = domain_of(v)
        return domain is not None and is_free_mail(domain) == wanted_free

    return free_mail


def _compile_domain_leaf(cond: Condition) -> Matcher:
    test = _value_test(cond)
    when_missing = cond.exists is False

    def match_domain(props: Mapping[str, Any]) -> bool:
        value = domain_of(props.get("email")) or props.get(EMAIL_DOMAIN) or None
        return when_missing if value is None else test(value)

    return match_domain


def _compile_leaf(cond: Condition) -> Matcher:
    # The common operators get their own closure (one call per test instead of two): the
    # engine evaluates some twenty of these per contact.
    prop = cond.property or ""
    when_missing = cond.exists is False  # only `exists: false` matches a missing value
    if cond.regex is not None:
        search = compile_search(cond.regex)

        def match_regex(props: Mapping[str, Any]) -> bool:
            value = props.get(prop)
            if value is None or value == "":
                return False
            return search(value if value.__class__ is str else _text(value))

        return match_regex
    if cond.in_ is not None or cond.equals is not None:
        values = cond.in_ if cond.in_ is not None else [cond.equals]
        allowed = frozenset(_text(v) for v in values)

        def match_in(props: Mapping[str, Any]) -> bool:
            value = props.get(prop)
            if value is None or value == "":
                return False
            return (value.strip().casefold() if value.__class__ is str else _text(value)) in allowed

        return match_in
    if cond.range is not None:
        low = -math.inf if cond.range.min is None else cond.range.min
        high = math.inf if cond.range.max is None else cond.range.max

        def match_range(props: Mapping[str, Any]) -> bool:
            value = props.get(prop)
            if value is None or value == "":
                return False
            number = lower_bound(value)
            return number is not None and low <= number <= high

        return match_range
    test = _value_test(cond)

    def match(props: Mapping[str, Any]) -> bool:
        value = props.get(prop)
        if value is None or value == "":
            return when_missing
        return test(value)

    return match
