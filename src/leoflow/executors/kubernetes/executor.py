"""The Pro executor: one Kubernetes pod per task instance try.

``submit`` creates the try's token Secret and Pod (and its run's staging claim) and returns;
the agent inside reports the outcome over gRPC. The executor itself only speaks for a try when
no agent can: a watch on the installation's task pods notices pods that cannot pull their
image, were OOM-killed, evicted, deleted, cannot be scheduled or never start, and fails the
try through the same guarded transition the agent uses, with the reason in the try's log and
note. A janitor deletes finished pods after a delay, orphaned pods and Secrets, and due or
orphaned staging claims.

Every replica may run the watch and the janitor: failing a try is a compare-and-set that only
one writer wins, and deleting what is already gone is a no-op. ``should_reconcile`` lets the
composition root restrict the janitor to the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry.trace import Status, StatusCode

from leoflow.agentapi.tokens import AgentTokenIssuer
from leoflow.config import Settings
from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.executors.inline_http import runs_inline
from leoflow.executors.kubernetes.client import KubeApi, KubeApiError, LightkubeApi, Manifest
from leoflow.executors.kubernetes.gc import plan_cleanup, try_is_active
from leoflow.executors.kubernetes.pod_builder import (
    COMPONENT_TASK,
    COMPONENT_TOKEN,
    CONTAINER_NAME,
    LABEL_TI,
    LABEL_TRY_NUMBER,
    PodOptions,
    PodRequest,
    TryIdentity,
    build_pod,
    build_token_secret,
    pod_name,
    selector,
)
from leoflow.executors.kubernetes.staging import PvcStaging
from leoflow.executors.kubernetes.watcher import (
    DEFINITIVE,
    PodReading,
    PodWatcher,
    Problem,
    cancel_quietly,
    container_started_at,
    identity_of,
    read_pod,
)
from leoflow.logs import TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.spec.task_spec import TaskType
from leoflow.states import TaskState
from leoflow.store import staging_volumes as staging_store
from leoflow.store.pod_queries import set_try_note
from leoflow.store.pool import Database
from leoflow.store.task_context import current_try_states
from leoflow.telemetry import get_logger, get_tracer
from leoflow.telemetry.metrics import (
    KUBERNETES_CLEANUPS,
    KUBERNETES_POD_CREATE_DURATION,
    KUBERNETES_POD_FAILURES,
    KUBERNETES_POD_PENDING_DURATION,
    KUBERNETES_PODS_CREATED,
    KUBERNETES_PODS_RUNNING,
)

log = get_logger(__name__)
tracer = get_tracer(__name__)

POD_LOG_TAIL_LINES = 40
"""Last lines of a failed pod's own output copied into the try's log (agent start-up errors
happen before the agent can stream anything)."""


STAGING_CAUSES = {
    staging_store.REASON_RUN_SUCCEEDED: "run_succeeded",
    staging_store.REASON_RUN_FAILED: "run_failed",
    staging_store.REASON_ORPHANED: "orphaned",
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PodFailure:
    """A try failed by the executor (tests and metrics read these)."""

    pod: str
    identity: TryIdentity
    problem: Problem
    reason: str


def pod_agent_address(settings: Settings, override: str | None = None) -> str:
    """The address task pods dial for the agent service; ``ValueError`` naming the setting
    when none is configured (``leoflow server`` checks this before it starts)."""
    address = override or settings.kubernetes.agent_address or settings.agent_advertise_address
    if not address:
        raise ValueError(
            "the kubernetes executor needs the address task pods dial for the agent "
            "service: set LEOFLOW_KUBERNETES__AGENT_ADDRESS (e.g. leoflow-grpc.leoflow.svc"
            ":50051) or LEOFLOW_AGENT_ADVERTISE_ADDRESS"
        )
    return address


class KubernetesExecutor:
    """Runs tries as pods; see the module docstring for the division of labour."""

    name = "kubernetes"

    def __init__(
        self,
        *,
        reporter: TaskReporter,
        db: Database,
        settings: Settings,
        tokens: AgentTokenIssuer,
        logs: TaskLogs,
        agent_address: str | None = None,
        agent_tls: bool | None = None,
        api: KubeApi | None = None,
        catalog: DagCatalog | None = None,
        clock: Callable[[], datetime] = _now,
        should_reconcile: Callable[[], bool] | None = None,
    ) -> None:
        k8s = settings.kubernetes
        address = pod_agent_address(settings, agent_address)
        tls = agent_tls if agent_tls is not None else settings.agent_tls_cert_file is not None
        self.settings = settings
        self.options = PodOptions.from_settings(k8s, agent_address=address, agent_tls=tls)
        self.api: KubeApi = api or LightkubeApi(k8s)
        self._reporter = reporter
        self._db = db
        self._tokens = tokens
        self._logs = logs
        self._catalog = catalog or DagCatalog(db, settings.task_defaults)
        self._clock = clock
        self.should_reconcile = should_reconcile or (lambda: True)
        self.staging = PvcStaging(self.api, db, k8s, clock=clock)
        self.failures: list[PodFailure] = []
        self._deleting: set[str] = set()
        self._timers: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._watcher = PodWatcher(
            self.api,
            selector(k8s.instance, COMPONENT_TASK),
            self._on_event,
            self._on_snapshot,
        )
        self._known: dict[str, TryIdentity] = {}
        self._phases: dict[str, str] = {}
        self._ran: set[str] = set()
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the pod watch and the janitor (idempotent; ``submit`` calls it too)."""
        if self._started or self._closed:
            return
        self._started = True
        self._background = [
            asyncio.create_task(self._watcher.run(), name="kubernetes-pod-watch"),
            asyncio.create_task(self._janitor_loop(), name="kubernetes-janitor"),
        ]

    async def wait_synced(self) -> None:
        """Wait until the first pod list was handled (callers bound the wait)."""
        await self.start()
        await self._watcher.synced.wait()

    async def close(self) -> None:
        self._closed = True
        for task in [*self._background, *(armed[1] for armed in self._timers.values())]:
            await cancel_quietly(task)
        self._background.clear()
        self._timers.clear()
        await self.api.close()

    # --- submit / cancel ---------------------------------------------------------------------

    async def submit(self, launch: TaskLaunch) -> None:
        compiled = await self._catalog.get(launch.dag_version_id)
        task = compiled.tasks.get(launch.task_id)
        if task is None:
            raise ExecutorRefused(f"task '{launch.task_id}' is not in this DAG version")
        if task.type is TaskType.EMPTY:
            raise ExecutorRefused("empty tasks complete in the scheduler; they get no pod")
        if runs_inline(task, self.settings.http_execution_mode_default):
            raise ExecutorRefused(
                f"task '{launch.task_id}' is an inline http_api task; it runs in the control "
                "plane, not in a pod (set execution_mode: pod to give it one)"
            )
        image = compiled.spec.image or self.settings.kubernetes.default_image
        if not image:
            raise ExecutorRefused(
                f"DAG '{launch.dag_id}' has no image: compile it with `leoflow compile --build "
                "--push`, or set LEOFLOW_KUBERNETES__DEFAULT_IMAGE for DAGs without one"
            )
        tenant = await self._tokens.tenant_of(launch.run_uuid)
        identity = TryIdentity(
            tenant=tenant,
            dag_id=launch.dag_id,
            run_id=launch.run_id,
            task_id=launch.task_id,
            try_number=launch.try_number,
            ti_id=launch.ti_id,
            run_uuid=launch.run_uuid,
            map_index=launch.map_index,
        )
        timeout = compiled.execution_timeout(launch.task_id)
        claim = await self._staging_claim(compiled, identity)
        token = await self._tokens.mint(launch, timeout, executor=self.name)
        pod = build_pod(
            PodRequest(identity, image, task, timeout, claim, traceparent=launch.traceparent),
            self.options,
        )
        secret = build_token_secret(identity, token, self.options)
        await self.start()
        name = pod["metadata"]["name"]
        created, fresh = await self._create_pod(secret, pod)
        self._known[name] = identity
        if fresh and (created.get("metadata") or {}).get("uid"):
            try:
                await self.api.set_owner("Secret", name, created)
            except KubeApiError as exc:  # the janitor deletes the Secret with the pod anyway
                log.warning("cannot set the owner of a token secret", secret=name, error=str(exc))
        log.info(
            "pod created" if fresh else "pod already exists",
            pod=name,
            dag_id=launch.dag_id,
            run_id=launch.run_id,
            task_id=launch.task_id,
            try_number=launch.try_number,
        )

    async def _create_pod(self, secret: Manifest, pod: Manifest) -> tuple[Manifest, bool]:
        """Create the token Secret and the Pod, in the ``executor.create_pod`` span (a child of
        ``executor.submit``), timed and counted by result."""
        name = pod["metadata"]["name"]
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "executor.create_pod",
            attributes={"k8s.pod.name": name, "k8s.namespace.name": self.options.namespace},
        ) as span:
            try:
                await self.api.create(secret)
                created, fresh = await self.api.create(pod)
            except KubeApiError as exc:
                KUBERNETES_PODS_CREATED.labels("failed").inc()
                span.set_status(Status(StatusCode.ERROR, f"HTTP {exc.status}"))
                raise ExecutorRefused(
                    f"cannot create the pod in namespace {self.options.namespace}: {exc}"
                ) from exc
            span.set_attribute("leoflow.pod_created", fresh)
        KUBERNETES_POD_CREATE_DURATION.observe(time.perf_counter() - started)
        KUBERNETES_PODS_CREATED.labels("created" if fresh else "already_exists").inc()
        return created, fresh

    async def _staging_claim(self, compiled: CompiledDag, identity: TryIdentity) -> str | None:
        staging = compiled.spec.staging
        if staging is None or not staging.enabled:
            return None
        return await self.staging.ensure(
            tenant=identity.tenant,
            dag_id=identity.dag_id,
            run_id=identity.run_id,
            run_uuid=identity.run_uuid,
            staging=staging,
        )

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        """Delete the try's pod (the agent gets SIGTERM and its grace period)."""
        names = [
            name
            for name, ident in self._known.items()
            if ident.ti_id == ti_id and ident.try_number == try_number
        ]
        if not names:
            labels = {
                **selector(self.options.instance, COMPONENT_TASK),
                LABEL_TI: str(ti_id),
                LABEL_TRY_NUMBER: str(try_number),
            }
            pods, _ = await self.api.list_objects("Pod", labels)
            names = [str(p["metadata"]["name"]) for p in pods]
        for name in names:
            await self._delete_pod(name, "cancelled", cause="cancelled")

    async def _delete_pod(
        self, name: str, why: str, *, cause: str, grace_seconds: int | None = None
    ) -> None:
        self._deleting.add(name)
        self._cancel_timer(name)
        try:
            gone = await self.api.delete("Pod", name, grace_seconds=grace_seconds)
            await self.api.delete("Secret", name)
        except KubeApiError as exc:
            self._deleting.discard(name)
            log.warning("cannot delete pod", pod=name, reason=why, error=str(exc))
            return
        if not gone:
            self._deleting.discard(name)
            self._known.pop(name, None)
            return
        KUBERNETES_CLEANUPS.labels("pod", cause).inc()
        log.info("pod deleted", pod=name, reason=why)

    # --- the watch -----------------------------------------------------------------------------

    async def _on_snapshot(self, pods: list[Manifest]) -> None:
        """After a (re)list: pods that vanished while the watch was down were deleted."""
        present = {str(p["metadata"]["name"]) for p in pods}
        for name, identity in list(self._known.items()):
            if name not in present:
                await self._on_deleted(name, identity)
        for pod in pods:
            await self._on_event("ADDED", pod)

    async def _on_event(self, event_type: str, pod: Manifest) -> None:
        name = str(pod["metadata"]["name"])
        identity = identity_of(pod)
        if identity is None:
            return
        if event_type == "DELETED":
            await self._on_deleted(name, identity)
            return
        self._known[name] = identity
        reading = read_pod(pod)
        self._observe_phase(name, pod, reading)
        if reading.problem is None:
            self._cancel_timer(name)
            return
        if reading.problem in DEFINITIVE:
            self._cancel_timer(name)
            await self._fail(name, identity, reading.problem, reading.reason or "", pod=pod)
        elif reading.problem in (Problem.UNSCHEDULABLE, Problem.NOT_STARTED):
            self._arm_start_timer(name, identity, reading)
        elif reading.problem is Problem.EXITED:
            states = await current_try_states(self._db, [identity.ti_id])
            if try_is_active(states, identity.ti_id, identity.try_number):
                self._arm_report_timer(name, identity, reading)

    def _observe_phase(self, name: str, pod: Manifest, reading: PodReading) -> None:
        """Pods running (gauge) and, when a pod first runs, how long it was Pending."""
        before = self._phases.get(name)
        self._phases[name] = reading.phase
        if reading.phase == "Running" and before in (None, "Pending") and name not in self._ran:
            self._ran.add(name)
            started = container_started_at(pod) or self._clock()
            if reading.created_at is not None:
                KUBERNETES_POD_PENDING_DURATION.observe(
                    max((started - reading.created_at).total_seconds(), 0.0)
                )
        KUBERNETES_PODS_RUNNING.set(sum(1 for p in self._phases.values() if p == "Running"))

    def _forget_phase(self, name: str) -> None:
        self._phases.pop(name, None)
        self._ran.discard(name)
        KUBERNETES_PODS_RUNNING.set(sum(1 for p in self._phases.values() if p == "Running"))

    async def _on_deleted(self, name: str, identity: TryIdentity) -> None:
        self._known.pop(name, None)
        self._forget_phase(name)
        self._cancel_timer(name)
        if name in self._deleting:
            self._deleting.discard(name)
            return
        await self._fail(
            name,
            identity,
            Problem.DELETED,
            f"pod {name} was deleted before the task finished (by an operator, a node drain "
            "or an eviction)",
            pod=None,
        )

    def _arm(self, name: str, kind: str, delay: float, check: Coroutine[Any, Any, None]) -> None:
        """Run ``check`` after ``delay`` unless a timer of the same kind is already armed
        (a pod that stays unschedulable keeps its first deadline); another kind replaces it."""
        armed = self._timers.get(name)
        if armed is not None and armed[0] == kind:
            check.close()
            return
        self._cancel_timer(name)

        async def later() -> None:
            try:
                await asyncio.sleep(max(0.0, delay))
                await check
            except asyncio.CancelledError:
                check.close()
                raise
            except Exception as exc:
                log.exception("pod check failed", pod=name, error=str(exc))
            finally:
                current = self._timers.get(name)
                if current is not None and current[1] is asyncio.current_task():
                    del self._timers[name]

        self._timers[name] = (kind, asyncio.create_task(later(), name=f"pod-check-{name}"))

    def _cancel_timer(self, name: str) -> None:
        armed = self._timers.get(name)
        if armed is None or armed[1] is asyncio.current_task():
            return
        del self._timers[name]
        armed[1].cancel()

    def _arm_start_timer(self, name: str, identity: TryIdentity, reading: PodReading) -> None:
        timeout = self.settings.kubernetes.unschedulable_timeout_seconds
        since = reading.stuck_since or self._clock()
        delay = (since - self._clock()).total_seconds() + timeout
        self._arm(name, "start", delay, self._recheck(name, identity, timeout))

    def _arm_report_timer(self, name: str, identity: TryIdentity, reading: PodReading) -> None:
        grace = self.settings.kubernetes.report_grace_seconds
        finished = reading.finished_at or self._clock()
        delay = (finished - self._clock()).total_seconds() + grace
        self._arm(name, "report", delay, self._recheck(name, identity, grace))

    async def _recheck(self, name: str, identity: TryIdentity, waited: float) -> None:
        """A timer fired: fail the try if the pod is still stuck (or ended unreported)."""
        pod = await self.api.get("Pod", name)
        if pod is None:
            return
        reading = read_pod(pod)
        if reading.problem is None:
            return
        reason = reading.reason or "pod problem"
        if reading.problem in (Problem.UNSCHEDULABLE, Problem.NOT_STARTED):
            reason = f"{reason}; gave up after {waited:g} s"
        await self._fail(name, identity, reading.problem, reason, pod=pod)

    # --- failing a try -------------------------------------------------------------------------

    async def _fail(
        self,
        name: str,
        identity: TryIdentity,
        problem: Problem,
        reason: str,
        *,
        pod: Mapping[str, Any] | None,
    ) -> None:
        """Fail the try (if it is still the active one) with ``reason`` in its log and note."""
        states = await current_try_states(self._db, [identity.ti_id])
        if try_is_active(states, identity.ti_id, identity.try_number):
            tail = await self._pod_log_tail(name) if pod is not None else []
            result = await self._reporter.report(
                identity.ti_id, identity.try_number, TaskState.FAILED, error=reason
            )
            if result.applied:
                self.failures.append(PodFailure(name, identity, problem, reason))
                KUBERNETES_POD_FAILURES.labels(problem.value).inc()
                await self._record(identity, reason, tail, result.target)
                log.warning(
                    "task pod failed",
                    pod=name,
                    problem=problem.value,
                    reason=reason,
                    dag_id=identity.dag_id,
                    task_id=identity.task_id,
                    try_number=identity.try_number,
                )
        if pod is not None and not read_pod(pod).terminal:
            # A pod that never started would sit there (pulling, pending) forever.
            await self._delete_pod(name, problem.value, cause="failed")

    async def _pod_log_tail(self, name: str) -> list[str]:
        with contextlib.suppress(KubeApiError):
            return await self.api.read_log(name, CONTAINER_NAME, POD_LOG_TAIL_LINES)
        return []

    async def _record(
        self, identity: TryIdentity, reason: str, tail: list[str], target: TaskState | None
    ) -> None:
        await set_try_note(self._db, identity.ti_id, identity.try_number, reason)
        ref = TryLogRef(
            identity.tenant,
            identity.dag_id,
            identity.run_id,
            identity.task_id,
            identity.try_number,
            identity.map_index,
        )
        await self._logs.write(ref, f"[leoflow] {reason}", level="error")
        if tail:
            await self._logs.write(ref, f"[leoflow] last {len(tail)} lines of the pod's output:")
            for line in tail:
                await self._logs.write(ref, f"[pod] {line}")
        if target is TaskState.UP_FOR_RETRY:
            await self._logs.write(ref, f"[leoflow] try {identity.try_number} up for retry")
        await self._logs.end(ref)

    # --- the janitor ---------------------------------------------------------------------------

    async def _janitor_loop(self) -> None:
        interval = self.settings.kubernetes.reconcile_interval_seconds
        while True:
            await asyncio.sleep(interval)
            if not self.should_reconcile():
                continue
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kubernetes reconcile pass failed", error=str(exc))

    async def reconcile(self) -> None:
        """One janitor pass: finished and orphaned pods, stray Secrets, staging claims."""
        k8s = self.settings.kubernetes
        pods, _ = await self.api.list_objects("Pod", selector(k8s.instance, COMPONENT_TASK))
        secrets, _ = await self.api.list_objects("Secret", selector(k8s.instance, COMPONENT_TOKEN))
        ids = [ident.ti_id for obj in (*pods, *secrets) if (ident := identity_of(obj))]
        states = await current_try_states(self._db, ids)
        plan = plan_cleanup(
            pods,
            secrets,
            states,
            self._clock(),
            gc_delay_seconds=k8s.gc_delay_seconds,
            orphan_grace_seconds=k8s.orphan_grace_seconds,
        )
        for item in plan:
            if item.kind == "Pod":
                await self._delete_pod(item.name, item.reason, cause=item.cause)
            elif await self.api.delete("Secret", item.name):
                KUBERNETES_CLEANUPS.labels("secret", "orphaned").inc()
                log.info("token secret deleted", secret=item.name, reason=item.reason)
        for _, reason in await self.staging.sweep():
            KUBERNETES_CLEANUPS.labels("staging", STAGING_CAUSES.get(reason, "other")).inc()


def executor_pod_name(identity: TryIdentity) -> str:
    """The pod name of a try (for operators' tools and tests)."""
    return pod_name(identity)
