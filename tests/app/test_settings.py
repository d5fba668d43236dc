"""Settings: defaults, one-line failures naming the variable, and the README table in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.settings import ENV_PREFIX, Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_database_defaults_to_a_sqlite_file_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLENGARRY_DATABASE_URL", raising=False)
    monkeypatch.setenv("GLENGARRY_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'glengarry.db'}"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("GLENGARRY_PORT", "eighty", "valid integer"),
        ("GLENGARRY_PORT", "70000", "less than or equal to 65535"),
        ("GLENGARRY_LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("GLENGARRY_DATABASE_URL", "mysql://x", "sqlite:// or postgresql://"),
        ("GLENGARRY_LOG_FORMAT", "xml", "json"),
    ],
)
def test_an_invalid_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as failure:
        load_settings()
    message = str(failure.value)
    assert message.startswith(f"invalid setting {variable}: ")
    assert problem in message
    assert "\n" not in message


def test_every_setting_is_in_the_readme_table_and_nothing_else_is() -> None:
    documented = set(re.findall(r"^\| `(GLENGARRY_[A-Z_]+)` \|", README.read_text(), re.M))
    declared = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert documented == declared
