"""HubSpot's faults: the kit's latency, random 5xx and slow answers (client time-outs) and the
OAuth token endpoint down (`token_endpoint_down`: every `POST /oauth/v1/token` answers 503 until
it is set back), plus a "429 storm" for the next N requests. Set at start-up (`FaultConfig`)
or through `POST /_sandbox/faults` with any of the fields below; that body also takes the
action `spend_allocation` (the rest of the portal's day is used up: `ratelimit.py`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from connectors import sandbox_kit


@dataclass(frozen=True, slots=True)
class FaultConfig(sandbox_kit.FaultConfig):
    storm_429: int = 0  # the next N API requests answer 429
    storm_retry_after_seconds: int = 1


class Faults(sandbox_kit.Faults[FaultConfig]):
    def __init__(self, config: FaultConfig | None = None) -> None:
        super().__init__(config or FaultConfig(), error_statuses=(500, 502, 503))

    def storm(self) -> int | None:
        """The Retry-After of a 429 this request gets from the storm, or None."""
        with self._lock:
            config = self._config
            if config.storm_429 <= 0:
                return None
            self._config = replace(config, storm_429=config.storm_429 - 1)
            return config.storm_retry_after_seconds
