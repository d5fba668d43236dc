"""Replays what the Docker image does, without a Docker engine.

Builds the wheel, installs it into a clean virtualenv (as the image's second stage does), runs the
image's CMD with the image's environment, and polls the image's HEALTHCHECK command until it
passes. The commands are read from the Dockerfile itself, so the test follows the image.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _instruction(dockerfile: str, name: str) -> list[str]:
    """Every occurrence of an instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return [
        line[len(name) :].strip() for line in joined.splitlines() if line.startswith(name + " ")
    ]


def _runtime_stage(dockerfile: str) -> str:
    return dockerfile.split("\nFROM ")[-1]


def _image_env(stage: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for spec in _instruction(stage, "ENV"):
        for pair in shlex.split(spec):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A whole install of the wheel and its dependencies into a new venv: over two minutes when four
# test passes share two cores (seen in a run with another `make test` beside it).
@pytest.mark.timeout(480)
def test_wheel_installs_into_a_clean_venv_and_the_image_command_passes_its_health_check(
    tmp_path: Path,
) -> None:
    stage = _runtime_stage((ROOT / "Dockerfile").read_text())
    (cmd,) = _instruction(stage, "CMD")
    (healthcheck,) = _instruction(stage, "HEALTHCHECK")
    health_cmd = json.loads(healthcheck.split(" CMD ", 1)[1])
    (user,) = _instruction(stage, "USER")
    assert user not in ("root", "0")

    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("glengarry-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True
    )

    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    env = {
        "PATH": f"{target / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        **_image_env(stage),
    }
    env.update(GLENGARRY_DATA_DIR=str(data), GLENGARRY_PORT=str(port))
    # The image puts its venv first on PATH; here that venv is the clean one just built.
    env["PATH"] = env["PATH"].replace("/opt/venv", str(target)).replace("$PATH", os.environ["PATH"])
    env["GLENGARRY_HOST"] = "127.0.0.1"  # the image listens on 0.0.0.0; a test needs no more

    server = subprocess.Popen(
        json.loads(cmd), cwd=data, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 150  # a cold start with migrations, on a loaded machine
        healthy = False
        while time.monotonic() < deadline and server.poll() is None:
            check = subprocess.run(health_cmd, env=env, cwd=data, capture_output=True)
            if check.returncode == 0:
                healthy = True
                break
            time.sleep(0.2)  # polling the health check, as Docker does, until the deadline
        assert healthy, server.stderr.read().decode() if server.poll() is not None else "timeout"
        # The first start created the embedded database and the generated key in the data dir.
        assert (data / "glengarry.db").exists()
        assert oct((data / "secret.key").stat().st_mode & 0o777) == "0o600"
    finally:
        server.terminate()
        server.wait(timeout=15)
