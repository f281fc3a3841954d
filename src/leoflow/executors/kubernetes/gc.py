"""Garbage collection of task pods and their token Secrets: what to delete, and why.

Pure planning over a snapshot (the pods and Secrets of this installation, and the state of
their tries), so every rule is unit-tested without a cluster or a database:

* a finished pod (``Succeeded``/``Failed``) is kept for ``gc_delay_seconds`` so an operator
  can still ``kubectl logs``/``describe`` it, then deleted;
* a pod that is not finished but whose try is no longer active (the try was cleared, marked,
  superseded, or its run deleted) is an orphan: deleted once older than the grace period,
  which covers the moment between a try being queued and its pod appearing;
* a token Secret whose pod is gone is deleted after the same grace (its owner reference
  normally lets Kubernetes do it first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from leoflow.executors.kubernetes.watcher import identity_of, parse_time, read_pod
from leoflow.states import TaskState

ACTIVE_STATES = frozenset({TaskState.QUEUED, TaskState.RUNNING})
"""States in which a try's pod is expected to exist and run."""


@dataclass(frozen=True)
class Cleanup:
    """One object to delete."""

    kind: str
    name: str
    reason: str
    cause: str = "orphaned"
    """Bounded label for metrics: ``completed`` or ``orphaned``."""


def try_is_active(
    states: Mapping[UUID, tuple[TaskState, int]], ti_id: UUID, try_number: int
) -> bool:
    current = states.get(ti_id)
    return current is not None and current[1] == try_number and current[0] in ACTIVE_STATES


def _describe(states: Mapping[UUID, tuple[TaskState, int]], ti_id: UUID | None) -> str:
    if ti_id is None:
        return "it names no task instance"
    current = states.get(ti_id)
    if current is None:
        return "its task instance no longer exists"
    return f"its task instance is on try {current[1]} in state {current[0].value}"


def plan_cleanup(
    pods: Sequence[Mapping[str, Any]],
    secrets: Sequence[Mapping[str, Any]],
    states: Mapping[UUID, tuple[TaskState, int]],
    now: datetime,
    *,
    gc_delay_seconds: float,
    orphan_grace_seconds: float,
) -> list[Cleanup]:
    """Everything to delete now, pods first."""
    gc_delay = timedelta(seconds=gc_delay_seconds)
    grace = timedelta(seconds=orphan_grace_seconds)
    plan: list[Cleanup] = []
    remaining: set[str] = set()
    for pod in pods:
        name = str(pod["metadata"]["name"])
        reading = read_pod(pod)
        if reading.deleting:
            continue
        if reading.terminal:
            finished = reading.finished_at or reading.created_at or now
            if finished + gc_delay <= now:
                plan.append(Cleanup("Pod", name, f"finished {reading.phase.lower()}", "completed"))
                continue
        else:
            identity = identity_of(pod)
            active = identity is not None and try_is_active(
                states, identity.ti_id, identity.try_number
            )
            created = reading.created_at or now
            if not active and created + grace <= now:
                why = _describe(states, identity.ti_id if identity else None)
                plan.append(Cleanup("Pod", name, f"orphaned: {why}"))
                continue
        remaining.add(name)
    for secret in secrets:
        metadata = secret["metadata"]
        name = str(metadata["name"])
        created = parse_time(metadata.get("creationTimestamp")) or now
        if name not in remaining and created + grace <= now:
            plan.append(Cleanup("Secret", name, "its pod is gone"))
    return plan
