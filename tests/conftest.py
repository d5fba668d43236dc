"""Shared fixtures: every storage test runs on the database of this pass (SQLite or PostgreSQL).

`GLENGARRY_TEST_DB=postgresql` selects the PostgreSQL pass; each pass works in databases it
creates for itself and drops afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, session_factory
from app.migrate import upgrade
from app.worker import loop
from tests.cli import glengarry  # noqa: F401 - a fixture for every test

PG_ADMIN_URL = os.environ.get(
    "GLENGARRY_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKEND = os.environ.get("GLENGARRY_TEST_DB", "sqlite")
REDIS_URL = os.environ.get("GLENGARRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_report_header() -> str:
    return f"glengarry test pass: database backend = {BACKEND}"


ROOT = Path(__file__).resolve().parents[1]
# End-to-end runs of whole commands (the demo, the CLI, reports, the sandboxes' own commands):
# what they store goes through the storage, sync, worker, pipeline and API code that the
# PostgreSQL pass runs on its own; there, these would only repeat minutes of subprocesses.
SQLITE_ONLY = (
    "tests/app/test_demo.py",
    "tests/app/test_cli.py",
    "tests/app/test_offline_cli.py",
    "tests/app/test_hubspot_commands.py",
    "tests/app/test_secrets_",
    "tests/connectors/",
    "tests/console/",
    "tests/pipeline/test_sync_progress.py",
    "tests/pipeline/test_salesforce_voice_report.py",
    "tests/api/test_schema_conformance.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs the tests that reach a database (through `databases`, which
    every database fixture and the `glengarry` CLI fixture use) and the scaled set-up's: a
    parser, a sandbox or the engine behaves the same whichever database the other pass had."""
    if BACKEND != "postgresql":
        return
    kept: list[pytest.Item] = []
    unstored: list[pytest.Item] = []
    for item in items:
        reaches = "databases" in getattr(item, "fixturenames", ())
        whole = str(item.path.relative_to(ROOT)).startswith(SQLITE_ONLY)
        scaled = item.get_closest_marker("scaled") is not None
        (kept if scaled or (reaches and not whole) else unstored).append(item)
    if unstored:
        config.hook.pytest_deselected(items=unstored)
        items[:] = kept


class DatabaseFactory:
    """Creates blank databases for this pass and drops them at the end."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._pg_databases: list[str] = []
        self._engines: list[Engine] = []
        self._template: URL | None = None

    def new_url(self) -> str:
        if BACKEND == "sqlite":
            return f"sqlite:///{self._tmp / f'{uuid.uuid4().hex[:8]}.db'}"
        name = f"glengarry_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, not user input
        self._pg_databases.append(name)
        admin = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
        user, host = admin.get("user", "postgres"), admin.get("host", "127.0.0.1")
        return f"postgresql://{user}@{host}:{admin.get('port', 5432)}/{name}"

    def new_engine(self) -> Engine:
        engine = make_engine(self.new_url())
        self._engines.append(engine)
        return engine

    def new_migrated_engine(self) -> Engine:
        """A database at the newest schema, copied from one migrated once for the pass (a copy
        of a file, `CREATE DATABASE ... TEMPLATE`): hundreds of tests need one."""
        if self._template is None:
            template = make_engine(self.new_url())
            upgrade(template)
            template.dispose()  # a template database takes no connections while copied
            self._template = template.url
        if BACKEND == "sqlite":
            url = self.new_url()
            shutil.copyfile(str(self._template.database), url.removeprefix("sqlite:///"))
        else:
            name = f"glengarry_t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template.database}"')
            self._pg_databases.append(name)
            url = self._template.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        self._engines.append(engine)
        return engine

    def drop(self, engine: Engine) -> None:
        """The database of `engine` dropped now, at its test's end: dropping hundreds at the end
        of the pass takes minutes on a busy machine, all of it in the last test's teardown."""
        engine.dispose()
        name = engine.url.database
        if BACKEND == "sqlite" or name not in self._pg_databases:
            return
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._pg_databases.remove(name)
        self._engines.remove(engine)

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()
        if self._pg_databases:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                for name in self._pg_databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def migrated_engine(databases: DatabaseFactory) -> Engine:
    """One database at the newest schema, shared by the tests of this pass."""
    engine = databases.new_engine()
    upgrade(engine)
    return engine


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, commits included."""
    with migrated_engine.connect() as connection:
        transaction = connection.begin()
        factory = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        with factory() as db_session:
            yield db_session
        transaction.rollback()


@pytest.fixture
def blank_engine(databases: DatabaseFactory) -> Iterator[Engine]:
    """A database of its own, with no schema, for migration tests."""
    engine = databases.new_engine()
    yield engine
    databases.drop(engine)


@pytest.fixture
def fresh_engine(databases: DatabaseFactory) -> Iterator[Engine]:
    """A migrated database of its own, for tests that commit across several transactions."""
    engine = databases.new_migrated_engine()
    yield engine
    # Its pooled connections are closed now, not at the end of the pass (hundreds of tests
    # each holding some would exhaust a shared PostgreSQL's connection slots), and it is dropped.
    databases.drop(engine)


@pytest.fixture
def sessions(fresh_engine: Engine) -> sessionmaker[Session]:
    return session_factory(fresh_engine)


@pytest.fixture(autouse=True)
def _jobs_accepted() -> None:
    """Each test starts with the process accepting jobs: stopping an in-process consumer
    (`loop.stop_jobs`) refuses them process-wide, and a later test running a job in this
    process would see it refused, not run (its outcome then depends on the order)."""
    loop.accept_jobs()
