"""``leoflow push`` against a real server: register, re-push (idempotent), refuse a bad file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_api_security_client import ADMIN, server_url

from harness.api import TEST_PASSWORD

LEOFLOW = Path(sys.executable).with_name("leoflow")

__all__ = ["server_url"]


def _dag_json(path: Path) -> Path:
    data = {
        "schema_version": "1.0",
        "dag_id": "pushed_dag",
        "source": "# pushed\n",
        "tasks": [{"task_id": "only", "type": "bash", "entrypoint": "echo hi"}],
    }
    path.write_text(json.dumps(data))
    return path


def _push(server: str, file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            LEOFLOW,
            "push",
            str(file),
            "--server",
            server,
            "--username",
            ADMIN,
            "--password",
            TEST_PASSWORD,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_push_registers_then_is_idempotent(server_url: str, tmp_path: Path) -> None:
    file = _dag_json(tmp_path / "dag.json")
    first = _push(server_url, file)
    assert first.returncode == 0, first.stderr
    assert "registered new version 1" in first.stdout
    again = _push(server_url, file)
    assert again.returncode == 0, again.stderr
    assert "already registered as version 1" in again.stdout


def test_push_refuses_an_invalid_file_before_sending(server_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "dag.json"
    bad.write_text(json.dumps({"schema_version": "1.0", "dag_id": "x", "tasks": [], "bogus": 1}))
    result = _push(server_url, bad)
    assert result.returncode == 1
    assert "not a valid dag.json" in result.stderr and "bogus" in result.stderr
