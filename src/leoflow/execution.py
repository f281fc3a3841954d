"""The execution side of one control-plane process, assembled from settings.

It owns the agent gRPC server, the XCom service (and its expiry sweep), the task logs (and
their retention) and the executors. Hand :meth:`ExecutionPlane.executor_factory` to the
:class:`~leoflow.scheduler.service.Scheduler`: the scheduler creates the one
:class:`~leoflow.scheduler.state_reports.TaskReporter` of the process and the plane binds it to
the agent service and the executors, so every state report — from an agent, an inline HTTP
call or an executor that saw its agent die — takes the same guarded path and wakes the same
scheduler::

    plane = ExecutionPlane(pool, settings)
    scheduler = Scheduler(pool, dsn, plane.executor_factory, settings)
    await plane.start()          # binds the gRPC port; agents can be launched from now on
    ...
    await plane.stop()

In Lite, ``dag_dir_for`` maps a dag_id to its workspace project folder, so tasks run there
(sibling modules importable, relative paths as in the editor).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leoflow.agentapi.server import AgentEndpoint, AgentServer
from leoflow.agentapi.service import AgentService
from leoflow.agentapi.tokens import AgentTokenIssuer
from leoflow.auth.bootstrap import ephemeral_jwt_secret
from leoflow.config import Settings
from leoflow.executors.base import Executor
from leoflow.executors.inline_http import InlineHttpExecutor
from leoflow.executors.router import ExecutorRouter
from leoflow.executors.subprocess import SubprocessExecutor
from leoflow.lite.venvs import VenvManager
from leoflow.logs import TaskLogs, build_task_logs
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.secrets import SecretCipher, SecretKeyError
from leoflow.staging import DirectoryStaging
from leoflow.store.pool import Pool
from leoflow.telemetry import get_logger
from leoflow.xcom import XComService, build_xcom_service

log = get_logger(__name__)


def cipher_from_settings(settings: Settings) -> SecretCipher | None:
    """The connection cipher, or ``None`` (with a warning) when no usable key is set:
    connections without sealed fields are still delivered."""
    if settings.secret_key is None:
        return None
    previous = settings.secret_key_previous
    try:
        return SecretCipher.from_settings_values(
            settings.secret_key.get_secret_value(),
            previous.get_secret_value() if previous else None,
        )
    except SecretKeyError as exc:
        log.warning("connections cannot be delivered to tasks", error=str(exc))
        return None


class ExecutionPlane:
    """Agent service, XCom, task logs and executors of one process."""

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        jwt_secret: str | None = None,
        cipher: SecretCipher | None = None,
        venvs: VenvManager | None = None,
        dag_dir_for: Callable[[str], Path | None] | None = None,
    ) -> None:
        self.pool = pool
        self._dag_dir_for = dag_dir_for
        self.settings = settings
        secret = jwt_secret or (
            settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        )
        self.jwt_secret = secret or ephemeral_jwt_secret()
        home = Path(settings.home)
        self.catalog = DagCatalog(pool, settings.task_defaults)
        self.xcom: XComService = build_xcom_service(settings, pool)
        self.logs: TaskLogs = build_task_logs(settings)
        self.service = AgentService(
            db=pool,
            settings=settings,
            jwt_secret=self.jwt_secret,
            xcom=self.xcom,
            logs=self.logs,
            catalog=self.catalog,
            cipher=cipher or cipher_from_settings(settings),
            staging_root=home / "staging",
        )
        self.staging = DirectoryStaging(
            pool,
            home / "staging",
            failed_retention_seconds=settings.staging_failed_retention_seconds,
        )
        """Per-run staging folders of the subprocess executor (swept while it is in use)."""
        self.server = AgentServer(self.service, settings)
        self.tokens = AgentTokenIssuer(
            self.jwt_secret, pool, expiration_seconds=settings.agent_token_expiration_seconds
        )
        self.venvs = venvs or VenvManager.from_settings(settings)
        self.executor: ExecutorRouter | None = None
        self._endpoint: AgentEndpoint | None = None
        self._background: list[asyncio.Task[Any]] = []

    def endpoint(self) -> AgentEndpoint:
        """Where agents dial (known once :meth:`start` has bound the port)."""
        if self._endpoint is None:
            raise RuntimeError("the execution plane is not started: no agent endpoint yet")
        return self._endpoint

    def executor_factory(self, reporter: TaskReporter) -> Executor:
        """Build the executors around the scheduler's reporter (pass to ``Scheduler``)."""
        self.service.bind_reporter(reporter)
        process: Executor
        if self.settings.task_executor() == "kubernetes":
            from leoflow.executors.kubernetes import KubernetesExecutor

            process = KubernetesExecutor(
                reporter=reporter,
                db=self.pool,
                settings=self.settings,
                tokens=self.tokens,
                logs=self.logs,
                catalog=self.catalog,
            )
            self.executor = ExecutorRouter(
                process,
                inline_http=self._inline_http(reporter),
                http_mode_default=self.settings.http_execution_mode_default,
            )
            return self.executor
        process = SubprocessExecutor(
            reporter=reporter,
            db=self.pool,
            catalog=self.catalog,
            logs=self.logs,
            venvs=self.venvs,
            tokens=self.tokens,
            endpoint=self.endpoint,
            settings=self.settings,
            dag_dir_for=self._dag_dir_for,
            staging=self.staging,
        )
        inline = InlineHttpExecutor(
            reporter=reporter,
            db=self.pool,
            catalog=self.catalog,
            xcom=self.xcom,
            logs=self.logs,
            settings=self.settings,
            tenant_of=self.tokens.tenant_of,
        )
        self.executor = ExecutorRouter(
            process,
            inline_http=inline,
            http_mode_default=self.settings.http_execution_mode_default,
        )
        return self.executor

    def _inline_http(self, reporter: TaskReporter) -> InlineHttpExecutor:
        return InlineHttpExecutor(
            reporter=reporter,
            db=self.pool,
            catalog=self.catalog,
            xcom=self.xcom,
            logs=self.logs,
            settings=self.settings,
            tenant_of=self.tokens.tenant_of,
        )

    async def start(self) -> AgentEndpoint:
        """Serve the agent port and start the XCom sweep and log retention."""
        self._endpoint = await self.server.start()
        if self.executor is not None and self.settings.task_executor() == "kubernetes":
            from leoflow.executors.kubernetes import KubernetesExecutor

            if isinstance(self.executor.default, KubernetesExecutor):
                await self.executor.default.start()  # watch task pods from now on
        if self.xcom.backend.name == "postgres":
            self._background.append(
                asyncio.create_task(
                    self.xcom.sweep_forever(self.settings.xcom_sweep_interval_seconds),
                    name="xcom-sweep",
                )
            )
        self._background.append(
            asyncio.create_task(
                self.logs.retention_forever(self.settings.log_retention_days),
                name="log-retention",
            )
        )
        if self.executor is not None and self.settings.task_executor() == "subprocess":
            self._background.append(
                asyncio.create_task(
                    self.staging.sweep_forever(self.settings.staging_sweep_interval_seconds),
                    name="staging-sweep",
                )
            )
        return self._endpoint

    async def stop(self) -> None:
        """Stop executors (agents get SIGTERM and report), then the server and backends."""
        if self.executor is not None:
            await self.executor.close()
        await self.server.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        with contextlib.suppress(Exception):
            await self.xcom.close()
        with contextlib.suppress(Exception):
            await self.logs.close()
