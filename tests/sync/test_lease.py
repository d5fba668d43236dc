from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.sync.lease import LeaseHeld, acquire, release, renew
from tests.sync.helpers import NOW, add_connection

TTL = timedelta(minutes=2)


def _connection(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return add_connection(session)


def test_one_holder_at_a_time_until_release(sessions: sessionmaker[Session]) -> None:
    conn = _connection(sessions)
    acquire(sessions, conn, "a", NOW, TTL)
    with pytest.raises(LeaseHeld, match="held by a"):
        acquire(sessions, conn, "b", NOW + timedelta(seconds=30), TTL)
    release(sessions, conn, "a")
    acquire(sessions, conn, "b", NOW + timedelta(seconds=31), TTL)


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(
    sessions: sessionmaker[Session],
) -> None:
    conn = _connection(sessions)
    acquire(sessions, conn, "dead", NOW, TTL)
    acquire(sessions, conn, "alive", NOW + TTL + timedelta(seconds=1), TTL)
    with pytest.raises(LeaseHeld, match="lost"):
        renew(sessions, conn, "dead", NOW + TTL + timedelta(seconds=2), TTL)
    renew(sessions, conn, "alive", NOW + TTL + timedelta(seconds=2), TTL)
