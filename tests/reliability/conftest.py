"""One scaled cluster per module (private PostgreSQL and Redis, two `serve` behind a balancer,
three workers); each test brings its own CRM accounts, under connection names of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
from tests.harness.services import postgres_available


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = postgres_available()
    if missing is not None:
        pytest.fail(f"the scaled set-up cannot run here: {missing}")
    root: Path = tmp_path_factory.mktemp("cluster")
    settings = {
        # Short claims and leases: a killed worker's work is taken over within seconds.
        "GLENGARRY_CLAIM_TTL_SECONDS": "5",
        "GLENGARRY_LEASE_TTL_SECONDS": "10",
        "GLENGARRY_HTTP_BACKOFF_INITIAL_SECONDS": "0.2",
        "GLENGARRY_WRITEBACK_BACKOFF_SECONDS": "0.5",
        "GLENGARRY_HTTP_TIMEOUT_SECONDS": "3",  # a CRM slower than this is a time-out
    }
    with Cluster(root, settings=settings) as started:
        yield started


@pytest.fixture(autouse=True)
def no_new_tracebacks(cluster: Cluster) -> Iterator[None]:
    """Each test answers for the tracebacks its processes logged while it ran."""
    before = {name: len(lines) for name, lines in cluster.tracebacks().items()}
    yield
    new = {
        name: lines[before.get(name, 0) :]
        for name, lines in cluster.tracebacks().items()
        if len(lines) > before.get(name, 0)
    }
    assert not new, "a process logged a traceback:\n" + "\n".join(
        f"--- {name}\n{lines[0][-4000:]}" for name, lines in new.items()
    )
