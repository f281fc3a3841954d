"""Plays the kubelet for the stand-in API server: runs created pods with ``podman kube play``.

When the executor creates a Pod on the stand-in, this bridge runs that very manifest with
podman (runc) and writes what happens back into the stand-in as the pod's status, so the
executor's watch sees Running, then Succeeded or Failed, as it would from a cluster. Deleting
the pod runs ``podman kube down``.

Two changes are made to the manifest, both standing in for cluster facilities that are not
here, and nothing else:

* ``hostNetwork: true``: the agent reaches the control plane on 127.0.0.1 (no pod network,
  and no private address is ever used);
* Secret volumes become read-only ``hostPath`` folders holding the Secret's keys as files —
  what the kubelet does when it mounts a Secret — because podman 4.3's ``kube play`` cannot
  read Kubernetes Secrets (it crashes on Secret volumes).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kube_standin import StandInApiServer

from harness.containers import podman


def podman_manifest(pod: dict[str, Any], secrets_root: Path, standin: StandInApiServer) -> Any:
    """The pod as podman runs it (see the module docstring for the two changes)."""
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    spec["hostNetwork"] = True
    for volume in spec.get("volumes", []):
        source = volume.pop("secret", None)
        if source is None:
            continue
        secret = standin.get("secrets", source["secretName"], pod["metadata"]["namespace"])
        assert secret is not None, f"secret {source['secretName']} is missing"
        folder = secrets_root / pod["metadata"]["name"] / volume["name"]
        folder.mkdir(parents=True, exist_ok=True)
        items = source.get("items") or [{"key": k, "path": k} for k in secret["data"]]
        for item in items:
            target = folder / item["path"]
            target.write_bytes(base64.b64decode(secret["data"][item["key"]]))
            target.chmod(0o444)
        folder.chmod(0o755)
        volume["hostPath"] = {"path": str(folder), "type": "Directory"}
    for container in spec["containers"]:
        container["imagePullPolicy"] = "IfNotPresent"
    return pod


@dataclass
class PodmanKubelet:
    """Runs the stand-in's pods with podman and reports their status back."""

    standin: StandInApiServer
    workdir: Path
    played: dict[str, Path] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def attach(self) -> None:
        self.standin.on_create.append(self._on_create)
        self.standin.on_delete.append(self._on_delete)

    def _on_delete(self, plural: str, obj: dict[str, Any]) -> None:
        if plural == "pods":
            self._tasks.append(asyncio.ensure_future(self.down(obj["metadata"]["name"])))

    def _on_create(self, plural: str, obj: dict[str, Any]) -> None:
        if plural == "pods":
            self._tasks.append(asyncio.ensure_future(self._run(copy.deepcopy(obj))))

    async def _run(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        manifest = podman_manifest(pod, self.workdir / "secrets", self.standin)
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
        self.played[name] = path
        done = await asyncio.to_thread(podman, "kube", "play", str(path), check=False)
        if done.returncode != 0:
            await self.standin.set_pod_status(
                name,
                {
                    "phase": "Failed",
                    "reason": "PodmanError",
                    "message": (done.stderr or done.stdout)[-2000:],
                },
            )
            return
        container = f"{name}-task"
        reported = ""
        while name in self.played:
            state = await asyncio.to_thread(self._state, container)
            if state is None:
                return
            status, exit_code = state
            if status == "running" and reported != "running":
                reported = "running"
                await self.standin.set_pod_status(name, _running())
            if status in ("exited", "stopped"):
                logs = await asyncio.to_thread(podman, "logs", container, check=False)
                self.outputs[name] = logs.stdout + logs.stderr
                self.standin.logs[name] = (logs.stdout + logs.stderr).splitlines()
                await self.standin.set_pod_status(name, _terminated(exit_code))
                return
            await asyncio.sleep(0.2)

    @staticmethod
    def _state(container: str) -> tuple[str, int] | None:
        done = subprocess.run(
            ["podman", "inspect", "--format", "{{json .State}}", container],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return None
        state = json.loads(done.stdout)
        return str(state["Status"]), int(state.get("ExitCode") or 0)

    async def down(self, name: str) -> None:
        path = self.played.pop(name, None)
        if path is not None:
            await asyncio.to_thread(podman, "kube", "down", str(path), check=False)

    async def close(self) -> None:
        for name in list(self.played):
            await self.down(name)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _running() -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "task", "state": {"running": {}}}],
    }


def _terminated(exit_code: int) -> dict[str, Any]:
    from kube_standin import now_rfc3339

    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {
                "name": "task",
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": "Completed" if exit_code == 0 else "Error",
                        "finishedAt": now_rfc3339(),
                    }
                },
            }
        ],
    }
