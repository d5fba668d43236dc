"""Root of the `glengarry` command: each command group lives in its own module."""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.cli import context
from app.cli.apikeys import apikey_cli
from app.cli.connect import connect_cli
from app.cli.connections import connections_cli
from app.cli.criteria_admin import activate_command, diff_command, dry_run_command
from app.cli.crm_commands import groups as crm_groups
from app.cli.db import db_cli
from app.cli.demo import demo
from app.cli.keys import keys_cli
from app.cli.offline import calibrate_command, criteria_cli, evaluate_command, population, score
from app.cli.operations import cancel_command, explain_command, rejects, runs
from app.cli.report import report_command
from app.cli.sandbox import sandbox_cli
from app.cli.serve import serve, worker
from app.cli.sync import sync
from app.cli.verify import verify
from app.errors import GlengarryError
from app.logging import scrub

cli = typer.Typer(
    name="glengarry",
    help="Continuous, explainable lead qualification inside your CRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"glengarry {__version__}")
        raise typer.Exit


@cli.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """Glengarry qualifies every contact continuously and writes the result back to the CRM."""
    context.run_as(ctx.invoked_subcommand)


cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(apikey_cli, name="apikey")
cli.add_typer(sandbox_cli, name="sandbox")
cli.command()(serve)
cli.command()(worker)
cli.add_typer(connect_cli, name="connect")
cli.add_typer(connections_cli, name="connections")
for _kind, _group in crm_groups():
    cli.add_typer(_group, name=_kind)
cli.command()(sync)
cli.command()(verify)
cli.command()(runs)
cli.command("cancel")(cancel_command)
cli.command()(rejects)
cli.command("explain")(explain_command)
cli.command()(demo)
cli.add_typer(criteria_cli, name="criteria")
criteria_cli.command("activate")(activate_command)
criteria_cli.command("dry-run")(dry_run_command)
criteria_cli.command("diff")(diff_command)
cli.command()(score)
cli.command("evaluate")(evaluate_command)
cli.command("calibrate")(calibrate_command)
cli.command()(population)
cli.command("report")(report_command)


def main() -> None:
    """Entry point: a user-facing error is one line on stderr and a non-zero exit, no traceback."""
    try:
        cli()
    except GlengarryError as exc:
        typer.echo(f"glengarry: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SQLAlchemyError as exc:
        # A last resort: the database failed in a way no command anticipated.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"glengarry: database error: {scrub(reason)}", err=True)
        sys.exit(1)
