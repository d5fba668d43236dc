"""Private PostgreSQL and Redis servers for the scaled set-up, each on its own port, so that a
test can restart them (`restart -m immediate`, a Redis that forgets its queue) without touching
the machine's own services. Both are removed when the harness stops."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_ROOT = Path("/etc/postgresql")
CLUSTER_PREFIX = "glh"  # glh<pid>x<n>: a crashed run's clusters are found by their dead pid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(condition: Callable[[], object], what: str, seconds: float) -> None:
    """Poll `condition()` until it is true, or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened within {seconds:.0f} s: {what}")
        time.sleep(0.1)  # polling the condition, with a deadline


def _run(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def postgres_available() -> str | None:
    """Why a private PostgreSQL cluster cannot be made here, or None when it can."""
    if shutil.which("pg_createcluster") is None or not PG_ROOT.is_dir():
        return "pg_createcluster (Debian's postgresql-common) is not installed"
    if os.geteuid() != 0:
        return "making a PostgreSQL cluster needs root (pg_createcluster)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class PrivatePostgres:
    version: str
    name: str
    port: int
    database: str = "glengarry"

    @classmethod
    def create(cls, number: int = 0) -> PrivatePostgres:
        version = sorted(p.name for p in PG_ROOT.iterdir() if p.name.isdigit())[-1]
        cls.remove_orphans(version)
        made = cls(version, f"{CLUSTER_PREFIX}{os.getpid()}x{number}", free_port())
        # fsync off: an immediate restart kills the server, not the machine, so the operating
        # system's cache keeps every write; synchronous_commit stays on, a commit is durable.
        _run(
            "pg_createcluster", made.version, made.name, "-p", str(made.port),
            "-o", "fsync=off", "-o", "max_connections=200",
            "--", "--auth=trust", "--no-sync",
        )  # fmt: skip
        try:
            made.start()
            with psycopg.connect(made.admin_url, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{made.database}"')
        except BaseException:
            made.drop()
            raise
        return made

    @staticmethod
    def remove_orphans(version: str) -> None:
        """Clusters left by a harness process that is gone (killed before it cleaned up)."""
        folder = PG_ROOT / version
        for path in folder.iterdir():
            found = re.fullmatch(rf"{CLUSTER_PREFIX}(\d+)x\d+", path.name)
            if found and not _pid_alive(int(found.group(1))):
                subprocess.run(
                    ["pg_dropcluster", "--stop", version, path.name],
                    capture_output=True,
                    check=False,
                )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _ctl(self, *args: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *args)

    def start(self) -> None:
        self._ctl("start")
        until(self.answers, f"PostgreSQL {self.name} answers", 60)

    def restart(self) -> None:
        """An immediate restart: every connection cut, recovery from the WAL on start."""
        self._ctl("restart", "-m", "immediate")
        until(self.answers, f"PostgreSQL {self.name} answers again", 60)

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name],
            capture_output=True,
            check=False,
            timeout=120,
        )


class PrivateRedis:
    """A `redis-server` that keeps nothing on disk: a restart loses every queued task."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        until(self.answers, "the private Redis answers", 30)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=30)
            self._process = None

    def restart(self) -> None:
        """Killed and started again on the same port: whatever was queued is gone."""
        self.stop()
        self.start()
