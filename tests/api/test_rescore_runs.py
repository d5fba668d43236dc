"""A criteria activation's rescore is a run like any other: queued with the activation and
answered by it, taken up by a worker (or by the sweeper, its wake-up lost), shown with its
progress, followed, cancelled at a batch boundary, listed; a second activation supersedes it,
and two never run at once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.api import create_app
from app.clock import ManualClock
from app.models import Connection, Contact, SyncRun
from app.runtime import Runtime
from app.worker import jobs, rescore
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from tests.api.test_explain import ADMIN, synced
from tests.cli import Glengarry
from tests.wakers import RecordingWaker

BATCH = 40
CONTACTS = 3 * BATCH + 1  # with acme's synced one: four batches


@pytest.fixture
async def runtime(fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    rt = await synced(fresh_engine, tmp_path)
    with rt.sessions.begin() as session:
        acme = session.scalars(select(Connection).where(Connection.name == "acme")).one()
        for n in range(CONTACTS - 1):
            session.add(
                Contact(
                    connection_id=acme.id,
                    crm_id=f"r{n}",
                    email=f"r{n}@example.test",
                    properties={"jobtitle": "VP Sales" if n % 2 else "Intern"},
                )
            )
    monkeypatch.setattr(rescore, "RESCORE_BATCH", BATCH)
    return rt


def _version(n: int) -> str:
    return DEFAULT_CRITERIA_YAML.replace("B2B SaaS default", f"B2B SaaS, version {n}", 1)


def _activate(client: TestClient, n: int) -> dict[str, Any]:
    answer = client.post("/criteria/activate", json={"criteria": _version(n)}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()["rescore"]
    return body


def _running(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(SyncRun)
                .where(SyncRun.kind == "rescore", SyncRun.state.in_(["running", "cancelling"]))
            )
            or 0
        )


async def _until(task: asyncio.Task[int], runtime: Runtime, run_id: int, done: int) -> None:
    """Let the job run batch by batch (it yields at each boundary) until `done` are done."""
    for _ in range(100):
        assert not task.done(), "the rescore ended before the batch looked for"
        with runtime.sessions() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            if run.progress.get("done", 0) >= done:
                return
        await asyncio.sleep(0)
    raise AssertionError(f"rescore {run_id} never reached {done}")


async def test_an_activation_answers_its_queued_rescore_run_and_a_worker_carries_it_out(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    run = _activate(client, 1)
    assert (run["kind"], run["state"], run["connection"]) == ("rescore", "queued", None)
    assert run["progress"] == {"done": 0, "total": CONTACTS}
    assert cast(RecordingWaker, runtime.wake).rescores == 1
    # Before any worker has looked: shown, and listed among the runs.
    assert client.get(f"/syncs/{run['id']}", headers=ADMIN).json()["state"] == "queued"
    listed = client.get("/syncs?kind=rescore", headers=ADMIN).json()
    assert [(r["id"], r["state"]) for r in listed] == [(run["id"], "queued")]
    assert {r["kind"] for r in client.get("/syncs", headers=ADMIN).json()} == {
        "rescore",
        "backfill",
    }
    assert client.get("/syncs?kind=nope", headers=ADMIN).status_code == 422

    task = asyncio.ensure_future(jobs.rescore_all(runtime))
    await _until(task, runtime, run["id"], BATCH)
    midway = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert midway["state"] == "running"
    assert 0 < midway["progress"]["done"] < midway["progress"]["total"] == CONTACTS
    assert await task == CONTACTS
    ended = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert ended["state"] == "succeeded"
    assert ended["progress"] == {"done": CONTACTS, "total": CONTACTS}
    assert ended["counts"]["scored"] == CONTACTS
    with client.stream("GET", f"/syncs/{run['id']}/events", headers=ADMIN) as events:
        lines = [line for line in events.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[-1][len("data: ") :])["state"] == "succeeded"
    assert await jobs.rescore_all(runtime) == 0  # nothing queued: nothing done


async def test_a_rescore_is_cancelled_at_a_batch_boundary_keeping_what_it_did(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    run = _activate(client, 1)
    task = asyncio.ensure_future(jobs.rescore_all(runtime))
    await _until(task, runtime, run["id"], BATCH)
    asked = client.post(f"/syncs/{run['id']}/cancel", headers=ADMIN)
    assert (asked.status_code, asked.json()["state"]) == (200, "cancelling")
    assert await task == BATCH
    ended = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert ended["state"] == "cancelled"
    assert ended["progress"]["done"] == ended["counts"]["scored"] == BATCH
    assert f"the {BATCH} contacts rescored are kept" in ended["error"]
    again = client.post(f"/syncs/{run['id']}/cancel", headers=ADMIN)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "sync_ended")


async def test_a_second_activation_supersedes_the_first_rescore_never_two_at_once(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    first = _activate(client, 1)
    second = _activate(client, 2)  # before any worker: the first never starts
    shown = client.get(f"/syncs/{first['id']}", headers=ADMIN).json()
    assert shown["state"] == "cancelled"
    assert shown["error"] == f"superseded by rescore {second['id']} before it started"

    task = asyncio.ensure_future(jobs.rescore_all(runtime))
    await _until(task, runtime, second["id"], BATCH)
    third = _activate(client, 3)  # while the second runs: it stops at its next boundary
    assert client.get(f"/syncs/{second['id']}", headers=ADMIN).json()["state"] == "cancelling"
    assert client.get(f"/syncs/{third['id']}", headers=ADMIN).json()["state"] == "queued"
    # Another worker woken for the third finds the second still on: it leaves it be.
    assert await jobs.rescore_all(runtime) == 0
    while not task.done():
        assert _running(runtime) <= 1
        await asyncio.sleep(0)
    assert await task == BATCH + CONTACTS  # the same job took the third up after the second
    runs = {r["id"]: r for r in client.get("/syncs?kind=rescore", headers=ADMIN).json()}
    assert runs[second["id"]]["state"] == "cancelled"
    assert runs[second["id"]]["error"].startswith(f"superseded by rescore {third['id']}")
    assert runs[third["id"]]["state"] == "succeeded"
    active = client.get("/criteria/active", headers=ADMIN).json()["version"]
    with runtime.sessions() as session:
        done = session.get(SyncRun, third["id"])
        assert done is not None
        assert done.progress["criteria_version"] == active


async def test_the_sweeper_wakes_a_lost_rescore_and_a_worker_takes_over_a_dead_ones(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    waker = cast(RecordingWaker, runtime.wake)
    run = _activate(client, 1)
    waker.rescores = 0  # that wake-up was lost
    jobs.sweep(runtime)
    assert waker.rescores == 1
    task = asyncio.ensure_future(jobs.rescore_all(runtime))
    await _until(task, runtime, run["id"], BATCH)
    task.cancel()  # the worker's process dies between two batches
    with pytest.raises(asyncio.CancelledError):
        await task
    waker.rescores = 0
    jobs.sweep(runtime)
    assert waker.rescores == 0  # its stamp is fresh: the worker may be alive
    assert await jobs.rescore_all(runtime) == 0
    clock = cast(ManualClock, runtime.clock)
    clock.advance(timedelta(seconds=runtime.settings.lease_ttl_seconds + 1))
    jobs.sweep(runtime)
    assert waker.rescores == 1
    assert await jobs.rescore_all(runtime) == CONTACTS - BATCH  # from where it stopped
    ended = client.get(f"/syncs/{run['id']}", headers=ADMIN).json()
    assert (ended["state"], ended["progress"]["done"]) == ("succeeded", CONTACTS)


async def test_a_key_bound_to_one_connection_sees_neither_rescores_nor_others_runs(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    client = TestClient(create_app(runtime))
    run = _activate(client, 1)
    made = glengarry(
        "apikey", "create", "--name", "acme-ro", "--scope", "read", "--connection", "other"
    )
    assert made.code == 0, made.stderr
    bound = {"Authorization": f"Bearer {made.json()['key']}"}
    assert client.get("/syncs", headers=bound).json() == []
    assert client.get(f"/syncs/{run['id']}", headers=bound).status_code == 404


async def test_the_cli_activates_lists_follows_and_cancels_the_rescore(
    runtime: Runtime, glengarry: Glengarry, tmp_path: Path
) -> None:
    first, second = tmp_path / "one.yaml", tmp_path / "two.yaml"
    first.write_text(_version(1))
    second.write_text(_version(2))
    done = glengarry("criteria", "activate", str(first))
    assert done.code == 0, done.stderr
    one = done.json()["rescore"]
    assert one["state"] == "queued"
    listed = [json.loads(line) for line in glengarry("runs").stdout.splitlines()]
    assert (listed[0]["id"], listed[0]["connection"], listed[0]["kind"]) == (
        one["id"],
        None,
        "rescore",
    )
    assert {r["connection"] for r in listed} == {None, "acme"}
    only = glengarry("runs", "--kind", "rescore").stdout.splitlines()
    assert [json.loads(line)["id"] for line in only] == [one["id"]]
    assert glengarry("runs", "acme", "--kind", "rescore").stdout == ""
    cancelled = glengarry("cancel", str(one["id"]))
    assert (cancelled.code, cancelled.json()["state"]) == (0, "cancelled")

    two = glengarry("criteria", "activate", str(second)).json()["rescore"]
    assert await jobs.rescore_all(runtime) == CONTACTS
    followed = glengarry("runs", "--follow", str(two["id"]))
    assert followed.code == 0, followed.stderr
    ended = followed.json()
    assert (ended["run"], ended["kind"], ended["state"]) == (two["id"], "rescore", "succeeded")
    assert ended["scored"] == CONTACTS
    assert glengarry("runs", "--follow", "999999").code == 2
