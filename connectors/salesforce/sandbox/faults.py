"""Salesforce's faults: the kit's latency, slow answers (time-outs), random
`503 SERVER_UNAVAILABLE` and the token endpoint down (`token_endpoint_down`: every
`POST /services/oauth2/token` answers 503 `temporarily_unavailable` until it is set back),
plus a share of saved records refused with `UNABLE_TO_LOCK_ROW` or
`FIELD_CUSTOM_VALIDATION_EXCEPTION`. `POST /_sandbox/faults` also takes two actions:
`expire_sessions` (every session ends: the next call answers `INVALID_SESSION_ID`) and
`spend_allocation` (the rest of the rolling 24-hour allocation is used up)."""

from __future__ import annotations

from dataclasses import dataclass

from connectors import sandbox_kit


@dataclass(frozen=True, slots=True)
class FaultConfig(sandbox_kit.FaultConfig):
    lock_row_rate: float = 0.0  # share of saved records answered UNABLE_TO_LOCK_ROW
    validation_rate: float = 0.0  # share answered FIELD_CUSTOM_VALIDATION_EXCEPTION


class Faults(sandbox_kit.Faults[FaultConfig]):
    def __init__(self, config: FaultConfig | None = None) -> None:
        super().__init__(config or FaultConfig(), error_statuses=(503,))

    def lock_row(self) -> bool:
        return self.chance(self.config.lock_row_rate)

    def validation(self) -> bool:
        return self.chance(self.config.validation_rate)
