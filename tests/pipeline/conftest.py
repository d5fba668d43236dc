"""A HubSpot sandbox seeded from the population generator, and a runtime on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.population import Member, generate_population

CONTACTS = 300


def population() -> Iterator[Member]:
    end = datetime.now(UTC)
    return generate_population(CONTACTS, 11, end - timedelta(days=90), end)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(rate_limits="off"), members=population()) as server:
        yield server


@pytest.fixture
def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(
        data_dir=tmp_path, http_backoff_initial_seconds=0.01, search_overlap_seconds=5
    )
    return Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
