"""Container tooling for the image tests: provisioning, podman settings, a loopback registry.

The image tests use real tools (podman, buildah, mmdebstrap, Debian's docker-registry). CI
runs on a fresh machine, so the tools are installed by ``tests/images/provision.sh`` on first
use. Only where they cannot be installed (not root, no apt-get) do the tests skip, with the
reason in the summary; under CI that is a failure instead, because a CI that silently stops
building images would hide regressions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVISION_SCRIPT = REPO / "tests" / "images" / "provision.sh"
RUNTIME_BUILD_SCRIPT = REPO / "images" / "runtime" / "build.py"
SERVER_BUILD_SCRIPT = REPO / "images" / "server" / "build.py"
CACHE_DIR = Path(os.environ.get("LEOFLOW_TEST_IMAGE_CACHE", "/var/tmp/leoflow-test-images"))
"""Rootfs tarballs and wheelhouses survive between runs here, keyed by a hash of their inputs."""

PROVISION_IMPOSSIBLE = 3

PODMAN_RUN_FLAGS = (
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
    "--network=none",
)
"""What ``podman run`` needs on these hosts: crun fails on hybrid cgroups and podman's default
rlimits exceed the hard limits; no test container needs a network."""

CONTAINERS_CONF = """\
# Written by the image tests: the same settings as PODMAN_RUN_FLAGS, for podman and buildah
# processes that Leoflow starts itself (``leoflow compile --build``).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def _unavailable(reason: str) -> None:
    message = f"image tests need podman, buildah, mmdebstrap and docker-registry: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def provision_tools(*extra: str) -> None:
    """Install the tools if they are missing; skip (fail under CI) if that is impossible.

    ``extra`` is passed to the script (``--docker`` adds the Docker engine).
    """
    done = subprocess.run(
        ["bash", str(PROVISION_SCRIPT), *extra],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == PROVISION_IMPOSSIBLE:
        _unavailable(done.stderr.strip())
    if done.returncode != 0:
        pytest.fail(
            f"{PROVISION_SCRIPT.name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}",
            pytrace=False,
        )


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run podman with the given arguments (``run`` gets ``PODMAN_RUN_FLAGS`` prepended; an
    explicit ``--network=…`` among the arguments replaces their ``--network=none``)."""
    command = ["podman", *args]
    if args and args[0] == "run":
        flags = list(PODMAN_RUN_FLAGS)
        if any(arg.startswith("--network=") for arg in args[1:]):
            flags.remove("--network=none")
        command = ["podman", "run", *flags, *args[1:]]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def image_config(reference: str) -> dict[str, object]:
    """The OCI config (``Entrypoint``, ``User``, ``Env``, …) of a local image."""
    done = podman("image", "inspect", "--format", "{{json .Config}}", reference)
    config: dict[str, object] = json.loads(done.stdout)
    return config


@dataclass(frozen=True)
class RuntimeImage:
    """The base image the DAG images are built on, and how it was obtained."""

    tag: str
    summary: dict[str, object]


def build_runtime_image(python_version: str = "3.11") -> RuntimeImage:
    """Build (or reuse from the cache) ``leoflow/python-runtime:<python_version>``."""
    done = subprocess.run(
        [
            sys.executable,
            str(RUNTIME_BUILD_SCRIPT),
            "--python-version",
            python_version,
            "--builder",
            "podman",
            "--cache-dir",
            str(CACHE_DIR),
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"building the runtime image failed:\n{done.stderr[-6000:]}", pytrace=False)
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nruntime image: {json.dumps(summary)}", file=sys.stderr)
    return RuntimeImage(str(summary["tag"]), summary)


def build_server_image() -> RuntimeImage:
    """Build (or reuse from the cache) ``leoflow/leoflow-server:<version>``, offline.

    Shares the rootfs and the cache folder with the runtime image; only the wheelhouses, the
    pinned web asset files and the image itself are the server's own.
    """
    done = subprocess.run(
        [
            sys.executable,
            str(SERVER_BUILD_SCRIPT),
            "--builder",
            "podman",
            "--cache-dir",
            str(CACHE_DIR),
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"building the server image failed:\n{done.stderr[-6000:]}", pytrace=False)
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nserver image: {json.dumps(summary)}", file=sys.stderr)
    return RuntimeImage(str(summary["tag"]), summary)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_registry(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"docker-registry exited: {log.read_text(errors='replace')}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"docker-registry did not answer on {address}: {log.read_text()}")


@contextlib.contextmanager
def loopback_registry(workdir: Path) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (a free port), storing under ``workdir``.

    Yields ``127.0.0.1:PORT``; the process is stopped by its PID afterwards.
    """
    port = free_port()
    address = f"127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: {address}\n",
        encoding="utf-8",
    )
    log = workdir / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_registry(address, process, log)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def registry_manifest_digest(address: str, repository: str, tag: str) -> str:
    """The digest the registry reports for ``repository:tag`` (Docker-Content-Digest)."""
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": ", ".join(
                [
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ]
            )
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        digest: str = response.headers["Docker-Content-Digest"]
        return digest


def write_containers_conf(path: Path) -> Path:
    path.write_text(CONTAINERS_CONF, encoding="utf-8")
    return path


def remove_images(references: Sequence[str]) -> None:
    """Untag images a test made (their layers stay cached for the next run)."""
    if references:
        podman("rmi", "--ignore", *references, check=False)


@contextlib.contextmanager
def docker_daemon(workdir: Path) -> Iterator[str]:
    """A private Docker engine with all its state under ``workdir``; yields its ``DOCKER_HOST``.

    No bridge and no iptables rules: the tests only build and push to loopback. The daemon is
    stopped by its PID afterwards (it stops its own containerd).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    socket_path = workdir / "docker.sock"
    host = f"unix://{socket_path}"
    log = workdir / "dockerd.log"
    command = [
        shutil.which("dockerd") or "/usr/sbin/dockerd",
        "--data-root", str(workdir / "data"),
        "--exec-root", str(workdir / "exec"),
        "--pidfile", str(workdir / "docker.pid"),
        "--host", host,
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"dockerd exited: {log.read_text(errors='replace')[-3000:]}")
            probe = subprocess.run(
                ["docker", "--host", host, "version", "--format", "{{.Server.Version}}"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"dockerd did not start: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield host
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        unmount_under(workdir)


def unmount_under(root: Path) -> None:
    """Unmount whatever is still mounted below ``root`` (deepest first).

    dockerd bind-mounts its data root onto itself and unmounts it on a clean stop; after a
    crash the mount stays and makes the folder impossible to delete.
    """
    prefix = str(root.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        targets = [line.split()[1] for line in mounts]
    stale = [t for t in targets if t == prefix or t.startswith(prefix + "/")]
    for target in sorted(set(stale), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
