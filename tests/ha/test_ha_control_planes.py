"""High availability: two ``leoflow server`` processes on one PostgreSQL and one Redis.

Both replicas serve the API and the agent port; one leads. The test registers a chain of bash
tasks through the API, triggers it, kills the leader (SIGKILL) in the middle of the run, and
checks that the other replica takes over and the run succeeds with no try of any task executed
twice. Every task appends ``task_id try_number`` to a marker file from inside user code, so the
file is the ground truth of what actually ran.

Agents run as local processes (the subprocess executor): no Kubernetes API server exists on
this machine, and the hand-over logic under test is the same for both executors.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

LEOFLOW = Path(sys.executable).with_name("leoflow")
VENV_CACHE = Path("/var/tmp/leoflow-test-venvs")
ADMIN_PASSWORD = "ha-admin-password"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dag(dag_id: str, marker: Path, length: int) -> dict[str, Any]:
    tasks = []
    for i in range(length):
        task_id = f"step{i}"
        tasks.append(
            {
                "task_id": task_id,
                "type": "bash",
                "entrypoint": (
                    f"echo {task_id} {{{{ ti.try_number }}}} >> {marker} && sleep 1.5 && "
                    f"echo done {task_id}"
                ),
                "depends_on": [f"step{i - 1}"] if i else [],
                "retries": 2,
                "retry_delay_seconds": 0,
            }
        )
    return {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "source": "# registered by the HA test\n",
        "tasks": tasks,
    }


class Replica:
    """One ``leoflow server`` process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self._fh = log.open("w")
        self.proc = subprocess.Popen(
            [LEOFLOW, "server", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**env, "LEOFLOW_GRPC_PORT": str(_free_port())},
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"replica exited early: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"replica not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


def _agents_of(dag_id: str) -> list[int]:
    """Agent processes of this test's DAG (orphans of the killed replica), by their env."""
    needle = f"LEOFLOW_TI_DAG_ID={dag_id}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def ha_env(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    home.mkdir()
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    (home / "venvs").symlink_to(VENV_CACHE)  # per-DAG venvs are keyed by their inputs
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(
        {
            "LEOFLOW_EDITION": "pro",
            "LEOFLOW_EXECUTOR": "subprocess",
            "LEOFLOW_HOME": str(home),
            "LEOFLOW_DATABASE_URL": database_url,
            "LEOFLOW_REDIS_URL": redis_url,
            "LEOFLOW_JWT_SECRET": "ha-test-signing-secret-0123456789abcdef",
            "LEOFLOW_ADMIN_USERNAME": "admin",
            "LEOFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LEOFLOW_AGENT_ALLOW_INSECURE_SECRETS": "true",
            "LEOFLOW_DAGS_ARE_PAUSED_AT_CREATION": "false",
            "LEOFLOW_SCHEDULER_TICK_SECONDS": "0.2",
            "LEOFLOW_SCHEDULER_FOLLOWER_RETRY_SECONDS": "0.3",
            "LEOFLOW_LEADER_WATCHDOG_INTERVAL_SECONDS": "0.3",
            "LEOFLOW_HEARTBEAT_TIMEOUT_SECONDS": "4",
            "LEOFLOW_REAPER_GRACE_SECONDS": "4",
            "LEOFLOW_DISPATCH_LOST_TIMEOUT_SECONDS": "4",
            "LEOFLOW_LOG_FORMAT": "json",
        }
    )
    yield env


def _leader_pid(database_url: str) -> int | None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT pid FROM scheduler_heartbeats WHERE is_leader "
            "AND heartbeat_at > now() - interval '3 seconds' ORDER BY heartbeat_at DESC LIMIT 1"
        ).fetchone()
    return int(row[0]) if row else None


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_killing_the_leader_mid_dag_completes_without_duplicate_execution(
    ha_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    dag_id = f"ha_chain_{os.getpid()}"
    marker = tmp_path / "executed.txt"
    marker.touch()
    replicas = [Replica(ha_env, tmp_path / f"replica{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 120
        for replica in replicas:
            replica.wait_ready(deadline)
        api = replicas[0].url
        token = httpx.post(
            f"{api}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        pushed = httpx.post(
            f"{api}/api/v2/dags/{dag_id}/versions", json=_dag(dag_id, marker, 6), headers=headers
        )
        assert pushed.status_code == 201, pushed.text
        run = httpx.post(
            f"{api}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": {}},
            headers=headers,
        )
        assert run.status_code == 200, run.text
        run_id = run.json()["dag_run_id"]

        leader_pid = _wait(lambda: _leader_pid(database_url), 60, "a leader")
        leader = next(r for r in replicas if r.proc.pid == leader_pid)
        survivor = next(r for r in replicas if r is not leader)
        # the venv build happens on the first dispatch: wait until two tasks really ran
        _wait(lambda: len(marker.read_text().splitlines()) >= 2, 240, "two tasks to run")
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        _wait(lambda: _leader_pid(database_url) == survivor.proc.pid, 60, "the hand-over")

        def finished() -> str | None:
            state = httpx.get(
                f"{survivor.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=headers
            ).json()["state"]
            return state if state in ("success", "failed") else None

        final = _wait(finished, 180, "the run to finish")
    finally:
        for replica in replicas:
            replica.stop()
        for pid in _agents_of(dag_id):  # agents orphaned by the killed replica
            os.kill(pid, signal.SIGKILL)
    assert final == "success", (tmp_path / "replica0.log").read_text()[-2000:]
    executed = [tuple(line.split()) for line in marker.read_text().splitlines()]
    counts = Counter(executed)
    assert max(counts.values()) == 1, f"a try executed twice: {counts.most_common(3)}"
    assert {task for task, _ in executed} == {f"step{i}" for i in range(6)}
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
