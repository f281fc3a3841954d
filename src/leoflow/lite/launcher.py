"""``leoflow lite``: one process on one machine, with an embedded database by default.

This composes what Lite has today: the metadata database (embedded PostgreSQL under
``~/.leoflow/pgdata`` unless ``LEOFLOW_DATABASE_URL`` is set), its migrations, and the API
server on a loopback address. It prints a short ready block with where everything is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from leoflow import __version__
from leoflow.auth.bootstrap import ensure_lite_admin, with_lite_secrets
from leoflow.config import Settings, load_settings
from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.server import serve
from leoflow.store.dsn import redact
from leoflow.store.pool import create_pool
from leoflow.store.schema import SchemaError, migrate
from leoflow.telemetry import configure_logging, get_logger

PostgresMode = Literal["auto", "embedded", "external"]
_POSTGRES_MODES = ("auto", "embedded", "external")


class LiteStartupError(RuntimeError):
    """Lite cannot start; the message says what to change."""


@dataclass(frozen=True)
class LiteOptions:
    """What the ``leoflow lite`` command line chose."""

    workspace: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8088
    postgres: str = "auto"


@dataclass(frozen=True)
class DatabaseChoice:
    """The database Lite uses and whether Lite owns (embedded) it."""

    dsn: str
    embedded_dir: Path | None

    def describe(self) -> str:
        if self.embedded_dir is not None:
            return f"embedded PostgreSQL (data in {self.embedded_dir})"
        return f"PostgreSQL at {redact(self.dsn)}"


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LiteStartupError(
            f"refusing to listen on {host}: Lite serves loopback only until login is enabled; "
            "use --host 127.0.0.1"
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
    data_dir = settings.home / "pgdata"
    settings.home.mkdir(parents=True, exist_ok=True)
    return DatabaseChoice(dsn=start_embedded_postgres(data_dir), embedded_dir=data_dir)


def _ready_block(options: LiteOptions, db: DatabaseChoice, workspace: Path) -> str:
    url = f"http://{options.host}:{options.port}"
    return "\n".join(
        [
            f"Leoflow Lite {__version__} is ready",
            f"  URL        {url}  (health: {url}/api/v2/monitor/health)",
            f"  workspace  {workspace}",
            "  executor   subprocess (no isolation between tasks on this machine)",
            f"  database   {db.describe()}",
            "  stop       Ctrl+C",
        ]
    )


async def _bootstrap_admin(db: DatabaseChoice, settings: Settings) -> str:
    """Create the local admin on first start; returns the banner line for a new password."""
    pool = await create_pool(db.dsn, min_size=1, max_size=2, application_name="leoflow-lite")
    try:
        admin = await ensure_lite_admin(pool, settings)
    finally:
        await pool.close()
    if admin.generated_password is None:
        return ""
    return (
        f"\n  login      {admin.username} / {admin.generated_password}"
        "  (generated now and shown once; change it: leoflow users set-password)"
    )


async def _serve(options: LiteOptions, db: DatabaseChoice, settings: Settings, banner: str) -> None:
    banner += await _bootstrap_admin(db, settings)
    await serve(
        settings,
        db.dsn,
        host=options.host,
        port=options.port,
        on_ready=lambda _: print(banner, flush=True),
        application_name="leoflow-lite",
    )


def run_lite(options: LiteOptions) -> None:
    """Start Lite in the foreground until interrupted."""
    settings = with_lite_secrets(load_settings())
    configure_logging("console" if sys.stdout.isatty() else settings.log_format, settings.log_level)
    log = get_logger("leoflow.lite")
    try:
        _require_loopback(options.host)
        workspace = (options.workspace or Path.home() / "leoflow").expanduser().resolve()
        workspace.mkdir(parents=True, exist_ok=True)
        db = choose_database(options.postgres, settings)
        try:
            migrate(db.dsn)
        except SchemaError as exc:
            raise LiteStartupError(str(exc)) from exc
        banner = _ready_block(options, db, workspace)
        try:
            asyncio.run(_serve(options, db, settings, banner))
        finally:
            if db.embedded_dir is not None:
                stop_embedded_postgres(db.embedded_dir)
    except LiteStartupError as exc:
        log.error("lite failed to start", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
