"""Reading a Salesforce org's Leads and Contacts: Bulk API 2.0 against REST query pages of
2,000, side by side in one run, against the sandbox at a given latency.

    .venv/bin/python bench/bench_salesforce_bulk.py                        # 20,000 records, 100 ms
    .venv/bin/python bench/bench_salesforce_bulk.py --records 1000000      # the issue's figure

The sandbox runs in its own process, seeded directly with `--records` records (four Leads for
each Contact, a Contact's Account one per five Contacts), at `--latency-ms` per call. Each
reader runs in a process of its own, so the peak RSS printed is the reader's alone; the calls
are those the sandbox counted for it. Both read the same two statements through `queryAll`
(the fields a backfill reads, a Contact's Account fields through the relationship):

- bulk: `connectors.salesforce.bulk.BulkReader` (describe for the types, one job per object,
  polled from 0.5 s with backoff, pages of `--max-records` rows, typed rows);
- rest: plain httpx on `queryAll` with `Sforce-Query-Options: batchSize=2000`, following
  `nextRecordsUrl`.

The sandbox finishes a job on its second look, so the Bulk wall time holds the polling schedule
(0.5 s + 1 s per job), not the minutes a real org may take to run a large job.

    .venv/bin/python bench/bench_salesforce_bulk.py --connector --sizes 10000,50000,200000

measures the connector's own backfill instead (`SalesforceConnector.contacts(None)`, what a
first sync runs: the deleted log, describes, a `SELECT COUNT()` per object, the listing, the
won-Opportunity reads and the mapping into ContactBatches), once forced through REST and once
through Bulk by its `bulk_threshold` (the same switch the app's setting drives), one sandbox per
size, and says which way the default threshold (50,000) sends each object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = "/services/data/v62.0"
LEAD_FIELDS = (
    "Id, IsDeleted, FirstName, LastName, Email, Title, Company, Industry, NumberOfEmployees, "
    "Country, LeadSource, Status, HasOptedOutOfEmail, IsConverted, ConvertedContactId, "
    "MasterRecordId, CreatedDate, LastModifiedDate, SystemModstamp"
)
CRITERIA = ("jobtitle", "industry", "numemployees", "country", "email", "hs_email_optout")
DEFAULT_THRESHOLD = 50_000
CONTACT_FIELDS = (
    "Id, IsDeleted, FirstName, LastName, Email, Title, MailingCountry, HasOptedOutOfEmail, "
    "AccountId, Account.Name, Account.Industry, Account.NumberOfEmployees, Account.Type, "
    "Account.BillingCountry, MasterRecordId, CreatedDate, LastModifiedDate, SystemModstamp"
)
STATEMENTS = (f"SELECT {LEAD_FIELDS} FROM Lead", f"SELECT {CONTACT_FIELDS} FROM Contact")
INDUSTRIES = ("Banking", "Technology", "Retail", "Healthcare", "Manufacturing", "Other")
TITLES = ("VP Marketing", "Head of Sales, EMEA", 'Director "Growth"', "Analyst", None)


# -- the sandbox process --------------------------------------------------------------------


def _serve(records: int, latency_ms: int, cert_dir: str) -> None:
    from connectors.salesforce.sandbox import SandboxConfig, SandboxServer

    config = SandboxConfig(
        cert_dir=Path(cert_dir), latency_ms=latency_ms, daily_api_limit=10_000_000
    )
    server = SandboxServer(config, members=[])
    store = server.store
    start = datetime.now(UTC) - timedelta(days=365)
    contacts = records // 5
    account = None
    for number in range(records - contacts):
        store.create(
            "Lead",
            {
                "FirstName": f"First{number}",
                "LastName": f"Last{number}",
                "Email": f"lead{number}@example{number % 97}.com",
                "Title": TITLES[number % len(TITLES)],
                "Company": f"Company {number % 5000}, Inc.",
                "Industry": INDUSTRIES[number % len(INDUSTRIES)],
                "NumberOfEmployees": (number % 40) * 25 or None,
                "Country": "Germany" if number % 3 else "France",
                "LeadSource": "Web",
            },
            at=start + timedelta(seconds=number * 10),
        )
    for number in range(contacts):
        if number % 5 == 0:
            account = store.create(
                "Account",
                {
                    "Name": f"Account {number // 5}",
                    "Industry": INDUSTRIES[number % len(INDUSTRIES)],
                    "NumberOfEmployees": 100 + number % 900,
                    "Type": "Customer - Direct" if number % 2 else "Prospect",
                    "BillingCountry": "Spain",
                },
            )
        store.create(
            "Contact",
            {
                "FirstName": f"First{number}",
                "LastName": f"Contact{number}",
                "Email": f"contact{number}@example{number % 89}.com",
                "Title": TITLES[number % len(TITLES)],
                "AccountId": account.id if account is not None else None,
                "MailingCountry": "Spain",
            },
            at=start + timedelta(seconds=number * 10),
        )
    server.start()
    print(server.instance_url, flush=True)
    try:
        sys.stdin.read()  # until the bench closes our stdin
    finally:
        server.stop()


# -- the reader processes -------------------------------------------------------------------


async def _client(instance_url: str, cert_dir: str) -> httpx.AsyncClient:
    credentials = json.loads((Path(cert_dir) / "credentials.json").read_text())
    trust = ssl.create_default_context(cafile=str(Path(cert_dir) / "ca.pem"))
    http = httpx.AsyncClient(base_url=instance_url, verify=trust, timeout=600)
    token = await http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return http


async def _read_bulk(http: httpx.AsyncClient, max_records: int) -> int:
    from connectors.salesforce.bulk import BulkReader

    async def send(
        method: str, path: str, *, endpoint: str, json: Any = None, params: Any = None
    ) -> httpx.Response:
        return await http.request(method, path, json=json, params=params)

    async def describe(sobject: str, prefix: str = "") -> dict[str, str]:
        body = (await http.get(f"{DATA}/sobjects/{sobject}/describe")).json()
        return {prefix + field["name"]: field["type"] for field in body["fields"]}

    types = await describe("Lead") | await describe("Contact")
    types |= await describe("Account", "Account.")
    reader = BulkReader(send, max_records=max_records)
    rows = 0
    for soql in STATEMENTS:
        async with reader.query(soql, types, include_deleted=True) as query:
            async for _row in query:
                rows += 1
    return rows


async def _read_rest(http: httpx.AsyncClient) -> int:
    rows = 0
    headers = {"Sforce-Query-Options": "batchSize=2000"}
    for soql in STATEMENTS:
        body = (await http.get(f"{DATA}/queryAll", params={"q": soql}, headers=headers)).json()
        rows += len(body["records"])
        while not body["done"]:
            body = (await http.get(body["nextRecordsUrl"], headers=headers)).json()
            rows += len(body["records"])
    return rows


async def _child(mode: str, instance_url: str, cert_dir: str, max_records: int) -> dict[str, Any]:
    http = await _client(instance_url, cert_dir)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    try:
        rows = await (_read_bulk(http, max_records) if mode == "bulk" else _read_rest(http))
    finally:
        await http.aclose()
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "start_rss_mb": start_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def _backfill(instance_url: str, cert_dir: str, threshold: int, max_records: int) -> int:
    """The connector's first sync, to the end: the contacts handed out."""
    from connectors.salesforce import (
        ClientCredentials,
        SalesforceConnector,
        SalesforceLogin,
        SalesforceOptions,
    )

    credentials = json.loads((Path(cert_dir) / "credentials.json").read_text())
    ca = str(Path(cert_dir) / "ca.pem")
    login = SalesforceLogin(
        ClientCredentials(credentials["client_id"], credentials["client_secret"]),
        instance_url=instance_url,
        now=lambda: datetime.now(UTC),
        ca_bundle=ca,
    )
    options = SalesforceOptions(
        instance_url=instance_url,
        ca_bundle=ca,
        properties=CRITERIA,
        bulk_threshold=threshold,
        bulk_max_records=max_records,
        timeout_seconds=600,
    )
    sf = SalesforceConnector(options, login, account="bench")
    contacts = 0
    try:
        async for batch in sf.contacts(None):
            contacts += len(batch.contacts)
    finally:
        await sf.aclose()
    return contacts


async def _child_connector(
    mode: str, instance_url: str, cert_dir: str, max_records: int
) -> dict[str, Any]:
    threshold = 0 if mode == "connector-bulk" else 10**12
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows = await _backfill(instance_url, cert_dir, threshold, max_records)
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "start_rss_mb": start_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- the bench ------------------------------------------------------------------------------


def _calls(control: httpx.Client) -> dict[str, int]:
    calls = control.get("/_sandbox/stats").json()["calls"]
    return {
        route: sum(statuses.values())
        for route, statuses in calls.items()
        if "oauth2" not in route  # logging in is not part of the read
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--max-records", type=int, default=50_000, help="Bulk page size")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--connector", action="store_true", help="the connector's backfill, REST and Bulk"
    )
    parser.add_argument(
        "--sizes", default="10000,50000,200000", help="with --connector: records per org"
    )
    parser.add_argument(
        "--child",
        choices=["bulk", "rest", "connector-bulk", "connector-rest"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--instance-url", help=argparse.SUPPRESS)
    parser.add_argument("--cert-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.records, args.latency_ms, args.cert_dir)
        return
    if args.child:
        child = _child_connector if args.child.startswith("connector") else _child
        result = asyncio.run(child(args.child, args.instance_url, args.cert_dir, args.max_records))
        print(json.dumps(result))
        return
    if args.connector:
        rows = [_one_org(int(size), args, ("connector-bulk", "connector-rest")) for size in
                args.sizes.split(",")]  # fmt: skip
        _report_sizes(rows, args.max_records, args.latency_ms)
        return
    _report(_one_org(args.records, args, ("bulk", "rest")), args.max_records)


def _one_org(records: int, args: argparse.Namespace, modes: tuple[str, str]) -> dict[str, Any]:
    """One sandbox of `records`, each mode read from it in a process of its own."""
    with tempfile.TemporaryDirectory() as cert_dir:
        seeding = time.perf_counter()
        sandbox = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--records", str(records),
             "--latency-ms", str(args.latency_ms), "--cert-dir", cert_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert sandbox.stdout is not None
        assert sandbox.stdin is not None
        instance_url = sandbox.stdout.readline().strip()
        print(
            f"sandbox: {records:,} records ({records - records // 5:,} Leads, "
            f"{records // 5:,} Contacts), latency {args.latency_ms} ms, seeded and started "
            f"in {time.perf_counter() - seeding:.1f} s",
            flush=True,
        )
        results: dict[str, dict[str, Any]] = {}
        trust = ssl.create_default_context(cafile=str(Path(cert_dir) / "ca.pem"))
        try:
            with httpx.Client(base_url=instance_url, verify=trust, timeout=60) as control:
                for mode in modes:
                    control.post("/_sandbox/stats/reset")
                    child = subprocess.run(
                        [sys.executable, __file__, "--child", mode, "--instance-url",
                         instance_url, "--cert-dir", cert_dir,
                         "--max-records", str(args.max_records)],
                        capture_output=True, text=True, check=True, cwd=ROOT,
                    )  # fmt: skip
                    name = mode.removeprefix("connector-")
                    results[name] = json.loads(child.stdout.strip().splitlines()[-1])
                    results[name]["calls"] = _calls(control)
        finally:
            sandbox.stdin.close()
            sandbox.wait()
    results["records"] = {"rows": records}
    return results


def _report_sizes(rows: list[dict[str, Any]], max_records: int, latency_ms: int) -> None:
    print(
        f"\nthe connector's backfill at {latency_ms} ms (Bulk pages of {max_records:,}); "
        f"the default threshold {DEFAULT_THRESHOLD:,} sends an object of more records to Bulk"
    )
    print(
        "| records | contacts handed out | wall time bulk / rest | ratio | API calls bulk / rest "
        "| peak RSS bulk / rest | default threshold: Leads, Contacts |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for result in rows:
        bulk, rest, records = result["bulk"], result["rest"], result["records"]["rows"]
        calls = {mode: sum(result[mode]["calls"].values()) for mode in ("bulk", "rest")}
        leads, contacts = records - records // 5, records // 5
        picks = ", ".join(
            "Bulk" if count > DEFAULT_THRESHOLD else "REST" for count in (leads, contacts)
        )
        print(
            f"| {records:,} | {bulk['rows']:,} / {rest['rows']:,} "
            f"| {bulk['seconds']:.1f} s / {rest['seconds']:.1f} s "
            f"| {bulk['seconds'] / rest['seconds']:.2f}x | {calls['bulk']:,} / {calls['rest']:,} "
            f"| {bulk['peak_rss_mb']:.0f} MB / {rest['peak_rss_mb']:.0f} MB | {picks} |"
        )
    for result in rows:
        print(f"\n{result['records']['rows']:,} records, calls by route:")
        for mode in ("bulk", "rest"):
            for route, count in sorted(result[mode]["calls"].items()):
                print(f"  {mode:>4} {count:>7,}  {route}")


def _report(results: dict[str, dict[str, Any]], max_records: int) -> None:
    bulk, rest = results["bulk"], results["rest"]
    total = {mode: sum(r["calls"].values()) for mode, r in results.items()}
    print(f"\n| figure | Bulk API 2.0 (pages of {max_records:,}) | REST (pages of 2,000) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| records read | {bulk['rows']:,} | {rest['rows']:,} | |")
    print(
        f"| wall time | {bulk['seconds']:.1f} s | {rest['seconds']:.1f} s | "
        f"{bulk['seconds'] / rest['seconds']:.2f}x |"
    )
    print(f"| API calls | {total['bulk']:,} | {total['rest']:,} | "
          f"{total['bulk'] / total['rest']:.2f}x |")  # fmt: skip
    print(
        f"| peak RSS of the reader | {bulk['peak_rss_mb']:.0f} MB | {rest['peak_rss_mb']:.0f} MB "
        f"| {bulk['peak_rss_mb'] / rest['peak_rss_mb']:.2f}x |"
    )
    print(
        f"(each reader's process held {bulk['start_rss_mb']:.0f} MB / "
        f"{rest['start_rss_mb']:.0f} MB before reading)"
    )
    for mode in ("bulk", "rest"):
        print(f"\n{mode} calls by route:")
        for route, count in sorted(results[mode]["calls"].items()):
            print(f"  {count:>7,}  {route}")


if __name__ == "__main__":
    main()
