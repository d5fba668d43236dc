"""A criteria dry run: what activating a candidate would change, nothing written; a broken
candidate is a 422 naming each problem's key path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.api import create_app
from app.models import AuditEntry, CriteriaVersion, QualificationRecord, Transition
from app.runtime import Runtime
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from tests.api.test_explain import ADMIN, synced
from tests.cli import Glengarry
from tests.wakers import RecordingWaker


@pytest.fixture
async def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return await synced(fresh_engine, tmp_path)


# The default criteria, with acme.test a competitor's domain: its contact would be disqualified.
CANDIDATE = DEFAULT_CRITERIA_YAML.replace(
    "in: [rivalscore.io, leadlynx.com, qualifyhq.com]", "in: [acme.test]"
)


def _unchanged(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(CriteriaVersion)) or 0,
            session.scalar(select(func.count()).select_from(Transition)) or 0,
            len(session.scalars(select(QualificationRecord.status)).all()),
        )


def test_a_dry_run_counts_the_changes_with_examples_and_writes_nothing(
    runtime: Runtime,
) -> None:
    assert CANDIDATE != DEFAULT_CRITERIA_YAML
    client = TestClient(create_app(runtime))
    before = _unchanged(runtime)
    status = client.get("/connections/acme/contacts/501/qualification", headers=ADMIN).json()[
        "qualification"
    ]["status"]
    answer = client.post("/criteria/dry-run", json={"criteria": CANDIDATE}, headers=ADMIN)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["scored"], body["would_change"]) == (1, 1)
    (change,) = body["changes"]
    assert (change["from"], change["to"], change["count"]) == (status, "disqualified", 1)
    assert change["examples"][0]["crm_id"] == "501"
    assert "competitor" in change["examples"][0]["reasons"]
    assert body["active_version"] != body["version"]
    assert _unchanged(runtime) == before
    same = client.post(
        "/criteria/dry-run", json={"criteria": DEFAULT_CRITERIA_YAML}, headers=ADMIN
    ).json()
    assert (same["would_change"], same["changes"]) == (0, [])


def test_a_broken_candidate_names_each_problem_by_its_key_path(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    broken = DEFAULT_CRITERIA_YAML.replace("points: 30", "points: lots", 1)
    answer = client.post("/criteria/dry-run", json={"criteria": broken}, headers=ADMIN)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_criteria"
    assert "fit[0].points" in [p["path"] for p in error["details"]]
    strict = client.post("/criteria/dry-run", json={"criteria": "x", "extra": 1}, headers=ADMIN)
    assert strict.status_code == 422


def test_a_dry_run_needs_an_admin_key(runtime: Runtime, glengarry: Glengarry) -> None:
    client = TestClient(create_app(runtime))
    made = glengarry("apikey", "create", "--name", "op", "--scope", "operate")
    operate = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (
        client.post("/criteria/dry-run", json={"criteria": CANDIDATE}, headers=operate).status_code
        == 403
    )
    assert client.get("/criteria/active", headers=operate).json()["version"]


def test_the_cli_dry_run_says_the_same(
    runtime: Runtime,
    glengarry: Glengarry,
    tmp_path: Path,
) -> None:
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(CANDIDATE)
    done = glengarry("criteria", "dry-run", str(candidate))
    assert done.code == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["would_change"] == 1
    assert body["changes"][0]["to"] == "disqualified"


def test_a_version_is_activated_listed_and_diffed(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    before = client.get("/criteria/active", headers=ADMIN).json()["version"]
    done = client.post("/criteria/activate", json={"criteria": CANDIDATE}, headers=ADMIN)
    assert done.status_code == 200
    rescore = done.json()["rescore"]
    assert (done.json()["activated"], rescore["state"], rescore["kind"]) == (
        True,
        "queued",
        "rescore",
    )
    assert cast(RecordingWaker, runtime.wake).rescores == 1
    again = client.post("/criteria/activate", json={"criteria": CANDIDATE}, headers=ADMIN).json()
    assert (again["activated"], again["rescore"]) == (False, None)
    assert cast(RecordingWaker, runtime.wake).rescores == 1
    versions = client.get("/criteria/versions", headers=ADMIN).json()
    assert [(v["version"], v["active"]) for v in versions] == [
        (done.json()["version"], True),
        (before, False),
    ]
    assert versions[0]["activated_by"] == "GLENGARRY_API_TOKEN"
    diff = client.get(
        f"/criteria/diff?a={before[:12]}&b={done.json()['version']}", headers=ADMIN
    ).json()
    assert "-    condition: {property: email_domain, in: [rivalscore.io" in diff["diff"]
    assert "+    condition: {property: email_domain, in: [acme.test]}" in diff["diff"]
    assert client.get("/criteria/diff?a=ffff&b=0000", headers=ADMIN).status_code == 404
    broken = client.post("/criteria/activate", json={"criteria": "name: x"}, headers=ADMIN)
    assert broken.status_code == 422
    assert broken.json()["error"]["details"]


def test_the_cli_diffs_two_stored_versions(
    runtime: Runtime, glengarry: Glengarry, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(CANDIDATE)
    before = TestClient(create_app(runtime)).get("/criteria/active", headers=ADMIN).json()
    activated = glengarry("criteria", "activate", str(candidate))
    assert activated.code == 0, activated.stderr
    after = json.loads(activated.stdout)["version"]
    done = glengarry("criteria", "diff", before["version"][:10], after)
    assert done.code == 0, done.stderr
    assert "+    condition: {property: email_domain, in: [acme.test]}" in done.stdout
    assert "none stored" in glengarry("criteria", "diff", "ffff", after).stderr
    with runtime.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.target) == ("criteria.activate", after)
    assert entry.actor.startswith("cli:")


def test_a_version_is_uploaded_without_activating_it_then_diffed_and_activated(
    runtime: Runtime,
) -> None:
    client = TestClient(create_app(runtime))
    active = client.get("/criteria/active", headers=ADMIN).json()["version"]
    uploaded = client.post("/criteria/versions", json={"criteria": CANDIDATE}, headers=ADMIN)
    assert uploaded.status_code == 201
    version = uploaded.json()["version"]
    assert (uploaded.json()["active"], uploaded.json()["activated_at"]) == (False, None)
    assert client.get("/criteria/active", headers=ADMIN).json()["version"] == active
    assert cast(RecordingWaker, runtime.wake).rescores == 0  # nothing rescored
    again = client.post("/criteria/versions", json={"criteria": CANDIDATE}, headers=ADMIN)
    assert (again.status_code, again.json()["version"]) == (200, version)
    listed = client.get("/criteria/versions", headers=ADMIN).json()
    assert [(v["version"], v["active"]) for v in listed] == [(version, False), (active, True)]
    diff = client.get(f"/criteria/diff?a={active}&b={version[:10]}", headers=ADMIN).json()
    assert "+    condition: {property: email_domain, in: [acme.test]}" in diff["diff"]
    done = client.post("/criteria/activate", json={"criteria": CANDIDATE}, headers=ADMIN)
    assert (done.json()["version"], done.json()["activated"]) == (version, True)
    broken = client.post(
        "/criteria/versions", json={"criteria": "name: x\nthresholds: {fit: lots}\n"}, headers=ADMIN
    )
    assert broken.status_code == 422
    assert any(d["path"].startswith("thresholds") for d in broken.json()["error"]["details"])
    with runtime.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["criteria.upload", "criteria.activate"]  # once: the second was stored
