"""The CLI run in-process on a test's database, as `main` would run it (fixture `glengarry`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import context
from app.cli.main import cli
from app.errors import GlengarryError


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str  # a user-facing error ends up here, as `main` prints it

    def json(self) -> Any:
        return json.loads(self.stdout.strip().splitlines()[0])


Glengarry = Callable[..., Outcome]


@pytest.fixture
def glengarry(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Glengarry]:
    """Runs a command in-process on this pass's database, as `main` would."""
    for name in os.environ:
        if name.startswith("GLENGARRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GLENGARRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "GLENGARRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False)
    )

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        context.reset()
        result = CliRunner().invoke(cli, list(args), input=input, env=env)
        context.reset()
        error = result.exception
        if isinstance(error, GlengarryError):
            return Outcome(error.exit_code, result.stdout, result.stderr + f"glengarry: {error}")
        if error is not None and not isinstance(error, SystemExit):
            raise error
        return Outcome(result.exit_code, result.stdout, result.stderr)

    yield invoke
    context.reset()


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of each row of the rich tables a command printed on a (forced) terminal."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in stdout.splitlines()
        if line.strip().startswith("│")
    ]


def table_cells(stdout: str) -> dict[str, str]:
    """A field-and-value table's rows, field to value (a wrapped value: its first line)."""
    cells: dict[str, str] = {}
    for row in table_rows(stdout):
        if len(row) == 2 and row[0]:
            cells.setdefault(row[0], row[1])
    return cells
