"""What every command needs: settings, logging, the database; built once per invocation."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import engine_from_settings, session_factory
from app.logging import configure_logging
from app.migrate import ensure_current
from app.runtime import Runtime
from app.settings import LogFormat, Settings, load_settings
from app.vault import Vault

# `serve` and `worker` log for machines; every other command is run by a person.
SERVICES = frozenset({"serve", "worker"})
_interactive = True


def run_as(command: str | None) -> None:
    """Called with the command about to run: it decides who reads the logs."""
    global _interactive
    _interactive = command not in SERVICES


@cache
def settings() -> Settings:
    loaded = load_settings()
    level, fmt = loaded.log_level, loaded.log_format
    if _interactive:
        # A person reads stderr between the command's own output: readable lines, and only
        # what needs their attention, unless GLENGARRY_LOG_FORMAT / _LEVEL say otherwise.
        if "log_format" not in loaded.model_fields_set:
            fmt = LogFormat.CONSOLE
        if "log_level" not in loaded.model_fields_set:
            level = "WARNING"
    configure_logging(level, fmt)
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
