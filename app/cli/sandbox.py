"""`glengarry sandbox {kind}`: a local CRM to develop, test and demo against, one per CRM in the
registry, its options declared by the CRM's sandbox."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.options import command
from app.crms import REGISTRY, sandbox_command
from app.errors import ConfigurationError
from connectors.crm import Crm

sandbox_cli = typer.Typer(
    help="Local CRM sandboxes that behave like the real APIs.", no_args_is_help=True
)


def _register(crm: Crm) -> None:
    sandbox = sandbox_command(crm)

    def body(**values: Any) -> None:
        try:
            sandbox.serve(values, typer.echo)
        except ValueError as exc:
            raise ConfigurationError(f"sandbox {crm.kind}: {exc}") from None

    run = command(body, sandbox.options, name=crm.kind, doc=sandbox.help, with_context=False)
    sandbox_cli.command(crm.kind)(run)


for _crm in REGISTRY:
    _register(_crm)
