"""Storage models: one module per domain, all re-exported here."""

from app.models.access import ApiKey, AuditEntry, Scope
from app.models.alerts import AlertState, AlertTarget
from app.models.base import Base, UTCDateTime, utcnow
from app.models.connection import (
    ApiUsage,
    Connection,
    ConnectionLease,
    FieldInstallState,
    SyncCursor,
)
from app.models.contact import Activity, Contact, ContactKind
from app.models.outbox import OutboxEntry, OutboxState
from app.models.outcome import OutcomeRecord
from app.models.qualification import CriteriaVersion, QualificationRecord, Transition
from app.models.sync import SyncKind, SyncRun, SyncState
from app.models.webhook import InboxEvent

__all__ = [
    "Activity",
    "AlertState",
    "AlertTarget",
    "ApiKey",
    "ApiUsage",
    "AuditEntry",
    "Base",
    "Connection",
    "ConnectionLease",
    "Contact",
    "ContactKind",
    "CriteriaVersion",
    "FieldInstallState",
    "InboxEvent",
    "OutboxEntry",
    "OutboxState",
    "OutcomeRecord",
    "QualificationRecord",
    "Scope",
    "SyncCursor",
    "SyncKind",
    "SyncRun",
    "SyncState",
    "Transition",
    "UTCDateTime",
    "utcnow",
]
