"""The deployment's criteria: stored by content hash, exactly one version active at a time.

Activations serialize: each takes a transaction-scoped lock before it reads what is stored and
active (PostgreSQL: an advisory lock; SQLite: its single writer, every transaction beginning
IMMEDIATE), so two racing ones never both see nothing active, nor both insert one version. A
partial unique index (migration 0009) refuses a second active row whatever the code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import InputError
from app.models import CriteriaVersion
from qualification.criteria import CapacityBar, Criteria, CriteriaError, parse_criteria
from qualification.default_criteria import DEFAULT_CRITERIA_YAML


@dataclass(frozen=True)
class ActiveCriteria:
    criteria: Criteria
    version: str
    changed: bool  # activated by this call: every contact needs a rescore


# pg_advisory_xact_lock's key for criteria writes: any fixed number no other lock of ours uses.
_ACTIVATION_LOCK = 0x676C6E67_63726974  # "glngcrit"


def read_criteria_file(path: Path | str) -> tuple[str, Criteria]:
    """Load `default` or a YAML file; a bad file is an `InputError` listing every problem."""
    if str(path) == "default":
        return DEFAULT_CRITERIA_YAML, parse_criteria(DEFAULT_CRITERIA_YAML, "default criteria")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read criteria file {file}: {exc.strerror or exc}") from None
    try:
        return text, parse_criteria(text, str(file))
    except CriteriaError as exc:
        raise InputError(str(exc)) from None


def activate(
    session: Session, text: str, now: datetime, source: str = "criteria"
) -> ActiveCriteria:
    """Make this content the active version (stored once per content hash)."""
    try:
        criteria = parse_criteria(text, source)
    except CriteriaError as exc:
        raise InputError(str(exc)) from None
    row, _ = _stored(session, criteria, text, now)
    if row.active:
        return ActiveCriteria(criteria, criteria.version, changed=False)
    session.execute(
        update(CriteriaVersion).where(CriteriaVersion.active.is_(True)).values(active=False)
    )
    row.active, row.activated_at = True, now
    session.flush()
    return ActiveCriteria(criteria, criteria.version, changed=True)


def store_version(
    session: Session, text: str, now: datetime, source: str = "criteria"
) -> tuple[CriteriaVersion, bool]:
    """Keep this content as a version without activating it (to diff, dry-run, activate
    later); True when it was not stored before."""
    try:
        criteria = parse_criteria(text, source)
    except CriteriaError as exc:
        raise InputError(str(exc)) from None
    return _stored(session, criteria, text, now)


def _serialized(session: Session) -> None:
    """Take the criteria lock (held to this transaction's end), once any other holder's ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_ACTIVATION_LOCK)))


def _stored(
    session: Session, criteria: Criteria, text: str, now: datetime
) -> tuple[CriteriaVersion, bool]:
    _serialized(session)  # before the read: a racer's version is seen once it has committed
    row = session.scalars(
        select(CriteriaVersion).where(CriteriaVersion.version == criteria.version)
    ).one_or_none()
    if row is not None:
        return row, False
    row = CriteriaVersion(version=criteria.version, content=text, created_at=now)
    session.add(row)
    session.flush()
    return row, True


def stored_version(session: Session, ref: str) -> CriteriaVersion:
    """A stored version by its content hash, or a prefix of exactly one."""
    rows = session.scalars(
        select(CriteriaVersion)
        .where(CriteriaVersion.version.startswith(ref, autoescape=True))
        .limit(2)
    ).all()
    if len(rows) != 1:
        found = "none" if not rows else "several"
        raise InputError(f"criteria version {ref[:64]!r}: {found} stored by that hash")
    return rows[0]


def active_criteria(
    session: Session, now: datetime, fallback: Path | None = None
) -> ActiveCriteria:
    """The active criteria; on a fresh database, activate `fallback` or the packaged default."""
    row = session.scalars(
        select(CriteriaVersion).where(CriteriaVersion.active.is_(True))
    ).one_or_none()
    if row is not None:
        criteria = parse_criteria(row.content, f"criteria {row.version}")
        return ActiveCriteria(_with_bar(criteria, row), row.version, changed=False)
    text, _ = read_criteria_file(fallback or "default")
    return activate(session, text, now, str(fallback or "default criteria"))


def _with_bar(criteria: Criteria, row: CriteriaVersion) -> Criteria:
    """The criteria with the capacity bar stored beside them, if it still fits them."""
    if row.capacity_bar is None or criteria.capacity is None:
        return criteria
    bar = CapacityBar.from_dict(row.capacity_bar)
    if bar.by != criteria.ranked_by:
        return criteria  # calibrated since: the next recompute sizes a bar on probability
    return criteria.with_capacity_bar(bar)


def store_capacity_bar(session: Session, version: str, bar: CapacityBar) -> None:
    """Keep a recomputed bar beside its criteria version (the version itself is unchanged)."""
    session.execute(
        update(CriteriaVersion)
        .where(CriteriaVersion.version == version)
        .values(capacity_bar=bar.to_dict())
    )
