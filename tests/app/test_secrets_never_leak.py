"""Marker secrets pushed through real flows, error paths included, never reach logs or columns.

Flows covered so far: generating and rotating keys, storing credentials, a database URL with a
password that cannot be reached, an invalid key. Connector and webhook flows add their own markers
in their test modules through `assert_no_marker`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from app.vault import Vault

ACCESS_TOKEN = "pat-na1-MARKER-a8f3e1c2-access"
REFRESH_TOKEN = "MARKER-refresh-77d1"
DB_PASSWORD = "MARKER-dbpass-5521"


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**clean, "GLENGARRY_DATA_DIR": str(data_dir), "GLENGARRY_LOG_LEVEL": "DEBUG", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_no_marker(text_blob: str | bytes, markers: list[str]) -> None:
    blob = text_blob.decode(errors="replace") if isinstance(text_blob, bytes) else text_blob
    leaked = [marker for marker in markers if marker in blob]
    assert leaked == []


def test_markers_never_reach_logs_outputs_or_plain_database_columns(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    markers = [ACCESS_TOKEN, REFRESH_TOKEN, DB_PASSWORD, old_key, new_key]
    outputs: list[str] = []

    first = _run(["db", "upgrade"], data_dir, GLENGARRY_SECRET_KEY=old_key)
    assert first.returncode == 0, first.stderr
    database = data_dir / "glengarry.db"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO connections (kind, name, account_id, credentials, options, "
                "field_state, field_report, writes_enabled, api_budget_share, created_at, "
                "updated_at) VALUES ('hubspot', 'acme', '42', :c, '{}', 'not_installed', '{}', "
                "1, 0.5, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {
                "c": Vault((old_key.encode(),)).encrypt(
                    {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN}
                )
            },
        )
    engine.dispose()

    for args, env in [
        (["keys", "rotate"], {"GLENGARRY_SECRET_KEY": f"{new_key},{old_key}"}),
        # error paths: a key that decrypts nothing, a key that is not a key, an unreachable DB
        (["keys", "rotate"], {"GLENGARRY_SECRET_KEY": f"{Fernet.generate_key().decode()},x"}),
        (["keys", "rotate"], {"GLENGARRY_SECRET_KEY": ACCESS_TOKEN}),
        (
            ["db", "upgrade"],
            {"GLENGARRY_DATABASE_URL": f"postgresql://u:{DB_PASSWORD}@127.0.0.1:1/x"},
        ),
    ]:
        result = _run(args, data_dir, **env)
        outputs += [result.stdout, result.stderr]

    assert "re-encrypted 1 connection(s)" in outputs[0]
    assert "glengarry:" in outputs[3]  # the invalid key was refused, in one line
    assert_no_marker("\n".join(outputs), markers)
    # The whole SQLite file, WAL included: credentials are only ever stored encrypted.
    for path in data_dir.glob("glengarry.db*"):
        assert_no_marker(path.read_bytes(), markers)
    # And the credentials really are there, readable with the new key alone.
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        token = connection.execute(text("SELECT credentials FROM connections")).scalar_one()
    engine.dispose()
    assert Vault((new_key.encode(),)).decrypt(token)["access_token"] == ACCESS_TOKEN
