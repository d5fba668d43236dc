"""`glengarry keys`: the key that encrypts CRM credentials at rest."""

from __future__ import annotations

import typer
from cryptography.fernet import Fernet

from app.audit import cli_actor
from app.cli import context
from app.key_rotation import rotate_keys

keys_cli = typer.Typer(help="Encryption keys for stored CRM credentials.", no_args_is_help=True)


@keys_cli.command("generate")
def generate() -> None:
    """Print a new Fernet key (for GLENGARRY_SECRET_KEY)."""
    typer.echo(Fernet.generate_key().decode())


@keys_cli.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored credential under a new key (all or nothing; audited)."""
    typer.echo(rotate_keys(context.settings(), context.sessions(), actor=cli_actor()))
