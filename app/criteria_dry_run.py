"""A criteria dry run: the stored contacts scored under a candidate, nothing written.

It answers "what would activating this do?": how many contacts would change status, from
what to what, with a few examples each, compared with the status each has now.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Connection, Contact, QualificationRecord
from app.sync.scoring import engine_activities, to_qualification
from qualification import records
from qualification.criteria import Criteria
from qualification.engine import qualify

BATCH = 500


@dataclass
class DryRun:
    version: str
    scored: int = 0
    changed: int = 0
    by_change: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "scored": self.scored,
            "would_change": self.changed,
            "changes": [
                {"from": old, "to": new, "count": count, "examples": self.examples[(old, new)]}
                for (old, new), count in self.by_change.most_common()
            ],
        }


def dry_run(
    session: Session,
    criteria: Criteria,
    now: datetime,
    *,
    examples: int = 3,
    connection_id: int | None = None,
) -> DryRun:
    """Every stored, scored contact (of one connection, or all) under `criteria` at `now`."""
    result = DryRun(criteria.version)
    names = dict(session.execute(select(Connection.id, Connection.name)).all())
    after = 0
    while True:
        query = (
            select(Contact, QualificationRecord)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(Contact.deleted_at.is_(None), Contact.id > after)
            .order_by(Contact.id)
            .limit(BATCH)
        )
        if connection_id is not None:
            query = query.where(Contact.connection_id == connection_id)
        batch = session.execute(query).all()
        if not batch:
            return result
        activities = engine_activities(session, [c.id for c, _ in batch])
        for contact, record in batch:
            candidate = qualify(
                records.Contact(str(contact.id), contact.properties),
                activities.get(contact.id, ()),
                criteria,
                now,
                to_qualification(record),
            )
            result.scored += 1
            if candidate.status.value != record.status:
                change = (record.status, candidate.status.value)
                result.changed += 1
                result.by_change[change] += 1
                if len(result.examples[change]) < examples:
                    result.examples[change].append(
                        {
                            "contact_id": contact.id,
                            "crm_id": contact.crm_id,
                            "connection": names.get(contact.connection_id),
                            "reasons": candidate.reasons_text,
                        }
                    )
        after = batch[-1][0].id
