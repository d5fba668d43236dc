"""`ServerThread`: a sandbox app served by uvicorn in a daemon thread, over HTTP or HTTPS.

`start()` returns once the health route answers (polled against a deadline); `stop()` asks
uvicorn to exit and joins the thread.
"""

from __future__ import annotations

import signal
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp


class SandboxError(RuntimeError):
    """The sandbox could not start."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The server's certificate chain and key, and the CA that clients must trust."""

    cert_chain: Path
    private_key: Path
    ca: Path


class ServerThread:
    def __init__(
        self,
        app: ASGIApp,
        *,
        label: str,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        health_path: str = "/_sandbox/health",
        startup_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.label = label  # "the HubSpot sandbox", in errors
        self.host = host
        self.wanted_port = port
        self.tls = tls
        self.health_path = health_path
        self.startup_timeout = startup_timeout
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> int:
        """Serve; the port once the health route answers (SandboxError if it does not)."""
        tls = self.tls
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=self.host,
                port=self.wanted_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
                ssl_certfile=str(tls.cert_chain) if tls else None,
                ssl_keyfile=str(tls.private_key) if tls else None,
            )
        )
        self._server = server
        self._thread = threading.Thread(target=server.run, name=self.label, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError(f"{self.label} did not start on {self.host}:{self.wanted_port}")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._wait_until_answering(deadline)
        return self.port

    def _wait_until_answering(self, deadline: float) -> None:
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else True
        )
        with httpx.Client(base_url=self.base_url, timeout=1.0, verify=verify) as http:
            while True:
                try:
                    if http.get(self.health_path).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise SandboxError(f"{self.label} at {self.base_url} does not answer")
                time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)


def wait_for_interrupt(poll_seconds: float = 0.5) -> None:
    """Block until Ctrl-C or a stop (SIGINT, SIGTERM), as a server does (uvicorn too): the
    handlers are installed here, because a shell that starts a command in the background
    without job control leaves it ignoring SIGINT. The wait has a timeout: the kernel may hand
    the signal to one of the server's threads, and only a main thread that wakes up now and
    then gets to run Python's handler."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _sig, _frame: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(poll_seconds):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
