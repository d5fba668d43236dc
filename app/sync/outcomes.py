"""Storing what became of contacts (`OutcomeSource`) and what a connection may not read.

Outcomes are upserted by (connection, contact, kind, deal): a resync or a webhook racing a sync
changes nothing. A deal read closed the other way since (lost, then reopened and won) keeps one
row: the opposite outcome of the same deal is removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from app.models import Connection, OutcomeRecord
from app.sql import upsert_insert
from connectors.base import (
    OUTCOMES,
    SURVEYS,
    Connector,
    CrmContact,
    CrmOutcome,
    OutcomeKind,
    OutcomeSource,
    ProbesUnavailable,
    SaysUnavailable,
)

_SWITCHED_PER_DELETE = 200
_OPPOSITE = {
    OutcomeKind.DEAL_WON.value: OutcomeKind.DEAL_LOST.value,
    OutcomeKind.DEAL_LOST.value: OutcomeKind.DEAL_WON.value,
}


async def read_outcomes(connector: Connector, contacts: Sequence[CrmContact]) -> list[CrmOutcome]:
    """The connector's outcomes for these contacts; none from a CRM that cannot read them."""
    if not contacts or not isinstance(connector, OutcomeSource):
        return []
    return list(await connector.outcomes(contacts))


async def probe_unavailable(connector: Connector) -> None:
    """Let a connector that can find out what it may not read before a whole sync's end."""
    if isinstance(connector, ProbesUnavailable):
        await connector.probe_unavailable()


def unavailable_of(connector: Connector) -> dict[str, str]:
    """What the connector may not read, with why: the kinds it said (a scope or a licence
    missing), and what a CRM's connector does not read at all yet."""
    found: dict[str, str] = {}
    crm = str(getattr(connector, "kind", "") or "CRM")  # a stand-in connector may not say
    if not isinstance(connector, OutcomeSource):
        found[OUTCOMES] = f"the {crm} connector does not read outcomes yet"
    if isinstance(connector, SaysUnavailable) and isinstance(connector.unavailable, dict):
        found.update({str(k): str(v) for k, v in connector.unavailable.items()})
    else:
        found[SURVEYS] = f"the {crm} connector does not read survey answers yet"
    return found


def record_unavailable(
    session: Session, connection_id: int, found: Mapping[str, str] | None, *, complete: bool
) -> None:
    """Keep what the connection may not read. A sync reads every kind (`complete`): what it
    says replaces what was kept, so a scope granted since clears. A webhook's read only adds."""
    if found is None:
        return
    connection = session.get(Connection, connection_id)
    if connection is None:
        return
    kept = {} if complete else dict(connection.unavailable or {})
    kept.update(found)
    if kept != (connection.unavailable or {}):
        connection.unavailable = kept


def store_outcomes(
    session: Session,
    connection_id: int,
    contact_ids: Mapping[str, int],
    outcomes: Sequence[CrmOutcome],
    now: datetime,
) -> int:
    """Upsert outcomes of stored contacts; return how many were read for them."""
    latest: dict[tuple[int, str, str], dict[str, object]] = {}
    for outcome in outcomes:
        contact_id = contact_ids.get(outcome.contact_crm_id)
        if contact_id is None:
            continue
        deal_key = outcome.deal_crm_id or ""
        latest[(contact_id, outcome.kind.value, deal_key)] = {
            "connection_id": connection_id,
            "contact_id": contact_id,
            "kind": outcome.kind.value,
            "deal_key": deal_key,
            "occurred_at": outcome.occurred_at,
            "amount": outcome.amount,
            "currency": (outcome.currency or None) and outcome.currency.upper()[:3],
            "recorded_at": now,
            "updated_at": now,
        }
    if not latest:
        return 0
    switched = [
        and_(
            OutcomeRecord.contact_id == contact_id,
            OutcomeRecord.deal_key == deal_key,
            OutcomeRecord.kind == _OPPOSITE[kind],
        )
        for contact_id, kind, deal_key in latest
        if kind in _OPPOSITE and (contact_id, _OPPOSITE[kind], deal_key) not in latest
    ]
    # A few hundred terms a statement: SQLite refuses an expression tree deeper than 1,000,
    # which one OR over a 100,000-person backfill's batch of deals passed.
    for start in range(0, len(switched), _SWITCHED_PER_DELETE):
        chunk = switched[start : start + _SWITCHED_PER_DELETE]
        session.execute(
            delete(OutcomeRecord).where(OutcomeRecord.connection_id == connection_id, or_(*chunk))
        )
    insert = upsert_insert(session, OutcomeRecord)
    statement = insert.on_conflict_do_update(
        index_elements=["connection_id", "contact_id", "kind", "deal_key"],
        set_={name: insert.excluded[name] for name in ("occurred_at", "amount", "currency")}
        | {"updated_at": now},
    )
    session.execute(statement, list(latest.values()))
    return len(latest)
