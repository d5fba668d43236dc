"""Credentials at rest: encrypted, key generated safely, rotation all-or-nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from app.audit import cli_actor
from app.db import session_factory
from app.errors import SecretKeyError
from app.key_rotation import rotate_keys
from app.models import AuditEntry, Connection
from app.settings import Settings
from app.vault import KEY_FILE_NAME, Vault, load_key_source
from tests.cli import Glengarry


def test_a_missing_key_is_generated_owner_only_and_announced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.logging import configure_logging

    configure_logging()
    settings = Settings(data_dir=tmp_path)
    source = load_key_source(settings)

    path = tmp_path / KEY_FILE_NAME
    assert source.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "back this file up" in capsys.readouterr().err
    # The same key is read back next time, not generated again.
    assert load_key_source(settings).keys == source.keys


def test_encrypted_credentials_hold_no_plain_text_and_round_trip() -> None:
    vault = Vault((Fernet.generate_key(),))
    token = vault.encrypt({"access_token": "pat-na1-very-secret"})
    assert b"pat-na1-very-secret" not in token
    assert vault.decrypt(token) == {"access_token": "pat-na1-very-secret"}


def test_a_wrong_key_says_so_in_one_sentence() -> None:
    token = Vault((Fernet.generate_key(),)).encrypt({"access_token": "x"})
    with pytest.raises(SecretKeyError, match="does not decrypt"):
        Vault((Fernet.generate_key(),)).decrypt(token)


def test_an_invalid_key_in_the_environment_is_named() -> None:
    with pytest.raises(SecretKeyError, match="GLENGARRY_SECRET_KEY is not a valid Fernet key"):
        load_key_source(Settings(secret_key="not-a-key"))  # type: ignore[arg-type]


def _store(engine: Engine, vault: Vault, names: list[str]) -> sessionmaker:  # type: ignore[type-arg]
    factory = sessionmaker(engine)
    with factory.begin() as session:
        for index, name in enumerate(names):
            session.add(
                Connection(
                    kind="hubspot",
                    name=name,
                    account_id=str(index),
                    credentials=vault.encrypt({"access_token": f"token-{name}"}),
                )
            )
    return factory


def test_rotation_with_a_key_file_reencrypts_everything_under_a_new_key(
    tmp_path: Path, migrated_engine: Engine
) -> None:
    settings = Settings(data_dir=tmp_path)
    old_keys = load_key_source(settings).keys
    factory = _store(migrated_engine, Vault(old_keys), ["rot-a", "rot-b"])

    message = rotate_keys(settings, factory, actor="cli:ops")

    new_keys = load_key_source(settings).keys
    assert len(new_keys) == 1
    assert new_keys != old_keys
    assert "re-encrypted" in message
    with factory() as session:
        rows = session.scalars(select(Connection).where(Connection.name.like("rot-%"))).all()
        for row in rows:
            assert Vault(new_keys).decrypt(row.credentials) == {"access_token": f"token-{row.name}"}
            with pytest.raises(SecretKeyError):
                Vault(old_keys).decrypt(row.credentials)
        # An operator action, audited in the rotation's transaction (no key in it).
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "secret_key.rotate")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None
        assert (entry.actor, entry.connection) == ("cli:ops", None)
        assert entry.details["connections"] >= 2
        assert all(key.decode() not in str(entry.details) for key in (*old_keys, *new_keys))
        for row in rows:
            session.delete(row)
        session.commit()


def test_rotation_fails_whole_when_one_credential_cannot_be_read(
    tmp_path: Path, migrated_engine: Engine
) -> None:
    stranger = Vault((Fernet.generate_key(),))
    settings = Settings(data_dir=tmp_path)
    keys = load_key_source(settings).keys
    factory = _store(migrated_engine, Vault(keys), ["ok-a"])
    with factory.begin() as session:
        session.add(
            Connection(
                kind="hubspot", name="ok-b", account_id="x", credentials=stranger.encrypt({"a": 1})
            )
        )
    with factory() as session:
        before = {
            row.name: row.credentials
            for row in session.scalars(select(Connection).where(Connection.name.like("ok-%")))
        }

    audited = select(AuditEntry.id).where(AuditEntry.action == "secret_key.rotate")
    with factory() as session:
        audited_before = session.scalars(audited).all()
    with pytest.raises(SecretKeyError, match="ok-b"):
        rotate_keys(settings, factory)
    with factory() as session:  # nothing rotated, nothing audited
        assert session.scalars(audited).all() == audited_before

    with factory() as session:
        rows = session.scalars(select(Connection).where(Connection.name.like("ok-%"))).all()
        assert {row.name: row.credentials for row in rows} == before
        for row in rows:
            session.delete(row)
        session.commit()


def test_rotation_from_the_environment_needs_the_new_key_first() -> None:
    settings = Settings(secret_key=Fernet.generate_key().decode())  # type: ignore[arg-type]
    with pytest.raises(SecretKeyError, match="NEW,OLD"):
        rotate_keys(settings, sessionmaker())


def test_the_commands_rotation_is_audited_with_who_ran_it(
    glengarry: Glengarry, fresh_engine: Engine
) -> None:
    done = glengarry("keys", "rotate")
    assert done.code == 0, done.stderr
    with session_factory(fresh_engine)() as session:
        log = session.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.details))
        assert [tuple(row) for row in log] == [
            (cli_actor(), "secret_key.rotate", {"connections": 0, "alert_urls": 0})
        ]
