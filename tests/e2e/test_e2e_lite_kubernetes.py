"""``leoflow lite`` with a cluster configured: ``--executor auto`` picks Kubernetes.

The cluster is the STAND-IN API server of the executor tests (``tests/kubernetes/
kube_standin.py``): no real kube-apiserver can run on these machines. Lite itself is the real
command in a subprocess, on a real PostgreSQL; the test plays the kubelet by writing pod
statuses to the stand-in, and checks what Lite does with them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kubernetes"))

from kube_standin import StandInApiServer

LEOFLOW = Path(sys.executable).with_name("leoflow")
IMAGE = "registry.example/leoflow/python-runtime:3.11"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(home: Path, database_url: str, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(
        HOME=str(home),
        LEOFLOW_DATABASE_URL=database_url,
        LEOFLOW_KUBERNETES__API_URL=api_url,
        LEOFLOW_KUBERNETES__NAMESPACE="tasks",
        LEOFLOW_KUBERNETES__DEFAULT_IMAGE=IMAGE,
        LEOFLOW_KUBERNETES__AGENT_ADDRESS="leoflow-grpc.leoflow.svc:50051",
    )
    return env


async def _until(predicate: Any, what: str, proc: subprocess.Popen[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"leoflow lite exited early with {proc.returncode} while waiting: {what}")
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out waiting: {what}")


async def test_auto_picks_the_reachable_cluster_and_runs_tasks_as_pods(
    tmp_path: Path, database_url: str
) -> None:
    standin = StandInApiServer()
    async with standin.serve():
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = (tmp_path / "lite.log").open("w+")
        proc = subprocess.Popen(
            [LEOFLOW, "lite", "--port", str(port), "--no-ui", "--no-login", str(tmp_path / "ws")],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(tmp_path, database_url, standin.url),
        )
        try:
            async with httpx.AsyncClient(base_url=base, timeout=5.0) as http:

                async def starter_registered() -> bool:
                    try:
                        answer = await http.get("/api/v2/dags/starter")
                    except httpx.TransportError:
                        return False
                    return answer.status_code == 200

                await _until(starter_registered, "the starter DAG registered", proc, 120)
                output = (tmp_path / "lite.log").read_text()
                assert f"executor   kubernetes (cluster of {standin.url})" in output, output

                # The starter is scheduled @daily: its first run starts without a trigger.
                async def first_pod() -> str | None:
                    names = standin.names("pods")
                    return names[0] if names else None

                pod_name = await _until(first_pod, "a pod created on the cluster", proc, 60)
                pod = standin.get("pods", pod_name)
                assert pod is not None
                labels = pod["metadata"]["labels"]
                run_id = pod["metadata"]["annotations"]["leoflow.io/run-id"]
                assert labels["leoflow.io/dag-id"] == "starter"
                assert labels["leoflow.io/task-id"] == "extract"
                container = pod["spec"]["containers"][0]
                assert container["image"] == IMAGE
                env = {item["name"]: item for item in container.get("env", [])}
                assert env["LEOFLOW_AGENT_ADDRESS"]["value"] == "leoflow-grpc.leoflow.svc:50051"
                token = env.get("LEOFLOW_AGENT_TOKEN", {})
                assert "value" not in token  # the token comes from a Secret, never the spec

                waiting = {
                    "phase": "Pending",
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "image": IMAGE,
                            "state": {
                                "waiting": {
                                    "reason": "ImagePullBackOff",
                                    "message": "Back-off pulling image",
                                }
                            },
                        }
                    ],
                }
                await standin.set_pod_status(pod_name, waiting)
                ti_url = f"/api/v2/dags/starter/dagRuns/{run_id}/taskInstances/extract"

                async def extract_failed() -> dict[str, Any] | None:
                    ti = (await http.get(ti_url)).json()
                    return ti if ti["state"] in ("failed", "up_for_retry") else None

                assert run_id.startswith("scheduled__")

                ti = await _until(extract_failed, "extract failed by the pod watch", proc, 60)
                assert "ImagePullBackOff" in (ti["note"] or ""), ti
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    assert proc.returncode == 0, (tmp_path / "lite.log").read_text()[-4000:]
