"""Reading task pods: what state a pod is in, and a list-then-watch loop that never ends.

A try's outcome normally arrives from its agent. The watch is for the cases where no agent
can report: the image cannot be pulled, the container was OOM-killed or evicted, the pod was
deleted, or it cannot be scheduled. :func:`read_pod` turns a Pod manifest into a
:class:`PodReading` (pure, tested on recorded manifests); :class:`PodWatcher` feeds every
change of the installation's task pods to a handler, re-listing after a ``410 Gone`` or a lost
connection so no change is missed for long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from leoflow.executors.kubernetes.client import KubeApi, Manifest, WatchExpired
from leoflow.executors.kubernetes.pod_builder import (
    ANNOTATION_PREFIX,
    CONTAINER_NAME,
    LABEL_RUN_UUID,
    LABEL_TI,
    LABEL_TRY_NUMBER,
    TryIdentity,
)
from leoflow.telemetry import get_logger

log = get_logger(__name__)

FATAL_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "ImageInspectError",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Container waiting reasons after which the pod will not start on its own (Airflow's
``worker_pod_pending_fatal_container_state_reasons`` plus the image-pull back-off)."""

IMAGE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)


class Problem(StrEnum):
    """Why a pod ended (or will never start) without its agent reporting."""

    IMAGE = "image"
    CONFIG = "config"
    OOM_KILLED = "oom_killed"
    EVICTED = "evicted"
    DEADLINE = "deadline"
    EXITED = "exited"
    UNSCHEDULABLE = "unschedulable"
    NOT_STARTED = "not_started"
    DELETED = "deleted"


DEFINITIVE = frozenset(
    {Problem.IMAGE, Problem.CONFIG, Problem.OOM_KILLED, Problem.EVICTED, Problem.DEADLINE}
)
"""Problems that fail the try at once; the others wait for a timeout or a grace period."""


@dataclass(frozen=True)
class PodReading:
    """What a pod's status says, in the terms the executor acts on."""

    phase: str
    problem: Problem | None = None
    reason: str | None = None
    """One line for the task's log and note, naming what happened and, where known, the fix."""
    stuck_since: datetime | None = None
    """Pending without starting (unschedulable, or containers not created) since then."""
    finished_at: datetime | None = None
    created_at: datetime | None = None
    deleting: bool = False

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from a manifest (``...Z``) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _task_container(status: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = status.get("containerStatuses") or []
    for item in containers:
        if item.get("name") == CONTAINER_NAME:
            return dict(item)
    return dict(containers[0]) if containers else {}


def container_started_at(pod: Mapping[str, Any]) -> datetime | None:
    """When the task container started running (end of the pod's Pending time), if it did."""
    container = _task_container(pod.get("status") or {})
    running = (container.get("state") or {}).get("running") or {}
    return parse_time(running.get("startedAt"))


def _memory_limit(pod: Mapping[str, Any]) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER_NAME:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return str(limit) if limit else None
    return None


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def _finished_at(status: Mapping[str, Any], container: Mapping[str, Any]) -> datetime | None:
    terminated = (container.get("state") or {}).get("terminated") or {}
    finished = parse_time(terminated.get("finishedAt"))
    if finished is not None:
        return finished
    ready = _condition(status, "Ready")
    return parse_time(ready.get("lastTransitionTime")) if ready else None


def _terminal_reading(pod: Mapping[str, Any], base: dict[str, Any]) -> PodReading:
    status = pod.get("status") or {}
    container = _task_container(status)
    base["finished_at"] = _finished_at(status, container)
    pod_reason = status.get("reason")
    message = (status.get("message") or "").strip()
    if pod_reason == "Evicted":
        return PodReading(
            **base, problem=Problem.EVICTED, reason=f"pod was evicted: {message or 'no detail'}"
        )
    if pod_reason == "DeadlineExceeded":
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        return PodReading(
            **base,
            problem=Problem.DEADLINE,
            reason=f"pod exceeded its activeDeadlineSeconds ({deadline} s: the execution "
            "timeout plus the margin for image pull and start-up)",
        )
    terminated = (container.get("state") or {}).get("terminated") or {}
    if terminated.get("reason") == "OOMKilled":
        limit = _memory_limit(pod)
        where = f" limit of {limit}" if limit else " limit"
        return PodReading(
            **base,
            problem=Problem.OOM_KILLED,
            reason=f"OOMKilled: the task used more memory than its{where}; raise "
            "resources.limits.memory for this task in leoflow.yaml",
        )
    disruption = _condition(status, "DisruptionTarget")
    if base["phase"] == "Failed" and disruption and disruption.get("status") == "True":
        detail = disruption.get("message") or disruption.get("reason") or "disrupted"
        return PodReading(**base, problem=Problem.EVICTED, reason=f"pod was evicted: {detail}")
    if base["phase"] == "Failed":
        code = terminated.get("exitCode")
        why = terminated.get("reason") or pod_reason or "Error"
        text = f"task container exited with code {code} ({why})"
        if terminated.get("message"):
            text += f": {str(terminated['message']).strip()[:500]}"
        return PodReading(**base, problem=Problem.EXITED, reason=text)
    return PodReading(
        **base,
        problem=Problem.EXITED,
        reason="task container exited without the agent reporting the task's outcome",
    )


def read_pod(pod: Mapping[str, Any]) -> PodReading:
    """Classify a Pod manifest; ``problem`` is ``None`` while all is well."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    base: dict[str, Any] = {
        "phase": phase,
        "created_at": parse_time(metadata.get("creationTimestamp")),
        "deleting": bool(metadata.get("deletionTimestamp")),
    }
    if phase in ("Succeeded", "Failed"):
        return _terminal_reading(pod, base)
    container = _task_container(status)
    waiting = (container.get("state") or {}).get("waiting") or {}
    waiting_reason = waiting.get("reason")
    if waiting_reason in FATAL_WAITING_REASONS:
        image = container.get("image") or _image(pod)
        message = (waiting.get("message") or "").strip()
        if waiting_reason in IMAGE_REASONS:
            text = f"{waiting_reason}: cannot pull image {image}"
            text += f" ({message[:500]})" if message else ""
            text += "; check the image name and tag, and the pull secrets of the namespace"
            return PodReading(**base, problem=Problem.IMAGE, reason=text)
        text = f"{waiting_reason}: {message[:500] or 'the container cannot be created'}"
        return PodReading(**base, problem=Problem.CONFIG, reason=text)
    scheduled = _condition(status, "PodScheduled")
    if phase == "Pending" and scheduled and scheduled.get("status") == "False":
        since = parse_time(scheduled.get("lastTransitionTime")) or base["created_at"]
        message = scheduled.get("message") or scheduled.get("reason") or "unschedulable"
        return PodReading(
            **base,
            problem=Problem.UNSCHEDULABLE,
            reason=f"pod could not be scheduled: {message}",
            stuck_since=since,
        )
    if phase == "Pending":
        since = (parse_time(scheduled.get("lastTransitionTime")) if scheduled else None) or base[
            "created_at"
        ]
        detail = waiting_reason or "waiting to start"
        return PodReading(
            **base,
            problem=Problem.NOT_STARTED,
            reason=f"pod did not start ({detail}; see `kubectl describe pod` for its events)",
            stuck_since=since,
        )
    return PodReading(**base)


def _image(pod: Mapping[str, Any]) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER_NAME:
            return str(container.get("image"))
    return "?"


def identity_of(pod: Mapping[str, Any]) -> TryIdentity | None:
    """The try a pod (or token Secret) belongs to, from its labels and annotations."""
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    notes = metadata.get("annotations") or {}
    try:
        return TryIdentity(
            tenant=notes[f"{ANNOTATION_PREFIX}tenant"],
            dag_id=notes[f"{ANNOTATION_PREFIX}dag-id"],
            run_id=notes[f"{ANNOTATION_PREFIX}run-id"],
            task_id=notes[f"{ANNOTATION_PREFIX}task-id"],
            try_number=int(labels[LABEL_TRY_NUMBER]),
            ti_id=UUID(labels[LABEL_TI]),
            run_uuid=UUID(labels[LABEL_RUN_UUID]),
            map_index=int(notes.get(f"{ANNOTATION_PREFIX}map-index", "-1")),
        )
    except (KeyError, ValueError):
        return None


EventHandler = Callable[[str, Manifest], Awaitable[None]]
SnapshotHandler = Callable[[list[Manifest]], Awaitable[None]]


class PodWatcher:
    """List, then watch from the list's resource version; repeat after any interruption."""

    def __init__(
        self,
        api: KubeApi,
        labels: Mapping[str, str],
        on_event: EventHandler,
        on_snapshot: SnapshotHandler,
        *,
        kind: str = "Pod",
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self._api = api
        self._labels = dict(labels)
        self._on_event = on_event
        self._on_snapshot = on_snapshot
        self._kind = kind
        self._max_backoff = max_backoff_seconds
        self.synced = asyncio.Event()
        """Set once the first list has been handled (tests and readiness wait on it)."""
        self.relists = 0

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                items, version = await self._api.list_objects(self._kind, self._labels)
                self.relists += 1
                await self._on_snapshot(items)
                self.synced.set()
                failures = 0
                async for event_type, obj in self._api.watch(self._kind, self._labels, version):
                    if event_type in ("ADDED", "MODIFIED", "DELETED"):
                        await self._handle(event_type, obj)
            except asyncio.CancelledError:
                raise
            except WatchExpired:
                log.info("pod watch expired; listing again")
            except Exception as exc:
                failures += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(failures, 6))
                log.warning("pod watch interrupted", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)

    async def _handle(self, event_type: str, obj: Manifest) -> None:
        """One bad event (or a bug in handling it) never stops the watch."""
        try:
            await self._on_event(event_type, obj)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            name = (obj.get("metadata") or {}).get("name")
            log.exception("handling a pod event failed", pod=name, error=str(exc))


async def cancel_quietly(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait for it, swallowing its cancellation."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
