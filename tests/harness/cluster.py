"""The scaled set-up of `docker-compose.yml`, as separate OS processes on this machine: a private
PostgreSQL cluster and Redis, `glengarry serve` processes behind a round-robin balancer (the
address the CRMs send to) and `glengarry worker` processes. Used by the reliability tests and by
`bench/bench_scaled.py`; each process's stderr goes to a log file under the harness's folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from cryptography.fernet import Fernet

from app.runtime import Runtime
from app.settings import load_settings
from tests.harness.balancer import Balancer
from tests.harness.services import PrivatePostgres, PrivateRedis, free_port, until

ADMIN_TOKEN = "harness-admin-token"
EXPECTED_TRACES = ('"event": "Error reading from queue"',)


@dataclass
class Process:
    """One `glengarry` process of the cluster."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    log: Path
    port: int  # serve: its HTTP port; worker: its metrics port
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *self.args],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def answers(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
        path = "/metrics" if self.args[0] == "worker" else "/healthz"
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5).is_success
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up, no claim given back, as when a machine dies."""
        if self.popen is not None and self.alive:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen is None or not self.alive:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)


@dataclass
class Cluster:
    """The scaled set-up; or, `embedded`, the default one: a single `serve` on SQLite in its
    data directory with the consumer in its process (no PostgreSQL, no Redis, no worker), for
    a benchmark to set beside it (still behind the balancer, so both pay the same hop)."""

    root: Path
    serves: int = 2
    workers: int = 3
    settings: dict[str, str] = field(default_factory=dict)  # GLENGARRY_* of every process
    embedded: bool = False
    postgres: PrivatePostgres | None = None
    redis: PrivateRedis | None = None
    balancer: Balancer | None = None
    processes: list[Process] = field(default_factory=list)
    secret_key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    # --- set-up -------------------------------------------------------------------------------

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.embedded and (self.serves, self.workers) != (1, 0):
            raise ValueError("the embedded default is one serve process and no worker")
        try:
            if not self.embedded:  # the embedded database migrates itself
                self.postgres = PrivatePostgres.create()
                self.redis = PrivateRedis(self.root / "redis.log")
                self.redis.start()
                self._glengarry("db", "upgrade")
            ports = [free_port() for _ in range(self.serves)]
            self.balancer = Balancer([f"http://127.0.0.1:{p}" for p in ports]).start()
            for number, port in enumerate(ports, 1):
                self._add(f"serve-{number}", ("serve", "--port", str(port)), port, {})
            for number in range(1, self.workers + 1):
                port = free_port()
                extra = {"GLENGARRY_WORKER_METRICS_PORT": str(port)}
                self._add(f"worker-{number}", ("worker",), port, extra)
            for process in self.processes:
                until(process.answers, f"{process.name} answers", 90)
        except BaseException:
            self.stop()
            raise
        return self

    def _stores(self) -> dict[str, str]:
        if self.embedded:
            return {}  # SQLite database and queue in the data directory
        assert self.postgres is not None
        assert self.redis is not None
        return {"GLENGARRY_DATABASE_URL": self.postgres.url, "GLENGARRY_QUEUE_URL": self.redis.url}

    def _env(self, **extra: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
        return {
            **clean,
            "GLENGARRY_DATA_DIR": str(self.root / "data"),
            **self._stores(),
            "GLENGARRY_SECRET_KEY": self.secret_key,
            "GLENGARRY_API_TOKEN": ADMIN_TOKEN,
            "GLENGARRY_LOG_LEVEL": "INFO",
            **self.settings,
            **extra,
        }

    def _add(self, name: str, args: tuple[str, ...], port: int, extra: dict[str, str]) -> None:
        process = Process(name, args, self._env(**extra), self.root / f"{name}.log", port)
        process.start()
        self.processes.append(process)

    def _glengarry(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode not in (0, 1):  # `verify` exits 1 on drift: the caller decides
            raise RuntimeError(f"glengarry {' '.join(args)}: {done.stderr[-3000:]}")
        return done

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A `glengarry` command on the cluster's database, as an operator runs it."""
        return self._glengarry(*args, timeout=timeout)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        if self.balancer is not None:
            self.balancer.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.drop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests use -----------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        assert self.balancer is not None
        return self.balancer.base_url

    def runtime(self) -> Runtime:
        """A runtime of the test's own, on the cluster's database and queue (to connect and
        to look at the tables; the processes do the work)."""
        env = self._env()
        settings = load_settings(
            data_dir=Path(env["GLENGARRY_DATA_DIR"]),
            database_url=env.get("GLENGARRY_DATABASE_URL"),
            queue_url=env.get("GLENGARRY_QUEUE_URL"),
            secret_key=self.secret_key,
            **{k.removeprefix("GLENGARRY_").lower(): v for k, v in self.settings.items()},
        )
        return Runtime.from_settings(settings)

    def api(self) -> httpx.Client:
        """The operations API through the balancer, with an admin key."""
        return httpx.Client(
            base_url=self.public_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        )

    def named(self, prefix: str) -> list[Process]:
        return [p for p in self.processes if p.name.startswith(prefix)]

    def caller(self, client: str) -> Process:
        """The process on this machine whose socket is `client` ("127.0.0.1:PORT"), as a
        sandbox's hold names who made a held call."""
        port = client.rpartition(":")[2]
        listed = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        pids = {int(found) for found in re.findall(r"pid=(\d+)", listed)}
        for process in self.processes:
            if process.popen is not None and process.popen.pid in pids:
                return process
        raise LookupError(f"no process of the cluster owns {client}: {listed!r}")

    def restart(self, process: Process) -> None:
        process.stop()
        process.start()
        until(process.answers, f"{process.name} answers again", 90)

    def logs(self) -> dict[str, str]:
        return {p.name: p.log.read_text(errors="replace") for p in self.processes}

    def tracebacks(self) -> dict[str, list[str]]:
        """Per process, the log lines holding a Python traceback (an unhandled error), but
        those a test causes on purpose: huey's consumer logs the queue's connection lost when
        Redis restarts (and reconnects)."""
        found: dict[str, list[str]] = {}
        for name, text in self.logs().items():
            for line in text.splitlines():
                if "Traceback" in line and not any(known in line for known in EXPECTED_TRACES):
                    found.setdefault(name, []).append(line)
        return found
