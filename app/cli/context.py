"""What every command needs: settings, logging, the database; built once per invocation."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import engine_from_settings, session_factory
from app.logging import configure_logging
from app.migrate import ensure_current
from app.runtime import Runtime
from app.settings import Settings, load_settings
from app.vault import Vault


@cache
def settings() -> Settings:
    loaded = load_settings()
    configure_logging(loaded.log_level, loaded.log_format)
    return loaded


@cache
def engine() -> Engine:
    return engine_from_settings(settings())


@cache
def sessions() -> sessionmaker[Session]:
    """Sessions on a database whose schema is current (the embedded default migrates itself)."""
    current = engine()
    ensure_current(current, auto_upgrade=settings().database_url is None)
    return session_factory(current)


@cache
def runtime() -> Runtime:
    return Runtime(settings(), engine(), sessions(), Vault.from_settings(settings()))


def reset() -> None:
    """Forget what was built (tests run several invocations in one process)."""
    for cached in (settings, engine, sessions, runtime):
        cached.cache_clear()
