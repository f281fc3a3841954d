"""``leoflow lite``: one process on one machine, from a fresh checkout to running DAGs.

It composes Lite: the metadata database (embedded PostgreSQL under ``~/.leoflow/pgdata`` unless
``LEOFLOW_DATABASE_URL`` is set) and its migrations, the local admin, the web UI files, the
workspace of DAG projects (created with a starter DAG, compiled and hot-reloaded by
:class:`~leoflow.lite.workspace_sync.WorkspaceSync`), and the control plane (API + UI +
scheduler + agent service + executors). It prints a short ready block with where everything
is, and on Ctrl-C stops tasks (SIGTERM, recorded), the control plane and the embedded database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI

from leoflow import __version__
from leoflow.auth.bootstrap import ensure_lite_admin, with_lite_secrets
from leoflow.auth.cli_credentials import CREDENTIALS_FILE, store_token
from leoflow.auth.tokens import UserTokens
from leoflow.config import Settings, load_settings
from leoflow.lite.embedded_db import (
    EmbeddedPostgresError,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from leoflow.lite.workspace_sync import STATE_FILE, WorkspaceSync, run_until_cancelled
from leoflow.server import ControlPlane, serve
from leoflow.store.dsn import redact
from leoflow.store.pool import create_pool
from leoflow.store.schema import SchemaError, migrate
from leoflow.telemetry import configure_logging, configure_tracing, get_logger
from leoflow.telemetry.metrics import watch_embedded_database
from leoflow.web.docs_assets import ensure_docs_assets
from leoflow.web.editor_assets import ensure_editor_assets
from leoflow.web.ide import enable_ide

PostgresMode = Literal["auto", "embedded", "external"]
ExecutorMode = Literal["auto", "subprocess", "kubernetes"]
_POSTGRES_MODES = ("auto", "embedded", "external")
_EXECUTOR_MODES = ("auto", "subprocess", "kubernetes")
CLI_TOKEN_SECONDS = 30 * 86400
"""Lifetime of the token Lite keeps for the local CLI (re-minted at every start)."""
FRESH_REMOVES = ("pgdata", "logs", "staging", "work", f"lite/{STATE_FILE}", CREDENTIALS_FILE)
"""What ``--fresh`` deletes under the home folder; the venv cache, UI files, secrets and the
workspace (your DAG files) stay."""


class LiteStartupError(RuntimeError):
    """Lite cannot start; the message says what to change."""


@dataclass(frozen=True)
class LiteOptions:
    """What the ``leoflow lite`` command line chose."""

    workspace: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8088
    postgres: str = "auto"
    executor: str = "auto"
    fresh: bool = False
    yes: bool = False
    no_login: bool = False
    provision_ui: bool = True
    log_format: str | None = None
    """``json`` or ``console``; default: console in an interactive terminal, else
    ``LEOFLOW_LOG_FORMAT`` (json)."""


@dataclass(frozen=True)
class DatabaseChoice:
    """The database Lite uses and whether Lite owns (embedded) it."""

    dsn: str
    embedded_dir: Path | None

    def describe(self) -> str:
        if self.embedded_dir is not None:
            return f"embedded PostgreSQL (data in {self.embedded_dir})"
        return f"PostgreSQL at {redact(self.dsn)}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, no_login: bool) -> str | None:
    """Refuse an exposed listener without login; returns a warning for an exposed one."""
    if is_loopback(host):
        return None
    if no_login:
        raise LiteStartupError(
            f"refusing to listen on {host} with --no-login: without login Lite serves "
            "loopback only; use --host 127.0.0.1 or drop --no-login"
        )
    return (
        f"listening on {host}: anyone who can reach this address can try to log in, and a "
        "logged-in admin can run code on this machine; prefer 127.0.0.1 (or an SSH tunnel), "
        "and put a TLS proxy in front for anything else"
    )


def choose_database(mode: str, settings: Settings) -> DatabaseChoice:
    """Resolve ``--postgres auto|embedded|external`` into a concrete database."""
    if mode not in _POSTGRES_MODES:
        raise LiteStartupError(f"--postgres must be one of {', '.join(_POSTGRES_MODES)}")
    external = settings.database_dsn()
    if mode == "external" and external is None:
        raise LiteStartupError("--postgres external needs LEOFLOW_DATABASE_URL to be set")
    if mode != "embedded" and external is not None:
        return DatabaseChoice(dsn=external, embedded_dir=None)
    data_dir = embedded_data_dir(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        dsn = start_embedded_postgres(data_dir)
    except EmbeddedPostgresError as exc:
        raise LiteStartupError(str(exc)) from exc
    return DatabaseChoice(dsn=dsn, embedded_dir=data_dir)


def embedded_data_dir(settings: Settings) -> Path:
    """Where Lite's embedded PostgreSQL keeps its data."""
    return Path(settings.home) / "pgdata"


def embedded_server_running(data_dir: Path) -> bool:
    """Whether a PostgreSQL server is running on ``data_dir`` (Lite, or a CLI command).

    Both its ``postmaster.pid`` and the process table are consulted: the pid file can be
    missing for a moment while a server starts or stops, a process cannot hide.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text(encoding="ascii").splitlines()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    if pid is not None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        except PermissionError:
            return True
        else:
            return True
    import psutil

    wanted = str(data_dir.resolve())
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if cmdline and Path(cmdline[0]).name == "postgres" and wanted in cmdline:
            return True
    return False


def choose_executor(mode: str, settings: Settings) -> tuple[str, str]:
    """``--executor auto|subprocess|kubernetes`` → ``(executor, why)``.

    ``auto`` is the subprocess executor unless a cluster was configured for Leoflow
    (``LEOFLOW_KUBERNETES__KUBECONFIG`` or ``__API_URL``) and its API server answers.
    """
    if mode not in _EXECUTOR_MODES:
        raise LiteStartupError(f"--executor must be one of {', '.join(_EXECUTOR_MODES)}")
    if mode == "subprocess":
        return "subprocess", "chosen with --executor"
    from leoflow.lite.doctor import kubeconfig_path, kubernetes_reachable

    kube = settings.kubernetes
    configured = kube.api_url is not None or kube.kubeconfig is not None
    if mode == "auto" and not configured:
        return "subprocess", "no cluster configured"
    where = kube.api_url or str(kubeconfig_path(kube) or "~/.kube/config")
    problem = kubernetes_reachable(kube)
    if problem and mode == "kubernetes":
        raise LiteStartupError(
            f"--executor kubernetes: the cluster of {where} does not answer ({problem}); "
            "start it, fix the kubeconfig, or use --executor subprocess"
        )
    if problem:
        return "subprocess", f"the cluster of {where} does not answer"
    return "kubernetes", f"cluster of {where}"


def confirm_fresh(settings: Settings, options: LiteOptions, ask: Callable[[str], str]) -> None:
    """``--fresh``: delete the database, logs and run state under the home folder, after a
    confirmation (``--yes``, or typing ``yes``)."""
    home = Path(settings.home)
    if settings.database_dsn() is not None and options.postgres != "embedded":
        raise LiteStartupError(
            "--fresh starts the embedded database over; with LEOFLOW_DATABASE_URL set, drop and "
            "recreate that database yourself (or add --postgres embedded)"
        )
    if embedded_server_running(embedded_data_dir(settings)):
        raise LiteStartupError(
            f"the embedded database in {embedded_data_dir(settings)} is in use (is Lite "
            "running?); stop it first, then start again with --fresh"
        )
    doomed = [home / name for name in FRESH_REMOVES if (home / name).exists()]
    if not doomed:
        return
    if not options.yes:
        listing = "\n".join(f"  {path}" for path in doomed)
        prompt = (
            f"--fresh deletes every run, log, variable, connection and user of this Lite:\n"
            f"{listing}\n(your workspace files and the venv cache stay). Type 'yes' to go on: "
        )
        if not sys.stdin.isatty() or ask(prompt).strip().lower() != "yes":
            raise LiteStartupError(
                "--fresh was not confirmed; nothing was deleted (add --yes to confirm without "
                "a prompt)"
            )
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def ensure_workspace(workspace: Path) -> Path | None:
    """Create the workspace; an empty one gets the starter project. Returns the project made."""
    from leoflow.cli.starter import STARTER_CONFIG, STARTER_DAG

    workspace.mkdir(parents=True, exist_ok=True)
    if any(not entry.name.startswith(".") for entry in workspace.iterdir()):
        return None
    project = workspace / "starter"
    project.mkdir()
    (project / "dag.py").write_text(STARTER_DAG.format(dag_id="starter"), encoding="utf-8")
    (project / "leoflow.yaml").write_text(STARTER_CONFIG.format(dag_id="starter"), "utf-8")
    return project


def ensure_ui_assets(settings: Settings, report: Callable[[str], None]) -> str:
    """Provision the web UI files on first start; the API works without them, so a failure
    (offline machine) only warns. Returns the ready-block line."""
    from leoflow.web.assets import (
        AssetError,
        default_assets_dir,
        find_assets,
        provision,
        provisioning_hint,
    )

    dest = settings.ui_assets_dir or default_assets_dir(Path(settings.home))
    if find_assets(dest) is not None:
        return "Airflow web UI"
    report(f"[leoflow] first start: downloading the web UI files into {dest} …")
    try:
        provision(dest)
    except AssetError as exc:
        report(f"[leoflow] the web UI files could not be provisioned: {exc}")
        return f"not installed ({provisioning_hint()})"
    return "Airflow web UI (just installed)"


def lite_settings(settings: Settings, executor: str) -> Settings:
    """Lite's defaults on top of the configured settings (explicit settings always win)."""
    updates: dict[str, object] = {"executor": executor}
    tls = settings.agent_tls_cert_file is not None
    if (
        "agent_allow_insecure_secrets" not in settings.model_fields_set
        and not tls
        and is_loopback(settings.grpc_host)
    ):
        # Agents are child processes dialling 127.0.0.1; the service still refuses secrets
        # to any peer that is not loopback (ADR 0015).
        updates["agent_allow_insecure_secrets"] = True
    return settings.model_copy(update=updates)


def _ready_block(
    options: LiteOptions,
    db: DatabaseChoice,
    *,
    workspace: Path,
    executor: tuple[str, str],
    ui: str,
    login: str,
) -> str:
    url = f"http://{options.host}:{options.port}"
    kind, why = executor
    executor_line = f"{kind} ({why})"
    if kind == "subprocess":
        executor_line += "; no isolation between tasks on this machine"
    return "\n".join(
        [
            f"Leoflow Lite {__version__} is ready",
            f"  URL        {url}  ({ui}; health: {url}/api/v2/monitor/health)",
            f"  login      {login}",
            f"  workspace  {workspace}  (saved files are compiled and registered)",
            f"  executor   {executor_line}",
            f"  database   {db.describe()}",
            f"  CLI        leoflow dags list --server {url}",
            "  stop       Ctrl+C",
        ]
    )


async def _bootstrap_admin(
    db: DatabaseChoice, settings: Settings, options: LiteOptions
) -> tuple[str, str]:
    """Create the local admin on first start and keep a CLI token for it; returns
    ``(username, ready-block login line)``."""
    pool = await create_pool(db.dsn, min_size=1, max_size=2, application_name="leoflow-lite")
    try:
        admin = await ensure_lite_admin(pool, settings)
        from leoflow.store import roles

        access = await roles.load_user_access(pool, admin.username, "default")
    finally:
        await pool.close()
    if access is not None and settings.jwt_secret is not None:
        tokens = UserTokens(settings.jwt_secret.get_secret_value())
        issued = tokens.mint(
            access.username,
            access.tenant,
            tuple(sorted(access.roles)),
            expires_in=CLI_TOKEN_SECONDS,
        )
        store_token(
            Path(settings.home),
            f"http://{options.host}:{options.port}",
            issued.token,
            admin.username,
        )
    if options.no_login:
        line = (
            f"none: developer mode (--no-login), requests from this machine act as {admin.username}"
        )
    elif admin.generated_password is not None:
        line = (
            f"{admin.username} / {admin.generated_password}  (generated now and shown once; "
            "change it: leoflow lite reset-password)"
        )
    else:
        line = f"{admin.username} (forgot the password? leoflow lite reset-password)"
    return admin.username, line


def _open_access(username: str) -> Callable[[FastAPI], None]:
    def configure(app: FastAPI) -> None:
        app.state.security.open_access_user = username

    return configure


def _configure_app(workspace: Path, open_access_user: str | None) -> Callable[[FastAPI], None]:
    def configure(app: FastAPI) -> None:
        enable_ide(app, workspace)  # the web editor (/ide) edits this workspace
        if open_access_user is not None:
            _open_access(open_access_user)(app)

    return configure


async def _serve(
    options: LiteOptions,
    db: DatabaseChoice,
    settings: Settings,
    *,
    workspace: Path,
    executor: tuple[str, str],
    ui: str,
) -> None:
    from leoflow.lite.venvs import VenvManager

    username, login = await _bootstrap_admin(db, settings, options)
    banner = _ready_block(options, db, workspace=workspace, executor=executor, ui=ui, login=login)
    sync = WorkspaceSync(workspace, settings, VenvManager.from_settings(settings))

    async def workspace_sync(plane: ControlPlane) -> None:
        assert plane.pool is not None
        if plane.plane is not None:
            sync.venvs = plane.plane.venvs  # one builder: a venv is never built twice at once
        await run_until_cancelled(sync, plane.pool)

    await serve(
        settings,
        db.dsn,
        host=options.host,
        port=options.port,
        on_ready=lambda _: print(banner, flush=True),
        dag_dir_for=sync.dag_dir_for,
        application_name="leoflow-lite",
        background=[workspace_sync],
        configure_app=_configure_app(workspace, username if options.no_login else None),
    )


def _say(line: str) -> None:
    print(line, flush=True)


def run_lite(options: LiteOptions) -> None:
    """Start Lite in the foreground until interrupted."""
    settings = with_lite_secrets(load_settings())
    interactive = "console" if sys.stdout.isatty() else settings.log_format
    log_format = options.log_format or interactive
    configure_logging("console" if log_format == "console" else "json", settings.log_level)
    configure_tracing(settings.service_name, settings.otlp_endpoint)
    log = get_logger("leoflow.lite")
    try:
        warning = check_host(options.host, no_login=options.no_login)
        if warning:
            _say(f"[leoflow] warning: {warning}")
        if options.fresh:
            confirm_fresh(settings, options, input)
        executor = choose_executor(options.executor, settings)
        settings = lite_settings(settings, executor[0])
        workspace = (options.workspace or Path.home() / "leoflow").expanduser().resolve()
        starter = ensure_workspace(workspace)
        if starter is not None:
            _say(f"[leoflow] new workspace {workspace}: created the starter project {starter}")
        ui = ensure_ui_assets(settings, _say) if options.provision_ui else "web UI not provisioned"
        if options.provision_ui:
            ensure_editor_assets(settings, _say)
            ensure_docs_assets(settings, _say)
        db = choose_database(options.postgres, settings)
        watch_embedded_database(db.embedded_dir)
        try:
            try:
                migrate(db.dsn)
            except SchemaError as exc:
                raise LiteStartupError(str(exc)) from exc
            asyncio.run(
                _serve(options, db, settings, workspace=workspace, executor=executor, ui=ui)
            )
        finally:
            if db.embedded_dir is not None:
                stop_embedded_postgres(db.embedded_dir)
    except LiteStartupError as exc:
        log.error("lite failed to start", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except KeyboardInterrupt:  # Ctrl-C before the server took over the signals
        raise SystemExit(130) from None
