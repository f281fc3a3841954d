"""``leoflow server``: start one control-plane replica from configuration.

Unlike Lite it never changes the schema: it refuses a database that is behind (run
``leoflow db migrate``) or ahead (upgrade this server) with a message saying which.
"""

from __future__ import annotations

import asyncio
import os
import sys

from leoflow import __version__
from leoflow.config import load_settings
from leoflow.server import serve
from leoflow.store.dsn import redact
from leoflow.store.schema import SchemaError, check
from leoflow.telemetry import configure_logging, configure_tracing, get_logger


def run_server(*, host: str, port: int, log_format: str | None = None) -> None:
    """Check configuration and schema, then serve until SIGINT/SIGTERM."""
    overrides: dict[str, str] = {} if "LEOFLOW_EDITION" in os.environ else {"edition": "pro"}
    if log_format is not None:
        if log_format not in ("json", "console"):
            print(
                f"error: --log-format must be json or console, not {log_format!r}", file=sys.stderr
            )
            raise SystemExit(2)
        overrides["log_format"] = log_format
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    configure_tracing(settings.service_name, settings.otlp_endpoint)
    log = get_logger("leoflow.server")
    dsn = settings.database_dsn()
    if dsn is None:
        print(
            "error: LEOFLOW_DATABASE_URL is not set: point it at PostgreSQL, "
            "e.g. postgresql://leoflow:secret@db:5432/leoflow",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        status = check(dsn)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if not status.ok:
        print(f"error: {status.message}", file=sys.stderr)
        raise SystemExit(2)
    log.info(
        "leoflow server starting",
        version=__version__,
        edition=settings.edition,
        database=redact(dsn),
        executor=settings.task_executor(),
    )
    asyncio.run(
        serve(
            settings,
            dsn,
            host=host,
            port=port,
            on_ready=lambda _: log.info("leoflow server ready", host=host, port=port),
        )
    )
