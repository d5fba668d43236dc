"""Re-encrypting every stored credential under the newest key."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.audit import cli_actor, record
from app.errors import SecretKeyError
from app.models import AlertTarget, Connection
from app.settings import Settings
from app.vault import Vault, load_key_source, write_key_file


def reencrypt_all(factory: sessionmaker[Session], vault: Vault, *, actor: str | None = None) -> int:
    """Rotate every connection's credentials in one transaction: all or nothing. With an
    `actor`, the rotation is audited in that transaction (`secret_key.rotate`)."""
    with factory.begin() as session:
        connections = session.scalars(select(Connection).with_for_update()).all()
        for connection in connections:
            connection.credentials = vault.rotate(
                connection.credentials, what=f"credentials of connection {connection.name!r}"
            )
        # Alert URLs are secrets too (a Slack webhook URL posts to a channel).
        targets = session.scalars(select(AlertTarget).with_for_update()).all()
        for target in targets:
            target.url = vault.rotate(target.url, what="an alert URL")
        if actor is not None:
            record(
                session,
                actor=actor,
                action="secret_key.rotate",
                at=datetime.now(UTC),
                details={"connections": len(connections), "alert_urls": len(targets)},
            )
        return len(connections)


def rotate_keys(
    settings: Settings, factory: sessionmaker[Session], *, actor: str | None = None
) -> str:
    """Rotate to a new key and return a sentence saying what happened and what to do next.
    Audited with `actor` (by default the command line's user): an operator action."""
    actor = actor or cli_actor()
    source = load_key_source(settings)
    if source.path is None:
        if len(source.keys) < 2:
            raise SecretKeyError(
                "GLENGARRY_SECRET_KEY holds one key: generate a new one with "
                "`glengarry keys generate`, set GLENGARRY_SECRET_KEY=NEW,OLD and run "
                "`glengarry keys rotate` again"
            )
        count = reencrypt_all(factory, Vault(source.keys), actor=actor)
        return (
            f"re-encrypted {count} connection(s) under the first key of GLENGARRY_SECRET_KEY; "
            "the older keys can now be removed from it"
        )
    new_key = Fernet.generate_key()
    # Both keys are on disk before any row changes, so a crash at any point stays readable.
    write_key_file(source.path, (new_key, *source.keys))
    count = reencrypt_all(factory, Vault((new_key, *source.keys)), actor=actor)
    write_key_file(source.path, (new_key,))
    return f"re-encrypted {count} connection(s) under a new key in {source.path}; back it up"
