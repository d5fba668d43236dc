"""Secret options: never only on the command line, where shell history and `ps` keep them.

Each secret option also reads an environment variable; the value `-` reads it from stdin (one
line; asked without echo at a terminal); and `connect` asks, without echo, for a secret it
needs that was given neither way when run at a terminal.
"""

from __future__ import annotations

import sys

import typer

from app.errors import InputError
from app.logging import register_secret
from connectors.crm import CliOption

FROM_STDIN = "-"

FROM_STDIN_HELP = "`-` reads it from stdin (asked without echo at a terminal)."


def at_terminal() -> bool:
    return sys.stdin.isatty()


def _remembered(value: str | None) -> str | None:
    value = (value or "").strip() or None
    register_secret(value)  # scrubbed from every log line from now on
    return value


def read_secret(value: str | None, flag: str) -> str | None:
    """The option's value, or, for `-`, the secret read from stdin."""
    if value != FROM_STDIN:
        return _remembered(value)
    if at_terminal():
        return _remembered(typer.prompt(flag.removeprefix("--"), hide_input=True, err=True))
    line = sys.stdin.readline()
    if not line.strip():
        raise InputError(f"{flag} -: nothing to read on stdin")
    return _remembered(line)


def ask(option: CliOption, question: str, *, optional: bool = False) -> str | None:
    """Ask at a terminal, without echo, for a secret given no other way (None elsewhere)."""
    if not at_terminal():
        return None
    suffix = " (Enter to skip)" if optional else ""
    answer = typer.prompt(
        f"{question} [{option.flag}, {option.envvar}]{suffix}",
        hide_input=True,
        default="" if optional else None,
        show_default=False,
        err=True,
    )
    return _remembered(str(answer))


def environment() -> dict[str, str]:
    """Secret option -> its environment variable, for every CRM; the README lists the pairs."""
    from app.crms import REGISTRY

    return {
        option.flag: option.envvar
        for crm in REGISTRY
        for option in (*crm.connect_options, *crm.update_options)
        if option.secret and option.envvar
    }
