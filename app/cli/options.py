"""Typer commands built from the options a CRM package declares (`connectors.crm.CliOption`).

A CRM's `connect`, `connections update` and `sandbox` options are declared once, in its package;
this turns them into the parameters of a typer command, so that adding a CRM adds commands
without editing the CLI."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import typer

from app.cli.secrets import FROM_STDIN_HELP
from connectors.crm import CliOption

Body = Callable[..., None]


def typer_option(option: CliOption) -> Any:
    if option.type is bool:
        flag = option.flag
        return typer.Option(bool(option.default), flag, help=option.help)
    help = option.help + (f" {FROM_STDIN_HELP}" if option.secret else "")
    return typer.Option(
        ... if option.required else option.default,
        option.flag,
        help=help,
        envvar=option.envvar,
        show_envvar=option.envvar is not None,
        min=option.minimum,
        max=option.maximum,
    )


def _annotation(option: CliOption) -> Any:
    if option.type is bool or option.required or option.default is not None:
        return option.type
    return option.type | None


def command(
    body: Body,
    options: Sequence[CliOption],
    *,
    name: str,
    doc: str,
    leading: Sequence[inspect.Parameter] = (),
    with_context: bool = True,
) -> Body:
    """A function typer reads as a command: `body(ctx, **values)` behind a signature made of
    `leading` parameters and one keyword parameter per option."""
    parameters = list(leading)
    if with_context:
        parameters.insert(0, _param("ctx", typer.Context, inspect.Parameter.empty))
    parameters += [_param(o.name, _annotation(o), typer_option(o)) for o in options]

    def run(*args: Any, **kwargs: Any) -> None:
        body(*args, **kwargs)

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__name__ = name
    run.__doc__ = doc
    return run


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation
    )


def given(ctx: typer.Context, param: str) -> bool:
    """The option was given (command line or environment), not left at its default."""
    return getattr(ctx.get_parameter_source(param), "name", "DEFAULT") != "DEFAULT"


def from_environment(ctx: typer.Context, param: str) -> bool:
    return getattr(ctx.get_parameter_source(param), "name", None) == "ENVIRONMENT"


def union(groups: Sequence[Sequence[CliOption]]) -> list[CliOption]:
    """Options of several CRMs as one command's: one parameter per flag (each CRM reads it as
    its own), first declaration first."""
    seen: dict[str, CliOption] = {}
    for group in groups:
        for option in group:
            first = seen.get(option.flag)
            if first is None:
                seen[option.flag] = option
            elif first.name != option.name or first.type is not option.type:
                raise TypeError(f"{option.flag} is declared twice with different meanings")
    return list(seen.values())
