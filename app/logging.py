"""Structured JSON logs on stderr, with request/job ids and secrets scrubbed.

Secrets are removed twice over: fields whose names say they hold a secret are masked, and every
secret value the process has seen (decrypted credentials, keys, signatures) is registered with
`register_secret` and replaced wherever it appears, also inside messages from other libraries.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

MASK = "***"
_SECRET_FIELD = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|authorization|signature|fernet|credential)", re.I
)
_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
# Bearer tokens can reach a log inside a library's message before we have registered them.
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from every later log line."""
    global _pattern
    if not value or len(value) < 6:
        return
    with _known_lock:
        if value in _known_secrets:
            return
        _known_secrets.add(value)
        alternatives = sorted(_known_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def scrub(text: str) -> str:
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def _scrub_value(key: str, value: Any) -> Any:
    if isinstance(key, str) and _SECRET_FIELD.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value("", v) for v in value]
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key == "exc_info":
            continue
        event_dict[key] = _scrub_value(key, event_dict[key])
    return event_dict


def _scrub_rendered(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Tracebacks are rendered into `exception` after redact_secrets ran; scrub them too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = scrub(event_dict["exception"])
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send our logs and the libraries' logs, as one structured stream, to stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _scrub_rendered,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request line at INFO; keep it for debugging only.
    chosen = logging.getLevelName(level)
    quiet = chosen if chosen <= logging.DEBUG else max(logging.WARNING, chosen)
    # huey logs each task's start and end at INFO, every minute for the schedules.
    for chatty in ("httpx", "alembic", "huey"):
        logging.getLogger(chatty).setLevel(quiet)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Attach ids (request_id, job_id, connection) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield


def current_context() -> MutableMapping[str, Any]:
    return structlog.contextvars.get_contextvars()
