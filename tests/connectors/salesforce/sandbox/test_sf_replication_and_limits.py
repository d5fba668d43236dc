"""Replication (deleted, updated, the 15-day recycle bin and purges) and the API limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from connectors.salesforce.sandbox.clock import parse_datetime, sf_datetime

from .conftest import api, control, population


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _deleted(http: httpx.Client, start: datetime, end: datetime) -> httpx.Response:
    return http.get("/sobjects/Lead/deleted/", params={"start": _iso(start), "end": _iso(end)})


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_deleted_lists_deletions_in_the_window(org: SandboxServer, http: httpx.Client) -> None:
    now = org.store.clock.now()
    lead = org.store.records("Lead")[0]
    http.delete(f"/sobjects/Lead/{lead.id}")
    body = _deleted(http, now - timedelta(hours=1), now + timedelta(hours=1)).json()
    assert [r["id"] for r in body["deletedRecords"]] == [lead.id]
    assert parse_datetime(body["earliestDateAvailable"]) <= now - timedelta(days=14)
    assert parse_datetime(body["latestDateCovered"]) <= org.store.clock.now()
    earlier = _deleted(http, now - timedelta(hours=2), now - timedelta(hours=1)).json()
    assert earlier["deletedRecords"] == []


def test_a_start_not_before_the_end_is_invalid_replication_date(
    org: SandboxServer, http: httpx.Client
) -> None:
    now = org.store.clock.now()
    same_minute = (now.replace(second=10), now.replace(second=50))  # equal once truncated
    for start, end in ((now, now), (now, now - timedelta(days=1)), same_minute):
        refused = _deleted(http, start, end)
        assert refused.status_code == 400, (start, end)
        assert refused.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    missing = http.get("/sobjects/Lead/deleted/", params={"start": "yesterday", "end": _iso(now)})
    assert missing.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_the_recycle_bin_keeps_15_days_and_purge_moves_earliest_date_available(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    first, second = (r.id for r in org.store.records("Lead")[:2])
    start = org.store.clock.now() - timedelta(minutes=5)
    http.delete(f"/sobjects/Lead/{first}")
    sandbox.post("/clock", json={"advance_days": 10})
    http = api(org)  # the clock moved past the session's two hours
    http.delete(f"/sobjects/Lead/{second}")
    end = org.store.clock.now() + timedelta(minutes=5)
    both = _deleted(http, start, end).json()
    assert {r["id"] for r in both["deletedRecords"]} == {first, second}

    sandbox.post("/clock", json={"advance_days": 6})  # the first deletion is now 16 days old
    http = api(org)
    aged = _deleted(http, start, end).json()
    assert [r["id"] for r in aged["deletedRecords"]] == [second]
    assert parse_datetime(aged["earliestDateAvailable"]) > start
    all_rows = http.get("/queryAll", params={"q": "SELECT Id FROM Lead WHERE IsDeleted = true"})
    assert [r["Id"] for r in all_rows.json()["records"]] == [second]

    before = parse_datetime(aged["earliestDateAvailable"])
    purged = sandbox.post("/purge", json={"sobject": "Lead"}).json()
    assert purged["purged"] == 1
    after = _deleted(http, start, end).json()
    assert after["deletedRecords"] == []
    assert parse_datetime(after["earliestDateAvailable"]) > before
    assert after["earliestDateAvailable"] == purged["earliestDateAvailable"]["Lead"]


def test_updated_lists_changed_records(org: SandboxServer, http: httpx.Client) -> None:
    now = org.store.clock.now()
    lead = org.store.records("Lead")[3]
    http.patch(f"/sobjects/Lead/{lead.id}", json={"Title": "Changed"})
    body = http.get(
        "/sobjects/Lead/updated/",
        params={"start": _iso(now - timedelta(minutes=1)), "end": _iso(now + timedelta(minutes=5))},
    ).json()
    assert body["ids"] == [lead.id]
    old = http.get(
        "/sobjects/Lead/updated/",
        params={"start": _iso(now - timedelta(days=31)), "end": _iso(now)},
    )
    assert old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_every_response_carries_limit_info_and_limits_agrees(
    org: SandboxServer, http: httpx.Client
) -> None:
    first = http.get("/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    used = int(first.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    limits = http.get("/limits")
    assert limits.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/15000"
    assert limits.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - used - 1}
    refused = http.get("/query", params={"q": "SELECT Nope FROM Lead"})
    assert refused.headers["Sforce-Limit-Info"] == f"api-usage={used + 2}/15000"


def test_a_spent_allocation_is_request_limit_exceeded_until_calls_age_out(tmp_path: Path) -> None:
    config = SandboxConfig(cert_dir=tmp_path, daily_api_limit=3, session_ttl_seconds=200_000)
    with (
        SandboxServer(config, members=population(2)) as org,
        api(org) as http,
        control(org) as sandbox,
    ):
        codes = [http.get("/limits").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 403]
        refused = http.get("/limits")
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
        sandbox.post("/clock", json={"advance_days": 1.01})
        assert http.get("/limits").status_code == 200
        sandbox.post("/faults", json={"spend_allocation": True})
        assert http.get("/limits").status_code == 403
        assert org.stats()["rate_limited"] == 3


def test_too_many_concurrent_long_requests(tmp_path: Path) -> None:
    config = SandboxConfig(cert_dir=tmp_path, concurrent_long_requests=1, long_request_seconds=0.2)
    with (
        SandboxServer(config, members=population(2)) as org,
        api(org) as http,
        control(org) as sandbox,
    ):
        sandbox.post("/faults", json={"timeout_rate": 1.0, "slow_ms": 3000})
        answers: list[httpx.Response] = []
        slow = threading.Thread(target=lambda: answers.append(http.get("/limits")))
        slow.start()
        _wait_for(lambda: sandbox.get("/stats").json()["long_running"] == 1, "a long request")
        sandbox.post("/faults", json={"timeout_rate": 0.0})
        refused = http.get("/limits")
        assert refused.status_code == 403
        assert refused.json()[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."
        slow.join(timeout=20)
        assert [a.status_code for a in answers] == [200]
        assert http.get("/limits").status_code == 200


def test_injected_server_errors(
    org: SandboxServer, http: httpx.Client, sandbox: httpx.Client
) -> None:
    sandbox.post("/faults", json={"error_rate": 1.0, "seed": 2})
    failed = http.get("/limits")
    assert failed.status_code == 503
    assert failed.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sandbox.post("/faults", json={"error_rate": 0.0})
    assert http.get("/limits").status_code == 200
    assert sf_datetime(org.store.clock.now()).endswith("+0000")
