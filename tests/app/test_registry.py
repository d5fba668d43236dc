"""One CRM is one package: the app names HubSpot only where the allow-list says (the registry's
list, the demo, text), and everything a CRM brings comes from its registry entry."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import typer

from app.cli.main import cli
from app.crms import REGISTRY, kinds, sandbox_command
from app.models import Connection
from connectors.crm import SandboxCommand

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = ROOT / "tests" / "fixtures" / "hubspot_in_app.txt"


def _mentions() -> Counter[str]:
    """`grep -rn -i hubspot app/`, without the line numbers (which move with every edit)."""
    found = subprocess.run(
        ["grep", "-rn", "-i", "--include=*.py", "hubspot", "app/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return Counter(re.sub(r"^([^:]+):\d+:", r"\1: ", line) for line in found.splitlines())


def test_the_app_names_hubspot_only_where_the_allow_list_says() -> None:
    allowed = Counter(
        line for line in ALLOWED.read_text().splitlines() if line and not line.startswith("#")
    )
    found = _mentions()
    assert found - allowed == Counter(), "new mentions: add them to the registry, not to app/"
    assert allowed - found == Counter(), "gone from app/: remove them from the allow-list"


def _commands(*path: str) -> set[str]:
    group = typer.main.get_group(cli)
    for name in path:
        group = group.commands[name]  # type: ignore[attr-defined]
    return set(group.commands)  # type: ignore[attr-defined]


def test_connect_and_sandbox_have_one_command_per_registered_crm() -> None:
    assert kinds() == ("hubspot", "salesforce")
    assert _commands("connect") == set(kinds())
    assert _commands("sandbox") == set(kinds())
    for crm in REGISTRY:
        assert isinstance(sandbox_command(crm), SandboxCommand)


def test_each_kind_fits_the_stored_column() -> None:
    width = Connection.__table__.c.kind.type.length
    assert all(len(kind) <= width for kind in kinds())


def test_crm_urls_are_https_but_on_loopback() -> None:
    import pytest

    from connectors.crm import CredentialsError, crm_url

    assert crm_url("https://api.hubapi.com/", "--base-url") == "https://api.hubapi.com"
    assert crm_url("http://127.0.0.1:8123", "--base-url") == "http://127.0.0.1:8123"
    assert crm_url("http://localhost:9", "--base-url") == "http://localhost:9"
    for bad in ("http://api.hubapi.com", "http://127.0.0.1.evil.example", "ftp://x", "api"):
        with pytest.raises(CredentialsError, match="--base-url must be an https:// URL"):
            crm_url(bad, "--base-url")
