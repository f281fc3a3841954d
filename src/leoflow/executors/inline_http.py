"""Inline ``http_api`` tasks: one HTTP request made by the control plane itself.

No process, no pod: for a webhook or a health check that is all a task is, and starting an
interpreter for it would cost more than the call. Because the request leaves from the control
plane, every target is checked by :mod:`leoflow.executors.ssrf` (each redirect hop too), the
number of requests in flight is capped, and a try may not last longer than the server's limit
(300 s by default): a DAG declaring a longer timeout is refused when it is registered, with
the fix (``execution_mode: pod``). The response text becomes the task's XCom, as Airflow's
``HttpOperator`` returns it, when it fits the XCom limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx

from leoflow.config import Settings
from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.executors.ssrf import TargetPolicy, TargetRefused, checked_addresses
from leoflow.logs import TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.spec import DagSpec, HttpRequest, TaskSpec
from leoflow.spec.task_spec import ExecutionMode, TaskType
from leoflow.states import TaskState
from leoflow.store.pool import Database
from leoflow.store.task_context import keep_queued
from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import INLINE_HTTP_DURATION, INLINE_HTTP_REQUESTS, SSRF_REFUSALS
from leoflow.xcom import RunScope, XComAddress, XComRejected, XComService
from leoflow.xcom.policy import human_size

log = get_logger(__name__)

MAX_REDIRECTS = 5
KEEP_QUEUED_SECONDS = 30.0
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

TenantOf = Callable[[UUID], Awaitable[str]]


def runs_inline(task: TaskSpec, default_mode: str) -> bool:
    """Whether an ``http_api`` task runs inside the control plane."""
    if task.type is not TaskType.HTTP_API:
        return False
    mode = task.execution_mode.value if task.execution_mode else default_mode
    return mode == ExecutionMode.INLINE.value


def _declared_timeout(spec: DagSpec, task: TaskSpec, platform: float | None) -> float | None:
    values = [
        task.execution_timeout_seconds,
        spec.default_args.execution_timeout_seconds,
        platform,
    ]
    return next((float(v) for v in values if v is not None), None)


def inline_http_problems(spec: DagSpec, settings: Settings) -> list[str]:
    """Why a DAG cannot be registered on this server because of its inline HTTP tasks (empty
    when it can): a declared timeout longer than the server's inline limit. Call it where a DAG
    version is pushed or reloaded, and refuse the version with these messages."""
    limit = settings.inline_http_max_seconds
    problems: list[str] = []
    for task in spec.tasks:
        if not runs_inline(task, settings.http_execution_mode_default):
            continue
        timeout = _declared_timeout(spec, task, settings.task_defaults.execution_timeout_seconds)
        request_timeout = task.http_request.timeout_seconds if task.http_request else None
        longest = max((t for t in (timeout, request_timeout) if t is not None), default=None)
        if longest is not None and longest > limit:
            problems.append(
                f"task '{task.task_id}': declared timeout {longest:g} s exceeds the {limit:g} s "
                "limit of inline HTTP tasks (they run inside the control plane); set "
                f"execution_mode: pod for it in leoflow.yaml (tasks.{task.task_id}) to run it in "
                "its own pod or process, or lower its timeout"
            )
    return problems


def _safe_url(url: httpx.URL) -> str:
    """The URL without query or credentials (either may hold a token) for log lines."""
    shown = url.copy_with(query=None, fragment=None, username=None, password=None)
    return str(shown) + ("?…" if url.query else "")


def _body(request: HttpRequest, headers: dict[str, str]) -> bytes | None:
    if request.body is None:
        return None
    if isinstance(request.body, str):
        return request.body.encode("utf-8")
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(request.body).encode("utf-8")


class InlineHttpExecutor:
    """Runs inline ``http_api`` tries as coroutines of the control plane."""

    name = "inline_http"

    def __init__(
        self,
        *,
        reporter: TaskReporter,
        db: Database,
        catalog: DagCatalog,
        xcom: XComService,
        logs: TaskLogs,
        settings: Settings,
        tenant_of: TenantOf,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._reporter = reporter
        self._db = db
        self._catalog = catalog
        self._xcom = xcom
        self._logs = logs
        self._settings = settings
        self._tenant_of = tenant_of
        self._policy = TargetPolicy.from_settings(settings)
        self._slots = asyncio.Semaphore(settings.inline_http_concurrency)
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # an env proxy would connect on our behalf, past the guard
            limits=httpx.Limits(max_keepalive_connections=0),  # pinned IPs: never share TLS
        )
        self._tasks: dict[tuple[UUID, int], asyncio.Task[None]] = {}
        self._host = socket.gethostname()

    def effective_timeout(self, compiled: CompiledDag, task: TaskSpec) -> float:
        """The try's time budget: its declared timeout, capped by the inline limit."""
        limit = self._settings.inline_http_max_seconds
        declared = compiled.execution_timeout(task.task_id)
        request = task.http_request.timeout_seconds if task.http_request else None
        candidates = [t for t in (declared, request, limit) if t is not None]
        return float(min(candidates))

    async def submit(self, launch: TaskLaunch) -> None:
        compiled = await self._catalog.get(launch.dag_version_id)
        task = compiled.tasks[launch.task_id]
        if task.http_request is None:
            raise ExecutorRefused(f"task '{launch.task_id}' has no http_request")
        problems = inline_http_problems(compiled.spec, self._settings)
        mine = [p for p in problems if p.startswith(f"task '{launch.task_id}'")]
        if mine:
            raise ExecutorRefused(mine[0])
        key = (launch.ti_id, launch.try_number)
        job = asyncio.create_task(self._run(launch, compiled, task), name=f"http-{launch.task_id}")
        self._tasks[key] = job
        job.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def _log_ref(self, launch: TaskLaunch) -> TryLogRef:
        tenant = await self._tenant_of(launch.run_uuid)
        return TryLogRef(
            tenant,
            launch.dag_id,
            launch.run_id,
            launch.task_id,
            launch.try_number,
            launch.map_index,
        )

    async def _acquire_slot(self, launch: TaskLaunch) -> None:
        while True:
            try:
                await asyncio.wait_for(self._slots.acquire(), KEEP_QUEUED_SECONDS)
                return
            except TimeoutError:
                await keep_queued(self._db, launch.ti_id, launch.try_number)

    async def _run(self, launch: TaskLaunch, compiled: CompiledDag, task: TaskSpec) -> None:
        try:
            ref = await self._log_ref(launch)
            await self._acquire_slot(launch)
            try:
                started = await self._reporter.report(
                    launch.ti_id,
                    launch.try_number,
                    TaskState.RUNNING,
                    hostname=self._host,
                    pid=os.getpid(),
                )
                if not started.applied:
                    return
                state, error = await self._perform(launch, compiled, task, ref)
            finally:
                self._slots.release()
            result = await self._reporter.report(
                launch.ti_id, launch.try_number, state, error=error or None
            )
            if result.applied and result.target is TaskState.UP_FOR_RETRY:
                await self._logs.write(ref, f"[leoflow] try {launch.try_number} up for retry")
            await self._logs.end(ref)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leave a try running because of a bug here
            log.exception("inline http task crashed", task_id=launch.task_id, error=str(exc))
            with contextlib.suppress(Exception):
                await self._reporter.report(
                    launch.ti_id,
                    launch.try_number,
                    TaskState.FAILED,
                    error=f"inline HTTP executor error: {exc}",
                )

    async def _perform(
        self, launch: TaskLaunch, compiled: CompiledDag, task: TaskSpec, ref: TryLogRef
    ) -> tuple[TaskState, str]:
        request = task.http_request
        assert request is not None
        timeout = self.effective_timeout(compiled, task)
        url = httpx.URL(request.url)
        await self._logs.write(
            ref,
            f"[leoflow] try {launch.try_number}: inline {request.method} {_safe_url(url)} "
            f"(timeout {timeout:g} s)",
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                status, body, final_url = await self._send(request, timeout)
        except TimeoutError:
            INLINE_HTTP_REQUESTS.labels("timeout").inc()
            return TaskState.FAILED, f"timed out after {timeout:g} s"
        except TargetRefused as exc:
            INLINE_HTTP_REQUESTS.labels("refused").inc()
            SSRF_REFUSALS.labels(exc.kind).inc()
            await self._logs.write(ref, f"[leoflow] {exc}", level="error")
            return TaskState.FAILED, str(exc)
        except (httpx.HTTPError, OSError) as exc:
            INLINE_HTTP_REQUESTS.labels("error").inc()
            return TaskState.FAILED, f"request failed: {type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        INLINE_HTTP_DURATION.observe(elapsed)
        size = "over 1 MiB" if body is None else human_size(len(body))
        await self._logs.write(
            ref,
            f"[leoflow] {request.method} {_safe_url(final_url)} -> HTTP {status} in "
            f"{elapsed * 1000:.0f} ms ({size})",
        )
        codes = request.success_status_codes
        if not (status in codes if codes else 200 <= status < 300):
            INLINE_HTTP_REQUESTS.labels("failed").inc()
            expected = ", ".join(map(str, codes)) if codes else "2xx"
            return TaskState.FAILED, f"HTTP {status} from {url.host}; expected {expected}"
        INLINE_HTTP_REQUESTS.labels("success").inc()
        return await self._push_body(launch, compiled, task, ref, body)

    async def _push_body(
        self,
        launch: TaskLaunch,
        compiled: CompiledDag,
        task: TaskSpec,
        ref: TryLogRef,
        body: bytes | None,
    ) -> tuple[TaskState, str]:
        limit = self._xcom.policy.max_size_bytes
        text = None if body is None else body.decode("utf-8", "replace")
        encoded = None if text is None else json.dumps(text, ensure_ascii=False).encode()
        if encoded is None or len(encoded) > limit:
            await self._logs.write(
                ref,
                f"[leoflow] response body not kept as XCom: larger than the {human_size(limit)} "
                "XCom limit",
            )
            return TaskState.SUCCESS, ""
        scope = RunScope(ref.tenant, launch.dag_id, launch.run_uuid)
        try:
            await self._xcom.push(
                XComAddress(scope, launch.task_id, "return_value", launch.map_index),
                encoded,
                schema=task.xcom_schema,
                dag_ttl_seconds=compiled.spec.xcom_ttl_seconds,
            )
        except XComRejected as exc:
            await self._logs.write(
                ref, f"[leoflow] XCom refused ({exc.reason.value}): {exc.detail}", level="error"
            )
            return TaskState.FAILED, f"{exc.reason.value}: {exc.detail}"
        await self._logs.write(ref, f"[leoflow] returned str ({len(encoded)} B XCom)")
        return TaskState.SUCCESS, ""

    async def _send(
        self, request: HttpRequest, budget_seconds: float
    ) -> tuple[int, bytes | None, httpx.URL]:
        """Send with every hop's target checked and pinned; the final status, body (``None``
        when over the read cap) and URL."""
        headers = dict(request.headers)
        content = _body(request, headers)
        method = request.method
        url = httpx.URL(request.url)
        max_body = max(4 * self._xcom.policy.max_size_bytes, 1024 * 1024)
        for hop in range(MAX_REDIRECTS + 1):
            response = await self._send_once(method, url, headers, content, budget_seconds)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_CODES and location and hop < MAX_REDIRECTS:
                    url = url.join(location)
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, content = "GET", None
                    continue
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_body:
                        return response.status_code, None, url
                return response.status_code, bytes(body), url
            finally:
                await response.aclose()
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    async def _send_once(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
        budget_seconds: float,
    ) -> httpx.Response:
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await checked_addresses(self._policy, host, port)
        pinned = url.copy_with(host=str(addresses[0]))
        hop_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        hop_headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = {}
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        built = self._client.build_request(
            method,
            pinned,
            headers=hop_headers,
            content=content,
            timeout=budget_seconds,
            extensions=extensions,
        )
        return await self._client.send(built, stream=True)

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        job = self._tasks.pop((ti_id, try_number), None)
        if job is not None:
            job.cancel()

    async def close(self) -> None:
        jobs = list(self._tasks.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        self._tasks.clear()
        await self._client.aclose()
