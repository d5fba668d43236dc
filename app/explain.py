"""Why a contact has its status: every signal with its points, each engagement signal's value
decayed to now, the thresholds, when decay alone changes it next, a rep's override, the
transition history, and what was last written to the CRM and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.criteria_store import active_criteria
from app.models import Connection, Contact, QualificationRecord, Transition
from qualification.engagement import EngagementState, contributions_at, engagement_at

HISTORY = 50  # transitions shown, newest first


def explain(
    session: Session, contact: Contact, now: datetime, fallback: Any = None
) -> dict[str, Any]:
    connection = session.get(Connection, contact.connection_id)
    record = session.get(QualificationRecord, contact.id)
    answer: dict[str, Any] = {
        "contact": {
            "id": contact.id,
            "crm_id": contact.crm_id,
            "kind": contact.kind,
            "connection": connection.name if connection else None,
            "deleted_at": contact.deleted_at,
        },
        "qualification": None,
    }
    if record is None:
        return answer
    active = active_criteria(session, now, fallback)
    state = EngagementState.from_dict(record.engagement_state)
    profile = record.profile or {}
    answer["qualification"] = {
        "status": record.status,
        "status_since": record.status_since,
        "score": record.score,
        "fit": record.fit,
        "engagement": record.engagement,
        "computed_at": record.computed_at,
        "criteria_version": record.criteria_version,
        "criteria_active": record.criteria_version == active.version,
        "reasons": record.reasons,
        "reasons_text": record.reasons_text,
        "fit_reasons": profile.get("fit_reasons", []),
        "disqualifier": profile.get("disqualifier"),
        "override": profile.get("override"),
        "engagement_now": {
            "at": now,
            "points": round(engagement_at(state, active.criteria, now), 2),
            "signals": [
                {
                    "signal": c.signal,
                    "label": c.label,
                    "points": round(c.points, 2),
                    "last_at": c.last_at,
                }
                for c in contributions_at(state, active.criteria, now)
            ],
        },
        "thresholds": active.criteria.thresholds.model_dump(),
        "next_change_at": record.next_change_at,
        "conversion_probability": record.conversion_probability,
        "written": {"values": record.written_values, "at": record.written_at},
        "transitions": [
            {
                "from": t.from_status,
                "to": t.to_status,
                "at": t.at,
                "reason": t.reason,
                "criteria_version": t.criteria_version,
            }
            for t in session.scalars(
                select(Transition)
                .where(Transition.contact_id == contact.id)
                .order_by(Transition.at.desc(), Transition.id.desc())
                .limit(HISTORY)
            )
        ],
    }
    return answer
