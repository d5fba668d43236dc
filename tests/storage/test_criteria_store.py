"""Exactly one active criteria version, however many activations race (each in its own session
and transaction, as concurrent API requests, CLI runs and console posts are)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.criteria_store import ActiveCriteria, activate, active_criteria
from app.migrate import upgrade
from app.models import CriteriaVersion
from qualification.default_criteria import DEFAULT_CRITERIA_YAML

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RACERS = 6


def _variant(i: int) -> str:
    return DEFAULT_CRITERIA_YAML.replace("name: B2B SaaS default", f"name: variant {i}", 1)


def _race(calls: list[Callable[[], ActiveCriteria]]) -> tuple[list[ActiveCriteria], list[str]]:
    """Every call in a thread of its own, released together; their results and failures."""
    start = threading.Barrier(len(calls))
    results: list[ActiveCriteria] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(call: Callable[[], ActiveCriteria]) -> None:
        try:
            start.wait(timeout=60)
            result = call()
        except Exception as exc:  # reported by the test, not lost in the thread
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "an activation never finished"
    return results, failures


def _activation(sessions: sessionmaker[Session], yaml: str, now: datetime) -> ActiveCriteria:
    with sessions.begin() as session:
        return activate(session, yaml, now, "test")


def _active(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(select(CriteriaVersion.version).where(CriteriaVersion.active.is_(True)))
        )


def test_concurrent_activations_of_different_versions_leave_exactly_one_active(
    sessions: sessionmaker[Session],
) -> None:
    # Rounds from no version active and from one active: both used to end with several.
    for round_ in range(3):
        now = NOW + timedelta(minutes=round_)
        texts = [_variant(round_ * RACERS + i) for i in range(RACERS)]
        results, failures = _race([partial(_activation, sessions, t, now) for t in texts])

        assert failures == []
        assert all(result.changed for result in results)
        active = _active(sessions)
        assert len(active) == 1, f"round {round_}: {len(active)} versions active"
        assert active[0] in {result.version for result in results}
        with sessions() as session:  # the active one is what the next reader is given
            assert active_criteria(session, now).version == active[0]


def test_concurrent_first_reads_of_a_fresh_database_store_and_activate_the_default_once(
    sessions: sessionmaker[Session],
) -> None:
    def first_read() -> ActiveCriteria:
        with sessions.begin() as session:
            return active_criteria(session, NOW)

    results, failures = _race([first_read] * RACERS)

    assert failures == []  # not a unique violation on the version both inserted
    assert len({result.version for result in results}) == 1
    assert sum(result.changed for result in results) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CriteriaVersion)) == 1
    assert _active(sessions) == [results[0].version]


def test_the_database_itself_refuses_a_second_active_version(session: Session) -> None:
    activate(session, _variant(1), NOW)
    session.add(CriteriaVersion(version="f" * 12, content="x", created_at=NOW, active=True))
    with pytest.raises(IntegrityError):
        session.flush()


def test_migration_0009_keeps_the_latest_activated_of_several_active_versions(
    blank_engine: Engine,
) -> None:
    upgrade(blank_engine, "0008")
    with blank_engine.begin() as connection:
        for version, at in (("a" * 12, NOW), ("b" * 12, NOW + timedelta(hours=1)), ("c" * 12, NOW)):
            connection.execute(
                text(
                    "INSERT INTO criteria_versions (version, content, created_at, active,"
                    " activated_at) VALUES (:v, 'x', :at, :active, :at)"
                ),
                {"v": version, "at": at, "active": True},
            )
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        active = connection.scalars(
            text("SELECT version FROM criteria_versions WHERE active")
        ).all()
    assert active == ["b" * 12]
