"""The scaled set-up under faults, as separate processes on PostgreSQL and Redis: both CRMs,
and after each fault every notification answered 2xx stored and processed, no outbox row
failed, `glengarry verify` finding no drift and each sandbox's dump equal to a clean run's of
the same scenario (`tests.harness.accounts.check`). Small populations: each test is bounded."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import Connection, Contact, InboxEvent, OutboxEntry, OutboxState, SyncCursor
from app.runtime import Runtime
from connectors.hubspot.signature import V3_SIGNATURE_HEADER, V3_TIMESTAMP_HEADER, sign_v3
from tests.harness.accounts import (
    APP_SECRET,
    Account,
    Findings,
    accounts,
    check,
    people,
    request_sync,
    settle,
    wait_for_sync,
)
from tests.harness.cluster import Cluster, Process
from tests.harness.services import until

pytestmark = [pytest.mark.cluster, pytest.mark.scaled, pytest.mark.timeout(600)]

HUBSPOT_READ = "POST /crm/v3/objects/{objectType}/batch/read"
HUBSPOT_SEARCH = "POST /crm/v3/objects/contacts/search"
SALESFORCE_QUERIES = ("GET /services/data/v62.0/query", "GET /services/data/v62.0/queryAll")


def _clean(findings: Findings) -> str:
    return json.dumps(dataclasses.asdict(findings), indent=1)


def _holder(cluster: Cluster, account: Account) -> Process:
    """The process that made the first call waiting on the account's held routes."""
    until(account.held_clients, f"a call to {account.name}'s held route", 120)
    return cluster.caller(account.held_clients()[0])


@contextmanager
def _replaced(cluster: Cluster, process: Process) -> Iterator[None]:
    """The process is started again once the test is done with its absence."""
    try:
        yield
    finally:
        if not process.alive:
            cluster.restart(process)


def test_both_crms_without_faults_settle_with_zero_drift(cluster: Cluster) -> None:
    members = people(120, 23)
    specs = [("hubspot", "calm-hs"), ("salesforce", "calm-sf")]
    with accounts(cluster, specs, members, 23) as made:
        for account in made:
            account.simulate(15, 2)
        settle(cluster.runtime(), made)
        findings = check(cluster, made, members, 23)
        assert all(account.acknowledged() for account in made)
    assert not findings, _clean(findings)
    # The balancer gave both serve processes deliveries, and both are ready.
    assert cluster.balancer is not None
    assert all(count > 0 for count in cluster.balancer.forwarded.values())
    with httpx.Client() as client:
        for serve in cluster.named("serve"):
            assert client.get(f"http://127.0.0.1:{serve.port}/readyz").status_code == 200


def test_a_worker_killed_in_the_middle_of_a_webhook_batch_loses_nothing(
    cluster: Cluster,
) -> None:
    members = people(100, 31)
    with accounts(cluster, [("hubspot", "kill-hs")], members, 31) as made:
        (portal,) = made
        portal.hold(HUBSPOT_READ)  # the worker's re-read of the people the events name
        portal.simulate(12, 2)
        victim = _holder(cluster, portal)
        assert victim.name.startswith("worker")
        with _replaced(cluster, victim):
            victim.kill()
            assert victim.popen is not None
            assert victim.popen.returncode == -signal.SIGKILL
            portal.release()  # answered to nobody: the batch's claim lapses, another worker
            settle(cluster.runtime(), made)  # takes the events over
            findings = check(cluster, made, members, 31)
    assert not findings, _clean(findings)


def test_a_worker_killed_in_the_middle_of_a_backfill_is_followed_by_a_run_that_completes(
    cluster: Cluster,
) -> None:
    members = people(100, 37)
    with accounts(cluster, [("salesforce", "kill-sf")], members, 37, backfill=False) as made:
        (org,) = made
        org.hold(*SALESFORCE_QUERIES)
        first = request_sync(cluster, org.name)
        victim = _holder(cluster, org)
        with _replaced(cluster, victim):
            victim.kill()
            org.release()
            # Its lease lapses; the next request fails the abandoned run and runs anew.
            ran: list[int] = []

            def requested() -> bool:
                with cluster.api() as api:
                    answer = api.post(f"/connections/{org.name}/syncs", json={"kind": "full"})
                if answer.status_code == 202:
                    ran.append(answer.json()["id"])
                return answer.status_code == 202

            until(requested, "a new sync is accepted once the dead one's lease lapses", 60)
            runtime = cluster.runtime()
            wait_for_sync(runtime, org.name)
            with cluster.api() as api:
                abandoned = api.get(f"/syncs/{first}").json()
            assert abandoned["state"] == "failed", abandoned
            assert "abandoned" in json.dumps(abandoned)
            org.simulate(10, 2)
            settle(runtime, made)
            findings = check(cluster, made, members, 37)
    assert not findings, _clean(findings)


def test_a_serve_process_killed_while_accepting_deliveries_loses_no_acknowledged_event(
    cluster: Cluster,
) -> None:
    members = people(100, 41)
    specs = [("hubspot", "serve-hs"), ("salesforce", "serve-sf")]
    with accounts(cluster, specs, members, 41) as made:
        victim = cluster.named("serve-1")[0]
        stop = threading.Event()

        def activity() -> None:
            while not stop.is_set():
                for account in made:
                    account.simulate(3, 2)
                stop.wait(0.2)

        busy = threading.Thread(target=activity, daemon=True)
        busy.start()
        try:
            until(lambda: all(a.acknowledged() for a in made), "deliveries flow", 60)
            with _replaced(cluster, victim):
                victim.kill()  # mid-stream: some deliveries die with it (502: redelivered)
                before = sum(len(a.acknowledged()) for a in made)
                until(  # the CRMs keep sending while one receiver is gone
                    lambda: sum(len(a.acknowledged()) for a in made) > before + 20,
                    "deliveries acknowledged by the other serve",
                    60,
                )
        finally:
            stop.set()
            busy.join(timeout=30)
        settle(cluster.runtime(), made)
        findings = check(cluster, made, members, 41)
    assert not findings, _clean(findings)


def test_postgresql_restarted_during_intake_and_a_sync_loses_nothing(cluster: Cluster) -> None:
    assert cluster.postgres is not None
    members = people(100, 43)
    specs = [("hubspot", "pg-hs"), ("salesforce", "pg-sf")]
    with accounts(cluster, specs, members, 43) as made:
        portal, org = made
        org.faults(latency_ms=150)  # the sync below is still reading when the database goes
        request_sync(cluster, org.name)
        portal.simulate(15, 2)
        cluster.postgres.restart()  # `restart -m immediate`: every connection cut
        org.faults(latency_ms=0)
        portal.simulate(10, 2)  # and intake goes on once it is back
        runtime = cluster.runtime()
        wait_for_sync(runtime, org.name, must_succeed=False)
        request_sync(cluster, org.name, "incremental")  # the operator's, or the schedule's
        wait_for_sync(runtime, org.name)
        settle(runtime, made)
        findings = check(cluster, made, members, 43)
    assert not findings, _clean(findings)


def test_redis_restarted_with_queued_tasks_the_work_is_found_again_from_the_tables(
    cluster: Cluster,
) -> None:
    assert cluster.redis is not None
    members = people(100, 47)
    with accounts(cluster, [("hubspot", "redis-hs")], members, 47) as made:
        (portal,) = made
        workers = cluster.named("worker")
        for worker in workers:  # frozen: the wake-ups the receivers queue stay in Redis
            assert worker.popen is not None
            worker.popen.send_signal(signal.SIGSTOP)
        try:
            portal.simulate(12, 2)
            until(lambda: portal.side.flush(0.05), "the portal delivered its events", 60)
            cluster.redis.restart()  # the queued wake-ups are gone with it
        finally:
            for worker in workers:
                assert worker.popen is not None
                worker.popen.send_signal(signal.SIGCONT)
        settle(cluster.runtime(), made, seconds=240)  # the sweeper finds the stored events
        findings = check(cluster, made, members, 47)
    assert not findings, _clean(findings)


def test_crm_faults_storms_errors_time_outs_and_expired_sessions_are_survived(
    cluster: Cluster,
) -> None:
    members = people(60, 53)
    specs = [("hubspot", "storm-hs"), ("salesforce", "storm-sf")]
    with accounts(cluster, specs, members, 53) as made:
        portal, org = made
        portal.faults(storm_429=15, error_rate=0.15, timeout_rate=0.02, slow_ms=4000, latency_ms=20)
        org.faults(error_rate=0.15, lock_row_rate=0.3, timeout_rate=0.02, slow_ms=4000)
        org.faults(expire_sessions=True)
        for _ in range(2):
            for account in made:
                account.simulate(6, 2)
        org.faults(expire_sessions=True)  # again, mid-stream
        request_sync(cluster, org.name, "incremental")
        runtime = cluster.runtime()
        wait_for_sync(runtime, org.name, must_succeed=False)
        for account in made:  # the storm passes; what was refused is retried, not dropped
            account.faults(error_rate=0.0, timeout_rate=0.0, latency_ms=0, **_extra_off(account))
        settle(runtime, made, seconds=240)
        findings = check(cluster, made, members, 53)
        stats = {a.name: _calls(a) for a in made}
    assert not findings, _clean(findings)
    refused = {name: {s for s in calls if s >= 429} for name, calls in stats.items()}
    assert refused["storm-hs"] & {429, 500, 502, 503}, stats  # the faults did happen
    assert refused["storm-sf"], stats


def _extra_off(account: Account) -> dict[str, float]:
    return {"lock_row_rate": 0.0} if account.side.crm.kind == "salesforce" else {}


def _calls(account: Account) -> set[int]:
    with account.side.control() as control:
        calls = control.get("/stats").json()["calls"]
    return {int(status) for per_route in calls.values() for status in per_route}


@dataclasses.dataclass(frozen=True)
class _DailyCase:
    """How one CRM's spent day looks from the scaled set-up."""

    kind: str
    name: str
    pull: tuple[str, ...]  # the routes an incremental run reads its changed people through
    refusal: int  # the status the CRM answers once the day is spent
    says: tuple[str, ...]  # the words the paused run's error carries (one of them)


_DAILY_CASES = [
    # Salesforce's rolling 24 hours: 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded."
    # (or the share of the org's allocation the connection may spend, from Sforce-Limit-Info).
    _DailyCase(
        "salesforce", "daily-sf", SALESFORCE_QUERIES, 403, ("TotalRequests", "daily API calls")
    ),
    # HubSpot's day (to midnight in the portal's time zone): 429 with policyName DAILY.
    _DailyCase("hubspot", "daily-hs", (HUBSPOT_SEARCH,), 429, ("daily limit",)),
]


@pytest.mark.parametrize("case", _DAILY_CASES, ids=lambda case: case.kind)
def test_the_daily_allocation_running_out_pauses_the_run_which_resumes_from_its_cursor(
    cluster: Cluster, case: _DailyCase
) -> None:
    """Each sandbox spends its account's day on request (`spend_allocation`, as the account's
    other integrations may) and gives it back on `/_sandbox/stats/reset`."""
    members = people(100, 67)
    with accounts(cluster, [(case.kind, case.name)], members, 67) as made:
        (account,) = made
        runtime = cluster.runtime()
        kept = _cursor(runtime, account.name)  # the backfill's
        account.simulate(10, 2)  # changes the next run is to read (and real time, before it)
        settle(runtime, made)
        account.hold(*case.pull)  # the run has read what comes before its changes here
        paused = request_sync(cluster, account.name, "incremental")
        until(account.held_clients, "the run reads the changed people", 60)
        account.faults(spend_allocation=True)  # the account's other integrations used up the day
        account.simulate(8, 2)  # and deliveries go on: stored, their reads and writes refused
        account.release()
        wait_for_sync(runtime, account.name, must_succeed=False)
        with cluster.api() as api:
            run = api.get(f"/syncs/{paused}").json()
        assert run["state"] == "paused", run
        assert any(words in run["error"] for words in case.says), run
        resumes_at = datetime.fromisoformat(run["resumes_at"])
        assert resumes_at > datetime.fromisoformat(run["started_at"]), run
        assert _cursor(runtime, account.name) == kept  # nothing stored past what it had read
        until(lambda: _refused_events(runtime, account.name), "an event waits for the day", 60)
        waiting = _refused_events(runtime, account.name)
        # Charged no attempt: however long the day lasts, they are not given up on.
        assert {attempts for attempts, _ in waiting} == {0}, waiting
        assert not _failed_writes(runtime, account.name)
        assert case.refusal in _calls(account)

        with account.side.control() as control:  # a day later: the CRM's day freed calls
            control.post("/stats/reset").raise_for_status()
        resumed = request_sync(cluster, account.name, "incremental")  # the operator's
        wait_for_sync(runtime, account.name)
        with cluster.api() as api:
            run = api.get(f"/syncs/{resumed}").json()
        # From the kept cursor (a run without one is a backfill): what changed since it.
        assert run["kind"] == "incremental", run
        assert run["counts"]["pulled"] > 0, run
        settle(runtime, made)
        findings = check(cluster, made, members, 67)
    assert not findings, _clean(findings)


def _cursor(runtime: Runtime, name: str) -> str | None:
    with runtime.sessions() as session:
        return session.scalar(
            select(SyncCursor.cursor)
            .join(Connection, Connection.id == SyncCursor.connection_id)
            .where(Connection.name == name)
        )


def _waiting_after_a_refusal(name: str) -> tuple[Any, ...]:
    """The connection's events not processed yet that a try was refused for."""
    return (
        Connection.name == name,
        InboxEvent.processed_at.is_(None),
        InboxEvent.error.is_not(None),
    )


def _refused_events(runtime: Runtime, name: str) -> list[tuple[int, str | None]]:
    """The connection's events waiting after a refused try: (attempts charged, why)."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(InboxEvent.attempts, InboxEvent.error)
            .join(Connection, Connection.id == InboxEvent.connection_id)
            .where(*_waiting_after_a_refusal(name))
        ).all()
    return [(attempts, error) for attempts, error in rows]


def _failed_writes(runtime: Runtime, name: str) -> list[str | None]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(OutboxEntry.last_error)
                .join(Connection, Connection.id == OutboxEntry.connection_id)
                .where(Connection.name == name, OutboxEntry.state == OutboxState.FAILED)
            )
        )


def test_one_account_answering_after_30_s_does_not_hold_up_the_others(cluster: Cluster) -> None:
    members = people(80, 59)
    specs = [("hubspot", "slow-hs"), ("hubspot", "quick-hs")]
    with accounts(cluster, specs, members, 59) as made:
        slow, quick = made
        slow.faults(latency_ms=30_000)
        slow.simulate(10, 2)  # its work waits on a CRM that takes 30 s an answer
        runtime = cluster.runtime()
        until(lambda: _claimed(runtime, slow.name), "a worker is at the slow account's work", 60)
        started = time.monotonic()
        touched = set(quick.simulate(10, 2))
        settle(runtime, [quick], seconds=60)
        took = time.monotonic() - started
        slow.faults(latency_ms=0)
        settle(runtime, made, seconds=240)
        findings = check(cluster, made, members, 59)
    assert touched
    assert took < 15, f"the quick account's events took {took:.1f} s beside a 30 s CRM"
    assert not findings, _clean(findings)


def _claimed(runtime: Runtime, name: str) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(InboxEvent)
                .join(Connection, Connection.id == InboxEvent.connection_id)
                .where(Connection.name == name, InboxEvent.claim_token.is_not(None))
            )
            or 0
        )


def _outbox_rows(runtime: Runtime, name: str) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .join(Connection, Connection.id == OutboxEntry.connection_id)
                .where(Connection.name == name)
            )
            or 0
        )


def test_replayed_duplicated_and_reordered_deliveries_change_nothing(cluster: Cluster) -> None:
    """Every event the portal delivered, sent again newest first, each twice, as a CRM's
    retries and a replaying attacker with a valid signature would: no write, no drift."""
    members = people(80, 61)
    with accounts(cluster, [("hubspot", "replay-hs")], members, 61) as made:
        (portal,) = made
        for _ in range(3):  # changes of one person may come in several deliveries
            portal.simulate(8, 2)
        runtime = cluster.runtime()
        settle(runtime, made)
        server: Any = getattr(portal.side, "server")  # noqa: B009 - the HubSpot demo's
        events = server.runtime.webhooks.acknowledged_events()
        written = _outbox_rows(runtime, portal.name)
        url = f"{cluster.public_url}/webhooks/hubspot/{portal.name}"
        replay = [e for event in reversed(events) for e in (event, {**event, "attemptNumber": 9})]
        with httpx.Client(timeout=30) as client:
            for start in range(0, len(replay), 50):
                body = json.dumps(replay[start : start + 50]).encode()
                at = int(time.time() * 1000)
                headers = {
                    "Content-Type": "application/json",
                    V3_SIGNATURE_HEADER: sign_v3(APP_SECRET, "POST", url, body, at),
                    V3_TIMESTAMP_HEADER: str(at),
                }
                answer = client.post(url, content=body, headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.json()["stored"] == 0  # every one a duplicate of a stored event
        settle(runtime, made)
        assert _outbox_rows(runtime, portal.name) == written
        findings = check(cluster, made, members, 61)
    assert events
    assert not findings, _clean(findings)


def test_two_changes_of_one_property_delivered_newest_first_end_with_the_newest(
    cluster: Cluster,
) -> None:
    """A rep retitles a contact twice; HubSpot, which promises no order, delivers the two
    changes in one batch newest first: the newest title is what is stored, scored and written."""
    members = people(60, 67)
    with accounts(cluster, [("hubspot", "order-hs")], members, 67) as made:
        (portal,) = made
        server: Any = getattr(portal.side, "server")  # noqa: B009 - the HubSpot demo's
        contact_id = min(portal.seeded).partition("/")[2]
        _webhook_order(portal, paused=True, newest_first=True)
        portal.edit(contact_id, {"jobtitle": "Marketing Intern"})  # a disqualifier
        first = server.runtime.store.tick()
        # A rep's second edit comes a moment later: a later millisecond (`occurredAt`).
        until(lambda: server.runtime.store.tick() > first, "the portal's clock moves on", 5)
        portal.edit(contact_id, {"jobtitle": "Chief Revenue Officer"})
        _webhook_order(portal, paused=False)
        runtime = cluster.runtime()
        settle(runtime, made)
        delivered = [
            event["propertyValue"]
            for event in server.runtime.webhooks.acknowledged_events()
            if event.get("propertyName") == "jobtitle" and str(event["objectId"]) == contact_id
        ]
        with runtime.sessions() as session:
            stored = session.scalar(
                select(Contact.properties)
                .join(Connection, Connection.id == Contact.connection_id)
                .where(Connection.name == portal.name, Contact.crm_id == contact_id)
            )
        findings = check(cluster, made, members, 67)
    assert delivered == ["Chief Revenue Officer", "Marketing Intern"]  # newest first, one batch
    assert stored is not None
    assert stored["jobtitle"] == "Chief Revenue Officer"
    assert not findings, _clean(findings)  # the portal, and the clean run, hold the newest


def _webhook_order(account: Account, **modes: bool) -> None:
    with account.side.control() as control:
        answer = control.post("/webhooks/order", json=modes)
        assert answer.status_code == 200, answer.text
        assert all(answer.json()[mode] is value for mode, value in modes.items())


TOKEN_ROUTES = {
    "salesforce": "POST /services/oauth2/token",
    "hubspot": "POST /oauth/v1/token",
}
WRITES = {
    "salesforce": "PATCH /services/data/v62.0/composite/sobjects",
    "hubspot": "POST /crm/v3/objects/contacts/batch/update",
}


def test_a_token_endpoint_down_keeps_the_work_waiting_and_the_connection_as_it_was(
    cluster: Cluster,
) -> None:
    """The token endpoint answering 503 to every login for a stretch (past the waiting work's
    next try), every session ended as writes are on their way, and deliveries and a sync
    coming in: the run fails naming the token endpoint as unavailable (not a refused grant, no
    "reconnect"), the connection is kept as it was, the events wait and the writes wait, none
    charged an attempt or given up on; once the endpoint is back, the next run and the sweep
    do everything. HubSpot's portal is connected as an OAuth app (a refresh token)."""
    members = people(60, 71)
    specs = [("salesforce", "token-sf"), ("hubspot", "token-hs")]
    with accounts(cluster, specs, members, 71, hubspot_oauth=True) as made:
        org, portal = made
        runtime = cluster.runtime()
        for account in made:  # the events' writes are held on their way...
            account.hold(WRITES[account.side.crm.kind])
            account.simulate(8, 2)
        until(lambda: all(a.held_clients() for a in made), "writes on their way", 60)
        for account in made:  # ... when the endpoint goes down and every session ends
            account.faults(token_endpoint_down=True)
        org.faults(expire_sessions=True)
        server: Any = getattr(portal.side, "server")  # noqa: B009 - the HubSpot demo's
        server.runtime.tokens.expire_access_tokens()
        for account in made:
            account.release()  # answered 401: the writer asks for a new token, in vain
        runs = {
            account.name: request_sync(cluster, account.name, "incremental") for account in made
        }
        for account in made:
            account.simulate(6, 2)  # acknowledged: Outbound Messages and webhooks need no login
        for account in made:
            wait_for_sync(runtime, account.name, must_succeed=False)
        due: dict[str, datetime] = {}  # when each connection's last waiting event is due again

        def waiting() -> bool:
            for account in made:
                tries = _next_tries(runtime, account.name)
                if not (account.side.flush(0.05) and tries and _to_write(runtime, account.name)):
                    return False
                due[account.name] = tries[1]
            return True

        def tried_again() -> bool:  # each of them given back once more since
            return all((_next_tries(runtime, name) or (at, at))[0] > at for name, at in due.items())

        until(waiting, "events and writes wait for the token endpoint", 90)
        until(tried_again, "the waiting events are tried again, and wait again", 150)
        for account in made:
            with cluster.api() as api:
                run = api.get(f"/syncs/{runs[account.name]}").json()
                view = api.get(f"/connections/{account.name}").json()
            assert run["state"] == "failed", run
            _assert_unavailable(run["error"], run)
            # Kept as it was: nothing to reconnect, nothing paused or switched off.
            assert not view["paused"], view
            assert view["writes_enabled"], view
            assert view["field_state"] == "installed", view
            kept = _refused_events(runtime, account.name)
            assert {attempts for attempts, _ in kept} == {0}, kept
            for _, why in kept:
                _assert_unavailable(why, kept)
            assert not _failed_writes(runtime, account.name)
            assert _to_write(runtime, account.name) == {0}  # however long: none charged
            logins = _token_answers(account)
            assert logins.get(503, 0) > 0, logins
            assert logins.keys() <= {200, 503}, logins  # never a refusal (400)

        for account in made:  # the endpoint is back
            account.faults(token_endpoint_down=False)
        for account in made:
            request_sync(cluster, account.name, "incremental")  # the operator's, or the schedule's
        for account in made:
            wait_for_sync(runtime, account.name)
        settle(runtime, made)
        findings = check(cluster, made, members, 71)
    assert not findings, _clean(findings)


def _assert_unavailable(error: object, shown: object) -> None:
    """An error naming the token endpoint as unavailable, not a grant refused."""
    text = str(error or "")
    assert "token endpoint" in text, shown
    assert "503" in text, shown
    assert "reconnect" not in text, shown
    assert "refused" not in text, shown


def _to_write(runtime: Runtime, name: str) -> set[int]:
    """The attempts charged to the connection's writes still to go."""
    with runtime.sessions() as session:
        return set(
            session.scalars(
                select(OutboxEntry.attempts)
                .join(Connection, Connection.id == OutboxEntry.connection_id)
                .where(Connection.name == name, OutboxEntry.state == OutboxState.PENDING)
            )
        )


def _next_tries(runtime: Runtime, name: str) -> tuple[datetime, datetime] | None:
    """When the first and the last of the connection's events given back after a failure are
    due again; None while none waits so, or one of them is being tried."""
    with runtime.sessions() as session:
        claimed, first, last = session.execute(
            select(
                func.count(InboxEvent.claim_token),
                func.min(InboxEvent.claimed_until),
                func.max(InboxEvent.claimed_until),
            )
            .join(Connection, Connection.id == InboxEvent.connection_id)
            .where(*_waiting_after_a_refusal(name))
        ).one()
    return None if claimed or first is None else (first, last)


def _token_answers(account: Account) -> dict[int, int]:
    """How the account's token endpoint answered: count per status."""
    with account.side.control() as control:
        calls = control.get("/stats").json()["calls"]
    route = calls.get(TOKEN_ROUTES[account.side.crm.kind], {})
    return {int(status): count for status, count in route.items()}
