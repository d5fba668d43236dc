"""Share of calls answered 429 when several workers draw on one portal's rate-limit window.

    .venv/bin/python bench/bench_ratelimit.py                      # 2 clients, shared Redis window
    .venv/bin/python bench/bench_ratelimit.py --storage memory     # one process, one memory window
    .venv/bin/python bench/bench_ratelimit.py --headroom 0 --no-pace   # limits equal to HubSpot's

The sandbox runs in its own process with HubSpot's `pro` profile (190 calls per rolling 10 s)
and counts every answer. Each client is a process of its own (as `glengarry worker`s are), with
a limiter on the shared storage and the connector's four calls in flight; every call is
`GET /account-info/v3/details`, which carries the `X-HubSpot-RateLimit-*` headers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
GLENGARRY = str(Path(sys.executable).parent / "glengarry")


async def _client(args: argparse.Namespace) -> dict[int, int]:
    from limits.aio.storage import MemoryStorage, RedisStorage, Storage

    from connectors.http import RateLimiter, RetryPolicy, no_pacing
    from connectors.hubspot.auth import PrivateAppToken
    from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
    from connectors.hubspot.limits import AppType, buckets_for

    statuses: dict[int, int] = {}

    def count(endpoint: str, status: int) -> None:  # named as UsageRecorder's are
        statuses[status] = statuses.get(status, 0) + 1

    storage: Storage = (
        RedisStorage(f"async+{args.redis}", implementation="redispy")
        if args.storage == "redis"
        else MemoryStorage()
    )
    hubs = [
        HubSpotConnector(
            HubSpotOptions(base_url=args.child, retry=RetryPolicy(max_attempts=20)),
            PrivateAppToken("sandbox-token"),
            account=args.account,
            limiter=RateLimiter(
                buckets_for(AppType.PRIVATE_PRO, 1.0, args.headroom), storage=storage
            ),
            on_response=count,
        )
        for _ in range(args.clients if args.storage == "memory" else 1)
    ]
    if args.no_pace:
        for hub in hubs:
            hub.api._pace = no_pacing

    async def calls(hub: HubSpotConnector) -> None:
        in_flight = asyncio.Semaphore(4)

        async def one() -> None:
            async with in_flight:
                await hub.account_id()

        await asyncio.gather(*(one() for _ in range(args.calls)))

    await asyncio.gather(*(calls(hub) for hub in hubs))
    for hub in hubs:
        await hub.aclose()
    return statuses


def _sandbox() -> tuple[subprocess.Popen[str], str]:
    sandbox = subprocess.Popen(
        [GLENGARRY, "sandbox", "hubspot", "--contacts", "0", "--rate-limits", "pro"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sandbox.stdout is not None
    return sandbox, sandbox.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--calls", type=int, default=500, help="calls per client")
    parser.add_argument("--storage", choices=["redis", "memory"], default="redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--headroom", type=float, default=0.15)
    parser.add_argument("--no-pace", action="store_true", help="ignore the rate-limit headers")
    parser.add_argument("--child", metavar="BASE_URL")
    parser.add_argument("--account")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_client(args))))
        return
    sandbox, base_url = _sandbox()
    account = f"bench-{uuid.uuid4().hex[:8]}"  # a window of its own in the shared Redis
    started = time.perf_counter()
    try:
        options = [
            "--calls", str(args.calls), "--clients", str(args.clients),
            "--storage", args.storage, "--redis", args.redis,
            "--headroom", str(args.headroom), "--child", base_url, "--account", account,
        ]  # fmt: skip
        if args.no_pace:
            options.append("--no-pace")
        processes = args.clients if args.storage == "redis" else 1
        children = [
            subprocess.Popen(
                [sys.executable, __file__, *options], stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            for _ in range(processes)
        ]
        totals: dict[str, int] = {}
        for child in children:
            out, _ = child.communicate()
            for status, n in json.loads(out.strip().splitlines()[-1]).items():
                totals[status] = totals.get(status, 0) + n
        seconds = time.perf_counter() - started
        sandbox_stats = httpx.get(f"{base_url}/_sandbox/stats").json()
    finally:
        sandbox.terminate()
        sandbox.wait()
    answered = sum(totals.values())
    limited = totals.get("429", 0)
    print(
        f"{args.clients} clients x {args.calls} calls, {args.storage} window, headroom "
        f"{args.headroom:.0%}, headers {'ignored' if args.no_pace else 'followed'}: "
        f"{limited} of {answered} answers were 429 ({limited / answered:.2%}); "
        f"the sandbox counted {sandbox_stats['rate_limited']} 429s; {seconds:.1f} s "
        f"({args.clients * args.calls / seconds:.1f} calls/s, HubSpot allows 19/s)"
    )


if __name__ == "__main__":
    main()
