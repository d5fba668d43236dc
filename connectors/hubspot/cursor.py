"""The sync cursor, as stored between runs: where a full listing or an incremental sweep stands."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from connectors.errors import ConnectorError


@dataclass(frozen=True, slots=True)
class SyncCursor:
    since_ms: int | None = None  # incremental: changes at or after this instant (before overlap)
    full_after: str | None = None  # a full listing under way: resume after this token
    full_started_ms: int | None = None  # when that listing started: its successor's `since`

    def dumps(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> SyncCursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError):
            raise ConnectorError(
                f"stored HubSpot sync cursor is unreadable: {text[:80]!r}"
            ) from None

    @property
    def is_full(self) -> bool:
        return self.since_ms is None
