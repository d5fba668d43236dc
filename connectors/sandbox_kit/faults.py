"""Fault injection common to every sandbox: added latency, random 5xx answers, slow answers
(client time-outs) and the OAuth token endpoint down (every token request answered 503 until
it is set back; the rest of the API unaffected). A sandbox extends `FaultConfig` with its
CRM's own faults (a 429 storm, a row lock) and `Faults` with how they are drawn;
`POST /_sandbox/faults` changes any field, and may also carry a sandbox's one-off actions
(`pop_actions`)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Generic, TypeVar


@dataclass(frozen=True, slots=True)
class FaultConfig:
    latency_ms: int = 0  # added to every API response
    error_rate: float = 0.0  # probability of answering one of the sandbox's 5xx statuses
    timeout_rate: float = 0.0  # probability of answering only after `slow_ms`
    slow_ms: int = 30_000
    token_endpoint_down: bool = False  # each sandbox's token route answers 503 while true
    seed: int | None = None

    def __post_init__(self) -> None:
        # Every `*_rate` is a probability; every other number a non-negative count or duration.
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith("_rate"):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{item.name} must be between 0 and 1, not {value}")
            elif item.name != "seed" and isinstance(value, int | float) and value < 0:
                raise ValueError(f"{item.name} must not be negative")


def pop_actions(body: dict[str, Any], names: Iterable[str]) -> set[str]:
    """Take a sandbox's actions (`{"spend_allocation": true}`: done once, not a setting) out of
    a `POST /_sandbox/faults` body, leaving the settings; the names set to true. TypeError
    names an action that is not true or false."""
    names = tuple(names)
    actions = {name: body.pop(name) for name in names if name in body}
    if not all(isinstance(value, bool) for value in actions.values()):
        raise TypeError(f"{', '.join(names)} must be true or false")
    return {name for name, value in actions.items() if value}


@dataclass(frozen=True, slots=True)
class Draw:
    """What happens to one request."""

    delay_seconds: float = 0.0
    error_status: int | None = None


C = TypeVar("C", bound=FaultConfig)


def _coerce(kind: str, name: str, value: Any) -> Any:
    """A JSON value as the field's type (dataclass annotations are strings here)."""
    if value is None and "None" in kind:
        return None
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, not {value!r}")
        return value
    if kind.startswith("float"):
        return float(value)
    return int(value)


class Faults(Generic[C]):
    """The current fault settings and the random generator that draws from them."""

    def __init__(self, config: C, *, error_statuses: Iterable[int] = (500, 502, 503)) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._error_statuses = tuple(error_statuses)
        self._rng = random.Random(config.seed)  # noqa: S311 - simulation, not security

    @property
    def config(self) -> C:
        with self._lock:
            return self._config

    def update(self, changes: Mapping[str, Any]) -> C:
        """Change some settings; ValueError (or TypeError) names an unknown or invalid one."""
        known = {item.name: item for item in fields(self._config)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}: use {', '.join(known)}")
            values[name] = _coerce(str(known[name].type), name, value)
        with self._lock:
            self._config = replace(self._config, **values)
            if "seed" in values:
                self._rng = random.Random(self._config.seed)  # noqa: S311
            return self._config

    def as_json(self) -> dict[str, Any]:
        return asdict(self.config)

    def chance(self, rate: float) -> bool:
        """True with probability `rate`, from the seeded generator."""
        with self._lock:
            return bool(rate) and self._rng.random() < rate

    def draw(self) -> Draw:
        with self._lock:
            config = self._config
            delay = config.latency_ms / 1000
            if config.timeout_rate and self._rng.random() < config.timeout_rate:
                delay += config.slow_ms / 1000
            if config.error_rate and self._rng.random() < config.error_rate:
                return Draw(delay, error_status=self._rng.choice(self._error_statuses))
            return Draw(delay)
