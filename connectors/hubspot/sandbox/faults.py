"""Fault injection: added latency, random 5xx answers, slow answers (client time-outs), and a
"429 storm" for the next N requests. Set at start-up (`FaultConfig`) or through
`POST /_sandbox/faults` with any of the fields below."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class FaultConfig:
    latency_ms: int = 0  # added to every API response
    error_rate: float = 0.0  # probability of answering 500, 502 or 503
    timeout_rate: float = 0.0  # probability of answering only after `slow_ms`
    slow_ms: int = 30_000
    storm_429: int = 0  # the next N API requests answer 429
    storm_retry_after_seconds: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("latency_ms", "slow_ms", "storm_429", "storm_retry_after_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True, slots=True)
class Draw:
    """What happens to one request."""

    delay_seconds: float = 0.0
    error_status: int | None = None
    storm_retry_after: int | None = None


_ERROR_STATUSES = (500, 502, 503)


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._rng = random.Random(self._config.seed)  # noqa: S311 - simulation, not security

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def update(self, changes: Mapping[str, Any]) -> FaultConfig:
        """Change some settings; ValueError names an unknown or invalid one."""
        known = {f.name: f for f in fields(FaultConfig)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}: use {', '.join(known)}")
            if name == "seed":
                values[name] = None if value is None else int(value)
            elif name in ("error_rate", "timeout_rate"):
                values[name] = float(value)
            else:
                values[name] = int(value)
        with self._lock:
            self._config = replace(self._config, **values)
            if "seed" in values:
                self._rng = random.Random(self._config.seed)  # noqa: S311
            return self._config

    def as_json(self) -> dict[str, Any]:
        return asdict(self.config)

    def draw(self) -> Draw:
        with self._lock:
            config = self._config
            delay = config.latency_ms / 1000
            if config.storm_429 > 0:
                self._config = replace(config, storm_429=config.storm_429 - 1)
                return Draw(delay, storm_retry_after=config.storm_retry_after_seconds)
            if config.timeout_rate and self._rng.random() < config.timeout_rate:
                delay += config.slow_ms / 1000
            if config.error_rate and self._rng.random() < config.error_rate:
                return Draw(delay, error_status=self._rng.choice(_ERROR_STATUSES))
            return Draw(delay)
