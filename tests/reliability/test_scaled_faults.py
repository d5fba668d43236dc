"""The scaled set-up under faults, as separate processes on PostgreSQL and Redis: both CRMs,
every notification answered 2xx processed, no outbox row failed, `glengarry verify` finding no
drift and the sandboxes' dumps equal to a clean run's of the same scenario."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.harness.accounts import accounts, check, people, settle
from tests.harness.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

SEED = 23


def test_both_crms_without_faults_settle_with_zero_drift(cluster: Cluster) -> None:
    members = people(120, SEED)
    specs = [("hubspot", "calm-hs"), ("salesforce", "calm-sf")]
    with accounts(cluster, specs, members, SEED) as made:
        for account in made:
            account.simulate(15, 2)
        settle(cluster.runtime(), made)
        findings = check(cluster, made, members, SEED)
        assert sum(len(a.acknowledged()) for a in made) > 0
    assert not findings, json.dumps(dataclasses.asdict(findings), indent=1)
