"""The console in Debian's chromium, driven by Playwright (`executable_path`: no browser
download), against `glengarry serve` and a HubSpot sandbox answering with 100 ms of latency.

One journey, as an admin and then a read-only user: log in, open a connection, start a full
resync and watch its bar pass an intermediate value and reach 100%, retry a reject, read a
contact's explanation, dry-run a criteria change, and read the report's charts. Each figure the
page shows is compared with what the JSON API answers for the same question. A screenshot of
each page is kept under `artifacts/console/` (or `$GLENGARRY_TEST_ARTIFACTS`)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

from app.models import Connection, Contact, OutboxEntry
from app.runtime import Runtime
from app.settings import load_settings
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.population import generate_population

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ADMIN_TOKEN = "console-browser-admin-token"
PEOPLE = 2_100  # a full resync stores them in several batches: the bar has values between
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GLENGARRY_TEST_ARTIFACTS", REPO / "artifacts")) / "console"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    return {**clean, "GLENGARRY_DATA_DIR": str(data), **extra}


def _cli(data: Path, *args: str) -> str:
    done = subprocess.run(  # our own CLI, with arguments of the test's making
        [sys.executable, "-m", "app.cli", *args],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _until(condition: Callable[[], Any], what: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)  # polling the condition, with a deadline


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SandboxServer, Path]]:
    """A sandbox with a backfilled connection `acme`, and `glengarry serve` in front of it."""
    data = tmp_path / "data"
    end = datetime.now(UTC)
    people = generate_population(PEOPLE, 5, end - timedelta(days=90), end)
    with SandboxServer(SandboxConfig(rate_limits="off"), members=people) as sandbox:
        _cli(data, "connect", "hubspot", "--name", "acme", "--base-url", sandbox.base_url,
             "--token", sandbox.config.token)  # fmt: skip
        _cli(data, "sync", "acme")  # the backfill
        port = _free_port()
        server = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=_env(data, GLENGARRY_API_TOKEN=ADMIN_TOKEN),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def up() -> bool:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            _until(up, "serve answers", 60)
            yield base, sandbox, data
        finally:
            server.terminate()
            try:
                server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.communicate()


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def get(self, path: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any) -> Any:
        answer = self.client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/connections")


def _sell(sandbox: SandboxServer, crm_id: str) -> None:
    """The CRM records a sale now: a lifecycle stage of customer, dated after `since`."""
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sandbox.store.update(
        "contacts",
        crm_id,
        {"lifecyclestage": "customer", "hs_lifecyclestage_customer_date": at},
        source="CRM_UI",
    )


def _plant_reject(data: Path) -> int:
    """A write the CRM refused for good, as the relay keeps it."""
    runtime = Runtime.from_settings(load_settings(data_dir=data))
    try:
        with runtime.sessions.begin() as session:
            connection = session.scalars(select(Connection)).one()
            contact = session.scalars(select(Contact).order_by(Contact.id).limit(1)).one()
            row = OutboxEntry(
                connection_id=connection.id,
                contact_id=contact.id,
                field_values={"glengarry_score": 42},
                state="failed",
                attempts=5,
                last_error="INVALID_OPTION: the property glengarry_score was read-only",
                last_attempt_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return row.id
    finally:
        runtime.engine.dispose()


def _outbox_state(data: Path, row_id: int) -> str:
    runtime = Runtime.from_settings(load_settings(data_dir=data))
    try:
        with runtime.sessions() as session:
            row = session.get(OutboxEntry, row_id)
            assert row is not None
            return str(row.state)
    finally:
        runtime.engine.dispose()


def _chart(page: Page, canvas: str) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        """(id) => {
             const c = Chart.getChart(id);
             const sets = c.data.datasets.map(d => ({ label: d.label, data: d.data }));
             return { labels: c.data.labels, datasets: sets }; }""",
        canvas,
    )
    return data


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 10000) / 100


def test_the_console_in_a_real_browser(served: tuple[str, SandboxServer, Path]) -> None:
    assert Path(CHROMIUM).exists(), (
        "the console test needs Debian's chromium: apt-get install chromium"
    )
    base, sandbox, data = served
    admin = Api(base, ADMIN_TOKEN)
    since = datetime.now(UTC).isoformat()
    ready = admin.get("/connections/acme/contacts", status="sales_ready", limit=5)["contacts"]
    assert ready, "the population has sales-ready contacts"
    sold = ready[0]
    _sell(sandbox, sold["crm_id"])
    reader_key = json.loads(_cli(data, "apikey", "create", "--name", "rep", "--scope", "read"))[
        "key"
    ]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)

            # Logged in, the connections and their health.
            _log_in(page, base, ADMIN_TOKEN)
            row = page.locator('tr[data-connection="acme"]')
            assert row.count() == 1
            _shot(page, "connections")

            # A full resync against a CRM answering in 100 ms: the bar moves, then is full.
            httpx.post(
                f"{sandbox.base_url}/_sandbox/faults", json={"latency_ms": 100}
            ).raise_for_status()
            page.click('tr[data-connection="acme"] a')
            page.wait_for_url(f"{base}/console/connections/acme")
            page.click('button[data-action="resync"]')
            page.wait_for_selector(".progress[data-run]")
            midway = page.wait_for_function(
                """() => { const b = document.querySelector('.progress[data-run]');
                     const done = +b.dataset.done, total = +b.dataset.total;
                     return b.dataset.state === 'running' && total > 0 && done > 0
                       && done < total
                       && { done, total, value: b.querySelector('progress').value }; }""",
                polling=50,
            ).json_value()
            assert 0 < midway["value"] < 100, midway
            assert midway["total"] == PEOPLE  # the contacts stored: the backfill's
            _shot(page, "resync-progress")
            page.wait_for_function(
                """() => { const b = document.querySelector('.progress[data-run]');
                     return b.dataset.state === 'succeeded'
                       && b.querySelector('progress').value === 100; }"""
            )
            run_id = int(page.get_attribute(".progress[data-run]", "data-run") or 0)
            finished = admin.get(f"/syncs/{run_id}")
            assert finished["state"] == "succeeded"
            assert finished["progress"]["done"] == finished["progress"]["total"] == PEOPLE
            httpx.post(
                f"{sandbox.base_url}/_sandbox/faults", json={"latency_ms": 0}
            ).raise_for_status()
            page.reload()  # the page drawn again shows the run in its history
            assert (
                page.locator('[data-testid="history"] td')
                .first.inner_text()
                .startswith(str(run_id))
            )
            _shot(page, "connection")

            # A reject, retried from its page: queued again, then written.
            reject = _plant_reject(data)
            page.goto(f"{base}/console/connections/acme/rejects")
            assert page.locator(f'tr[data-reject="{reject}"]').count() == 1
            assert "read-only" in page.locator(f'tr[data-reject="{reject}"]').inner_text()
            _shot(page, "rejects")
            page.check(f'tr[data-reject="{reject}"] input[type=checkbox]')
            page.click('button[data-action="retry"]')
            page.wait_for_selector("text=1 queued again")
            _until(lambda: _outbox_state(data, reject) == "sent", "the retried write sent")
            assert admin.get("/connections/acme/rejects") == []

            # The sold contact's explanation: the page says what the API says.
            page.goto(f"{base}/console/connections/acme/contacts?q={sold['crm_id']}")
            page.click(f'[data-testid="contacts"] a:text-is("{sold["crm_id"]}")')
            page.wait_for_selector('[data-testid="explanation"]')
            explained = admin.get(f"/contacts/{sold['id']}/qualification")["qualification"]
            assert page.inner_text('[data-testid="status"]') == explained["status"]
            assert page.inner_text('[data-testid="score"]') == str(explained["score"])
            assert page.inner_text('[data-testid="reasons"]') == explained["reasons_text"]
            shown_moves = page.locator('[data-testid="transitions"] tbody tr').count()
            assert shown_moves == len(explained["transitions"]) >= 2  # new, then the sale
            _shot(page, "contact")

            # A criteria change dry-run: the count of contacts that would change is the API's.
            page.goto(f"{base}/console/criteria")
            active = admin.get("/criteria/active")["content"]
            candidate = active.replace("engagement: 40", "engagement: 20", 1)
            assert candidate != active
            page.fill("textarea[name=criteria]", candidate)
            page.click('button[data-action="dry-run"]')
            page.wait_for_selector('[data-testid="dry-run"]')
            expected = admin.post("/criteria/dry-run", {"criteria": candidate})
            assert page.inner_text('[data-testid="would-change"]') == str(expected["would_change"])
            assert expected["would_change"] > 0
            _shot(page, "criteria")

            # The report's charts hold the numbers of the API's report for the same window.
            page.goto(f"{base}/console/connections/acme/report?since={quote(since)}")
            page.wait_for_function(
                "() => typeof Chart !== 'undefined' && Chart.getChart('chart-flows') !== undefined"
            )
            report = admin.get("/connections/acme/report", since=since)
            conversion = _chart(page, "chart-conversion")
            by_status = report["conversion_by_status"]
            assert conversion["datasets"][0]["data"] == [
                _pct(report["lift"]["all"]["rate"]),
                _pct(report["lift"]["sales_ready"]["rate"]),
                *(_pct(by_status[s]["rate"]) for s in sorted(by_status)),
            ]
            assert report["lift"]["sales_ready"]["converted"] >= 1  # the one sold
            mix = _chart(page, "chart-status-mix")
            assert mix["labels"] == [p["at"][:16].replace("T", " ") for p in report["status_mix"]]
            for dataset in mix["datasets"]:
                status = dataset["label"]
                assert dataset["data"] == [p["counts"].get(status, 0) for p in report["status_mix"]]
            statuses = {s for p in report["status_mix"] for s in p["counts"]}
            assert {d["label"] for d in mix["datasets"]} == statuses
            flows = _chart(page, "chart-flows")
            matrix = report["flows"]["matrix"]
            pairs = [(f, t) for f in sorted(matrix) for t in sorted(matrix[f])]
            assert flows["labels"] == [f"{f} → {t}" for f, t in pairs]
            assert flows["datasets"][0]["data"] == [matrix[f][t] for f, t in pairs]
            assert sum(flows["datasets"][0]["data"]) == report["flows"]["n"] >= 1
            _shot(page, "report")

            # A read key: the same pages, and no button it may not press.
            page.click("button:has-text('Log out')")
            page.wait_for_url(f"{base}/console/login")
            _log_in(page, base, reader_key)
            for path in (
                "/console/connections/acme",
                "/console/connections/acme/rejects",
                "/console/criteria",
            ):
                page.goto(f"{base}{path}")
                assert page.locator("[data-action]").count() == 0, path
                assert page.locator("textarea").count() == 0, path
            assert "rep · read" in page.inner_text('[data-testid="who"]')
            page.goto(f"{base}/console/connections/acme")
            _shot(page, "connection-read-only")
        finally:
            browser.close()
