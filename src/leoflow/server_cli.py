"""``leoflow server``: start one control-plane replica from configuration.

Unlike Lite it never changes the schema: it refuses a database that is behind (run
``leoflow db migrate``) or ahead (upgrade this server) with a message saying which.
"""

from __future__ import annotations

import asyncio
import os
import sys

from leoflow import __version__
from leoflow.config import Settings, load_settings
from leoflow.server import serve
from leoflow.store.dsn import redact
from leoflow.store.schema import SchemaError, check
from leoflow.telemetry import configure_logging, configure_tracing, get_logger


def _executor_problem(settings: Settings) -> str | None:
    """What keeps the configured task executor from starting, checked before serving."""
    if settings.task_executor() != "kubernetes":
        return None
    from leoflow.executors.kubernetes.executor import pod_agent_address

    try:
        pod_agent_address(settings)
    except ValueError as exc:
        return str(exc)
    return None


def run_server(
    *, host: str | None = None, port: int | None = None, log_format: str | None = None
) -> None:
    """Check configuration and schema, then serve until SIGINT/SIGTERM.

    ``host`` and ``port`` default to ``LEOFLOW_API_HOST`` / ``LEOFLOW_API_PORT`` (how the Helm
    chart and the server image configure them), else the settings' defaults.
    """
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
    problem = _executor_problem(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    host = host if host is not None else settings.api_host
    port = port if port is not None else settings.api_port
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
