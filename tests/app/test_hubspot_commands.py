"""The commands a CRM admin and an operator type, run as processes against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from tests.app.test_cli import run
from tests.pipeline.conftest import population

# Processes on the embedded default: one pass is enough.
pytestmark = pytest.mark.slow


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(rate_limits="off"), members=population()) as server:
        yield server


def test_connect_then_dry_run_then_sync_then_activate_new_criteria(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    connect = run(
        [
            "connect",
            "hubspot",
            "--name",
            "acme",
            "--token",
            "sandbox-token",
            "--base-url",
            sandbox.base_url,
        ],
        tmp_path,
    )
    assert connect.returncode == 0, connect.stderr
    connected = json.loads(connect.stdout)
    assert connected["portal_id"] == str(sandbox.config.portal_id)
    assert set(connected["fields"].values()) == {"created"}

    dry = run(["sync", "acme", "--dry-run"], tmp_path)
    assert dry.returncode == 0, dry.stderr
    dry_report = json.loads(dry.stdout)
    assert dry_report["written"] == 0
    assert dry_report["to_write"] == dry_report["pulled"] > 0
    assert {"glengarry_status", "glengarry_reasons"} <= set(dry_report["would_write"][0]["values"])
    # It says it shows a sample, and of how many.
    assert dry_report["would_write_sample"] == f"20 of {dry_report['to_write']}"
    assert len(dry_report["would_write"]) == 20

    real = json.loads(run(["sync", "acme"], tmp_path).stdout)
    assert real["written"] == dry_report["to_write"]
    assert real["status_changes"] == dry_report["status_changes"] > 0  # the dry run stored none

    criteria = tmp_path / "criteria.yaml"
    criteria.write_text(DEFAULT_CRITERIA_YAML.replace("B2B SaaS default", "Q4 criteria", 1))
    activated = run(["criteria", "activate", str(criteria)], tmp_path)
    assert json.loads(activated.stdout)["rescore"]["state"] == "queued"
    again = run(["criteria", "activate", str(criteria)], tmp_path)
    assert json.loads(again.stdout)["activated"] is False
    assert json.loads(again.stdout)["rescore"] is None


def test_a_second_connection_to_the_same_portal_and_bad_options_are_one_line(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    base = ["connect", "hubspot", "--token", "sandbox-token", "--base-url", sandbox.base_url]
    assert run([*base, "--name", "one"], tmp_path).returncode == 0
    twice = run([*base, "--name", "two"], tmp_path)
    assert twice.returncode != 0
    assert twice.stderr.strip().splitlines()[-1].startswith("glengarry: portal")
    both = run([*base, "--name", "x", "--refresh-token", "r"], tmp_path)
    assert "not both" in both.stderr
    unknown = run(["sync", "nope"], tmp_path)
    assert unknown.returncode == 2
    assert "no connection named 'nope'" in unknown.stderr


def test_connect_with_an_oauth_authorization_code_then_sync(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = sandbox.config
    oauth = [
        "connect", "hubspot", "--name", "oauth", "--base-url", sandbox.base_url,
        "--oauth-client-id", config.client_id, "--oauth-client-secret", config.client_secret,
        "--oauth-code", "code-from-the-install-redirect",
    ]  # fmt: skip
    incomplete = run(oauth, tmp_path)
    assert incomplete.returncode == 2
    assert "--redirect-uri" in incomplete.stderr
    connected = run([*oauth, "--redirect-uri", "https://glengarry.example.com/oauth"], tmp_path)
    assert connected.returncode == 0, connected.stderr
    synced = json.loads(run(["sync", "oauth"], tmp_path).stdout)
    assert synced["state"] == "succeeded"
    assert synced["pulled"] > 0
