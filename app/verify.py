"""The drift check: the CRM's Glengarry fields read back in batches and compared with what the
stored qualifications say the CRM holds now (the values last written, as the material-change
rule leaves them). Anyone can run it (`glengarry verify`); the reliability tests compare the
sandbox's own dump as well, so this is never the only judge.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from app import connections
from app.models import Contact, OutboxEntry, OutboxState, QualificationRecord
from app.runtime import Runtime
from qualification.fields import (
    CONVERSION_PROBABILITY,
    CRITERIA_VERSION,
    ENGAGEMENT,
    FIELD_NAMES,
    FIT,
    SCORE,
    STATUS_SINCE,
)
from qualification.times import parse_instant

WRITTEN = (*FIELD_NAMES, CONVERSION_PROBABILITY)
_NUMBERS = frozenset({SCORE, FIT, ENGAGEMENT, CONVERSION_PROBABILITY})
BATCH = 1_000  # contacts asked of the connector at once (it batches within the CRM's limits)
EXAMPLES = 10


@dataclass
class DriftReport:
    checked: int = 0
    missing: Counter[str] = field(default_factory=Counter)  # we wrote it; the CRM has none
    stale: Counter[str] = field(default_factory=Counter)  # the CRM holds another value
    unexpected: Counter[str] = field(default_factory=Counter)  # the CRM holds one we never wrote
    gone: int = 0  # contacts we qualified that the CRM no longer returns
    pending: int = 0  # writes still in the outbox: not drift yet, but not settled either
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return sum(self.missing.values()) + sum(self.stale.values()) + sum(self.unexpected.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "drift": {
                "missing": dict(self.missing),
                "stale": dict(self.stale),
                "unexpected": dict(self.unexpected),
            },
            "gone": self.gone,
            "pending_writes": self.pending,
            "examples": self.examples,
        }


def _same(name: str, expected: str, found: str) -> bool:
    """Equal as the CRM stores them: numbers as numbers (`41` and `41.0`), times as instants."""
    if expected == found:
        return True
    try:
        if name in _NUMBERS:
            return float(expected) == float(found)
        if name == STATUS_SINCE:
            return parse_instant(expected) == parse_instant(found)
    except ValueError:
        return False
    return False


def compare(
    report: DriftReport,
    crm_id: str,
    expected: Mapping[str, Any],
    found: Mapping[str, Any],
) -> None:
    """One contact's fields: what we last wrote (`expected`) against what the CRM holds."""
    for name in WRITTEN:
        want = "" if expected.get(name) is None else str(expected[name])
        have = "" if found.get(name) is None else str(found[name])
        if name == CRITERIA_VERSION and not want:
            continue
        if want and not have:
            kind = report.missing
        elif have and not want:
            kind = report.unexpected
        elif want and not _same(name, want, have):
            kind = report.stale
        else:
            continue
        kind[name] += 1
        if len(report.examples) < EXAMPLES:
            report.examples.append({"crm_id": crm_id, "field": name, "expected": want, "crm": have})


def _written(runtime: Runtime, connection_id: int) -> dict[str, dict[str, Any]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.crm_id, QualificationRecord.written_values)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(
                Contact.connection_id == connection_id,
                Contact.deleted_at.is_(None),
                QualificationRecord.written_values.is_not(None),
            )
        ).all()
    return {crm_id: dict(values or {}) for crm_id, values in rows}


def _pending(runtime: Runtime, connection_id: int) -> int:
    with runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(
                    OutboxEntry.connection_id == connection_id,
                    OutboxEntry.state == OutboxState.PENDING,
                )
            )
            or 0
        )


async def verify(
    runtime: Runtime, ref: str, *, sample: int | None = None, seed: int | None = None
) -> DriftReport:
    """Read back the written contacts (or a random `sample` of them) and compare. Raises a
    `ConnectorError` when the CRM cannot be read (the check could not be made)."""
    with runtime.sessions() as session:
        connection = connections.find(session, ref)
        session.expunge(connection)
    expected = _written(runtime, connection.id)
    ids: Sequence[str] = sorted(expected)
    if sample is not None and sample < len(ids):
        ids = sorted(random.Random(seed).sample(list(ids), sample))  # noqa: S311 - a sample, not a secret
    report = DriftReport(pending=_pending(runtime, connection.id))
    connector = connections.open_connector(runtime, connection, properties=list(WRITTEN))
    try:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            found = {c.crm_id: c for c in await connector.read_contacts(chunk) if not c.archived}
            for crm_id in chunk:
                contact = found.get(crm_id)
                if contact is None:
                    report.gone += 1
                    continue
                report.checked += 1
                compare(report, crm_id, expected[crm_id], contact.properties)
    finally:
        await connector.aclose()
    return report
