"""The composition root: one control-plane process assembled from configuration.

Both editions run this: Lite as one process on a laptop (embedded database, subprocess
executor), Pro as N replicas of ``leoflow server`` (external PostgreSQL and Redis, Kubernetes
executor). Every replica serves the HTTP API and UI and the agent gRPC port, and contends for
scheduler leadership; only the leader schedules. Nothing here decides anything: it builds the
parts, starts them in order and stops them in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from leoflow.api.app import create_app
from leoflow.config import Settings
from leoflow.execution import ExecutionPlane
from leoflow.scheduler.service import Scheduler
from leoflow.store.pool import Pool, create_pool
from leoflow.telemetry import configure_tracing, flush_tracing, get_logger
from leoflow.telemetry.metrics import start_metrics_server, stop_metrics_server

log = get_logger(__name__)

Background = Callable[["ControlPlane"], Awaitable[None]]
"""A job that runs beside the control plane once it is started (Lite's workspace sync); it is
cancelled first when the process stops, before scheduling and agents."""


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after shutdown, which would kill the process before
    the scheduler, the agents and an embedded database are stopped; here a signal only asks
    the server to exit, and the composition root stops the rest in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


@dataclass
class ControlPlane:
    """The running parts of one process, for callers that need to reach them (Lite, tests)."""

    settings: Settings
    dsn: str
    host: str
    port: int
    dag_dir_for: Callable[[str], Path | None] | None = None
    application_name: str = "leoflow"
    background: Sequence[Background] = ()
    configure_app: Callable[[FastAPI], None] | None = None
    pool: Pool | None = None
    plane: ExecutionPlane | None = None
    scheduler: Scheduler | None = None
    http: _Server | None = None
    metrics_port: int | None = None
    """The dedicated ``/metrics`` port actually bound (``metrics_port`` set; 0 picks one)."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Open the pool, bind the agent port, start scheduling and the HTTP server."""
        settings = self.settings
        # Idempotent: a CLI that configured tracing already keeps its provider.
        configure_tracing(settings.service_name, settings.otlp_endpoint)
        if settings.metrics_port is not None:
            self.metrics_port = start_metrics_server(settings.metrics_port, self.host)
            log.info("metrics listening", port=self.metrics_port, path="/metrics")
        self.pool = await create_pool(
            self.dsn,
            min_size=settings.database_pool_min_size,
            max_size=settings.database_pool_max_size,
            application_name=self.application_name,
        )
        self.plane = ExecutionPlane(self.pool, settings, dag_dir_for=self.dag_dir_for)
        self.scheduler = Scheduler(
            self.pool,
            self.dsn,
            self.plane.executor_factory,
            settings,
            notify_peers=settings.edition == "pro",
        )
        endpoint = await self.plane.start()
        log.info("agent service listening", address=endpoint.address)
        app = create_app(self.pool, settings)
        app.state.scheduler = self.scheduler
        app.state.xcom_service = self.plane.xcom  # operators' XCom edits reach the tasks' store
        if self.configure_app is not None:
            self.configure_app(app)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_config=None, access_log=False
        )
        self.http = _Server(config)
        self._tasks = [
            asyncio.create_task(self.scheduler.run(), name="scheduler"),
            asyncio.create_task(self.http.serve(), name="http"),
        ]

    def start_background(self) -> None:
        """Start the ``background`` jobs (once the process is listening and has said so)."""
        for job in self.background:
            task = asyncio.create_task(_guarded(job(self)), name=getattr(job, "__name__", "job"))
            self._background.append(task)

    async def wait_listening(self) -> None:
        """Return once the HTTP server accepts connections (or has given up)."""
        assert self.http is not None
        while not self.http.started:
            if self.http.should_exit or any(t.done() for t in self._tasks):
                raise RuntimeError("the HTTP server stopped before it was listening")
            await asyncio.sleep(0.05)

    async def wait_stopped(self) -> None:
        """Block until the HTTP server exits (signal) or a part fails."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "a control-plane part failed", part=task.get_name(), error=str(task.exception())
                )

    async def stop(self) -> None:
        """Stop HTTP, then scheduling, then agents and executors, then the pool."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.http is not None:
            self.http.should_exit = True
        if self.scheduler is not None:
            await self.scheduler.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.plane is not None:
            await self.plane.stop()
        if self.pool is not None:
            await self.pool.close()
        stop_metrics_server()
        flush_tracing()


async def _guarded(job: Awaitable[None]) -> None:
    try:
        await job
    except Exception:  # a side job failing must not take the API and scheduler down with it
        log.exception("a background job of the control plane failed")


async def serve(
    settings: Settings,
    dsn: str,
    *,
    host: str,
    port: int,
    on_ready: Callable[[ControlPlane], None] | None = None,
    dag_dir_for: Callable[[str], Path | None] | None = None,
    application_name: str = "leoflow",
    background: Sequence[Background] = (),
    configure_app: Callable[[FastAPI], None] | None = None,
) -> None:
    """Run one control plane in the foreground until SIGINT/SIGTERM."""
    plane = ControlPlane(
        settings,
        dsn,
        host,
        port,
        dag_dir_for=dag_dir_for,
        application_name=application_name,
        background=background,
        configure_app=configure_app,
    )
    try:
        await plane.start()
        await plane.wait_listening()
        if on_ready is not None:
            on_ready(plane)
        plane.start_background()
        await plane.wait_stopped()
    finally:
        await plane.stop()
