"""The command line: version, help everywhere, and bad input ending in one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app import __version__
from app.cli.main import cli

GLENGARRY = [sys.executable, "-m", "app.cli"]


def run(
    args: list[str], cwd: Path, *, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    return subprocess.run(
        [*GLENGARRY, *args],
        cwd=cwd,
        env={**clean, "GLENGARRY_DATA_DIR": str(cwd / "data"), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += _paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"glengarry {__version__}"


@pytest.mark.parametrize("path", _paths(typer.main.get_group(cli)), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_db_upgrade_on_the_embedded_default_then_current(tmp_path: Path) -> None:
    first = run(["db", "upgrade"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("database at revision ")
    assert (tmp_path / "data" / "glengarry.db").exists()
    current = run(["db", "current"], tmp_path)
    revision = first.stdout.split()[-1]
    assert current.stdout.strip() == f"database: {revision}; newest: {revision}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GLENGARRY_PORT": "x"}, "glengarry: invalid setting GLENGARRY_PORT"),
        (
            {"GLENGARRY_DATA_DIR": "TMP/a-file"},
            "glengarry: invalid setting GLENGARRY_DATA_DIR: TMP/a-file is a file",
        ),
        (
            {"GLENGARRY_DATA_DIR": "TMP/a-file/below"},
            "glengarry: invalid setting GLENGARRY_DATA_DIR: TMP/a-file is a file",
        ),
        (
            {"GLENGARRY_DATABASE_URL": "postgresql://nobody:hunter2@127.0.0.1:1/none"},
            "glengarry: cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/none",
        ),
    ],
)
def test_bad_settings_end_in_one_line_and_a_non_zero_exit(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    (tmp_path / "a-file").write_text("")
    env = {k: v.replace("TMP", str(tmp_path)) for k, v in env.items()}
    result = run(["db", "upgrade"], tmp_path, **env)
    assert result.returncode != 0
    assert result.stderr.strip().startswith(expected.replace("TMP", str(tmp_path)))
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_newer_schema_is_refused_through_the_cli(tmp_path: Path, blank_engine: Engine) -> None:
    url = blank_engine.url.render_as_string(hide_password=False)
    assert run(["db", "upgrade"], tmp_path, GLENGARRY_DATABASE_URL=url).returncode == 0
    with blank_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'abcdef123456'"))
    result = run(["db", "upgrade"], tmp_path, GLENGARRY_DATABASE_URL=url)
    assert result.returncode == 1
    assert "migrated by a newer version" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_secret_key_for_existing_data_is_one_line(
    tmp_path: Path, migrated_engine: Engine
) -> None:
    from cryptography.fernet import Fernet

    from app.vault import Vault

    stored_with = Fernet.generate_key().decode()
    url = migrated_engine.url.render_as_string(hide_password=False)
    with migrated_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO connections (kind, name, account_id, credentials, options, "
                "field_state, field_report, writes_enabled, api_budget_share, created_at, "
                "updated_at) VALUES ('hubspot', 'wrongkey', 'wk', :c, '{}', 'not_installed', "
                "'{}', true, 0.5, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"c": Vault((stored_with.encode(),)).encrypt({"access_token": "t"})},
        )
    other = Fernet.generate_key().decode()
    result = run(
        ["keys", "rotate"],
        tmp_path,
        GLENGARRY_DATABASE_URL=url,
        GLENGARRY_SECRET_KEY=f"{Fernet.generate_key().decode()},{other}",
    )
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM connections WHERE name = 'wrongkey'"))
    assert result.returncode == 1
    assert "no configured key decrypts the credentials of connection 'wrongkey'" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored_with not in result.stderr
    assert other not in result.stderr


def test_logs_go_to_stderr_and_results_to_stdout(tmp_path: Path) -> None:
    result = run(["keys", "rotate"], tmp_path)  # first run generates a key: a warning on stderr
    assert result.returncode == 0, result.stderr
    assert "generated a new secret key" in result.stderr
    assert result.stdout.startswith("re-encrypted 0 connection(s)")


def test_a_command_a_person_runs_logs_for_a_person_unless_told_otherwise(tmp_path: Path) -> None:
    import json

    for each in ("one", "two"):
        (tmp_path / each).mkdir()
    person = run(["keys", "rotate"], tmp_path / "one")
    (line,) = person.stderr.strip().splitlines()  # warnings and up only: the generated key
    assert "[warning" in line
    assert "generated a new secret key" in line
    assert not line.startswith("{")
    told = run(["keys", "rotate"], tmp_path / "two", GLENGARRY_LOG_FORMAT="json")
    assert json.loads(told.stderr.strip().splitlines()[0])["event"] == "generated a new secret key"


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_services_log_json_at_info_for_their_collectors(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import logging

    from app.cli import context
    from app.logging import get_logger

    for name in [n for n in os.environ if n.startswith("GLENGARRY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GLENGARRY_DATA_DIR", str(tmp_path))
    context.run_as(command)
    context.reset()
    try:
        context.settings()
        get_logger("test").info("service line")
        assert logging.getLogger().level == logging.INFO
        assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["event"] == (
            "service line"
        )
    finally:
        context.run_as(None)
        context.reset()


def test_a_fresh_embedded_database_migrates_itself_a_configured_one_names_the_command(
    tmp_path: Path, blank_engine: Engine
) -> None:
    fresh = run(["connections", "list"], tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "data" / "glengarry.db").exists()
    url = blank_engine.url.render_as_string(hide_password=False)
    configured = run(["connections", "list"], tmp_path, GLENGARRY_DATABASE_URL=url)
    assert configured.returncode == 1
    assert configured.stderr.strip().endswith("run `glengarry db upgrade` first")
    assert "Traceback" not in configured.stderr
