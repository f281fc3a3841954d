"""The quick start as a user runs it: the ``leoflow`` console script and ``leoflow lite``.

Starts the real command in a subprocess with a temporary HOME, so it provisions its own
embedded PostgreSQL, migrates it, serves the API, and stops the database when asked to stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from leoflow import __version__

LEOFLOW = Path(sys.executable).with_name("leoflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env["HOME"] = str(home)
    return env


def test_version_and_help() -> None:
    out = subprocess.run([LEOFLOW, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"leoflow {__version__}"
    helptext = subprocess.run([LEOFLOW, "--help"], capture_output=True, text=True, check=True)
    for command in ("lite", "db"):
        assert command in helptext.stdout


def test_lite_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    out = subprocess.run(
        [LEOFLOW, "lite", "--host", "0.0.0.0", "--no-login"],
        check=False,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 2
    assert "loopback" in out.stderr


def _wait_healthy(url: str, proc: subprocess.Popen[str], deadline: float) -> httpx.Response:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"leoflow lite exited early with {proc.returncode}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("leoflow lite did not answer in time")


def test_lite_starts_with_embedded_postgres_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [LEOFLOW, "lite", "--port", str(port), "--no-ui", str(tmp_path / "ws")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp_path),
    )
    try:
        health = _wait_healthy(
            f"http://127.0.0.1:{port}/api/v2/monitor/health", proc, time.monotonic() + 90
        )
        assert health.status_code == 200
        assert health.json()["metadatabase"] == {"status": "healthy"}
        version = httpx.get(f"http://127.0.0.1:{port}/api/v2/version").json()
        assert version["version"] == __version__
        assert (tmp_path / ".leoflow" / "pgdata" / "PG_VERSION").is_file()
        assert (tmp_path / "ws").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Leoflow Lite" in output and "embedded PostgreSQL" in output
    # The embedded server was stopped with Lite: its pid file is gone.
    assert not (tmp_path / ".leoflow" / "pgdata" / "postmaster.pid").exists()
