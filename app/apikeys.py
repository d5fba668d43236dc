"""API keys: made, listed, revoked and checked; shared by the CLI and the operations API.

A key is shown once, when made. It is stored as an scrypt hash (hashlib, OpenSSL's) with a salt
of its own, so a copy of the database yields no key. The key's prefix finds its row; a process
remembers the keys it verified (as SHA-256 digests) so scrypt runs once per key, not per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.connections import find
from app.errors import InputError
from app.models import ApiKey, Connection, Scope

KEY_PREFIX = "glg_"
# scrypt's interactive-login cost (RFC 7914 section 2): 16 MiB and tens of milliseconds.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_KEY = re.compile(r"^glg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class KeyView:
    name: str
    scope: str
    connection: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "scope": self.scope,
            "connection": self.connection,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _digest(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


def create_key(
    session: Session, *, name: str, scope: str, connection: str | None, now: datetime
) -> tuple[str, KeyView]:
    """A new key (the only time it is seen in full) and what is stored of it."""
    if not _NAME.match(name):
        raise InputError(
            f"--name {name[:100]!r}: letters, digits, '.', '_' or '-', at most 100 characters"
        )
    try:
        wanted = Scope(scope)
    except ValueError:
        raise InputError(f"--scope {scope[:20]!r}: one of read, operate, admin") from None
    if session.scalars(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise InputError(f"a key named {name!r} exists already (names stay taken once revoked)")
    bound = find(session, connection) if connection is not None else None
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = ApiKey(
        name=name,
        prefix=prefix,
        salt=salt.hex(),
        hash=_digest(secret, salt),
        scope=wanted.value,
        connection_id=bound.id if bound else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return f"{KEY_PREFIX}{prefix}_{secret}", _view(row, bound.name if bound else None)


def list_keys(session: Session) -> list[KeyView]:
    rows = session.execute(
        select(ApiKey, Connection.name)
        .outerjoin(Connection, Connection.id == ApiKey.connection_id)
        .order_by(ApiKey.name)
    ).all()
    return [_view(key, connection) for key, connection in rows]


def revoke_key(session: Session, name: str, now: datetime) -> KeyView:
    row = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise InputError(f"no API key named {name[:100]!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    _verified.forget(row.prefix)
    connection = session.get(Connection, row.connection_id) if row.connection_id else None
    return _view(row, connection.name if connection else None)


def any_active(session: Session) -> bool:
    return session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_(None))).first() is not None


@dataclass(frozen=True)
class Checked:
    """What a presented key turned out to be: `key` when valid; else `known` names the key whose
    prefix it carried (a revoked key, or a wrong secret), for the log line."""

    key: ApiKey | None
    known: str | None = None


def check_key(session: Session, given: str) -> Checked:
    """The active key `given` is, read fresh (a revocation takes effect at once)."""
    match = _KEY.match(given)
    if match is None:
        return Checked(None)
    prefix, secret = match.groups()
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if row is None:
        return Checked(None)
    if row.revoked_at is not None:
        return Checked(None, row.name)
    fingerprint = hashlib.sha256(given.encode()).digest()
    if not _verified.has(prefix, fingerprint):
        if not hmac.compare_digest(_digest(secret, bytes.fromhex(row.salt)), row.hash):
            return Checked(None, row.name)
        _verified.add(prefix, fingerprint)
    return Checked(row)


class _Verified:
    """Keys this process has verified by scrypt once: prefix -> SHA-256 of the whole key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, bytes] = {}

    def has(self, prefix: str, fingerprint: bytes) -> bool:
        with self._lock:
            seen = self._seen.get(prefix)
        return seen is not None and hmac.compare_digest(seen, fingerprint)

    def add(self, prefix: str, fingerprint: bytes) -> None:
        with self._lock:
            if len(self._seen) > 10_000:  # bounded: keys are few, but never grow without end
                self._seen.clear()
            self._seen[prefix] = fingerprint

    def forget(self, prefix: str) -> None:
        with self._lock:
            self._seen.pop(prefix, None)


_verified = _Verified()


def _view(row: ApiKey, connection: str | None) -> KeyView:
    return KeyView(
        name=row.name,
        scope=row.scope,
        connection=connection,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
