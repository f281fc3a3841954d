"""The Kubernetes executor against a STAND-IN API server (no real kube-apiserver runs here).

Real executor, real PostgreSQL, real TaskReporter and task logs; the stand-in records every
request and serves watch events, and each test plays the cluster's part (status changes a
kubelet would write, deletions by an operator) to drive one path: create, watch to success,
every failure reason, GC, orphan reconcile, cancel, and the staging claim lifecycle.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kube_harness import IMAGE, NAMESPACE, K8sHarness, k8s_settings, make_harness
from kube_standin import StandInApiServer

from harness.execution import SECRET, dag_json, task
from leoflow.auth.tokens import verify_agent_token
from leoflow.executors.base import ExecutorRefused
from leoflow.executors.kubernetes.pod_builder import pod_name, staging_claim_name
from leoflow.executors.kubernetes.watcher import Problem
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import transition_dag_run
from leoflow.store.pool import Pool
from leoflow.store.staging_volumes import get_volume
from leoflow.store.task_instances import get_task_instance

pytestmark = pytest.mark.timeout(60)

ETL = dag_json("etl", [task("extract"), task("load", "extract")], image=IMAGE)


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status() -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {"name": "task", "image": IMAGE, "state": {"running": {"startedAt": ago(1)}}}
        ],
    }


def waiting_status(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(1)}],
        "containerStatuses": [
            {
                "name": "task",
                "image": IMAGE,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
    }


def terminated_status(
    phase: str, exit_code: int, reason: str, finished: str | None = None, **pod: Any
) -> dict[str, Any]:
    return {
        "phase": phase,
        **pod,
        "containerStatuses": [
            {
                "name": "task",
                "image": IMAGE,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "finishedAt": finished or ago(0),
                    }
                },
            }
        ],
    }


async def ti_state(pool: Pool, ti_id: Any) -> tuple[TaskState, str | None]:
    ti = await get_task_instance(pool, ti_id)
    assert ti is not None
    return ti.state, ti.note


async def started(k8s: K8sHarness, data: dict[str, Any] = ETL, task_id: str = "extract") -> Any:
    handle = await k8s.queued_run(data)
    launch = k8s.launch(handle, task_id)
    await k8s.executor.submit(launch)
    await asyncio.wait_for(k8s.executor.wait_synced(), 10)
    return handle, launch


# --- create -------------------------------------------------------------------------------------


async def test_submit_creates_token_secret_then_pod_and_never_puts_the_token_in_the_pod(
    k8s: K8sHarness,
) -> None:
    _, launch = await started(k8s)
    standin = k8s.standin
    posts = standin.calls("POST")
    assert [r.path for r in posts] == [
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        f"/api/v1/namespaces/{NAMESPACE}/pods",
    ]
    name = posts[1].body["metadata"]["name"]
    secret, pod = standin.get("secrets", name), standin.get("pods", name)
    assert secret is not None and pod is not None
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert token.count(".") == 2  # a JWT
    assert token not in json.dumps(pod)
    # The token says the try runs in a pod: the agent service then answers /staging.
    assert verify_agent_token(SECRET, token).executor == "kubernetes"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    labels = pod["metadata"]["labels"]
    assert labels["leoflow.io/task-instance"] == str(launch.ti_id)
    assert labels["leoflow.io/try-number"] == "1"
    assert pod["metadata"]["annotations"]["leoflow.io/run-id"] == launch.run_id
    container = pod["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert await ti_state(k8s.pool, launch.ti_id) == (TaskState.QUEUED, None)


async def test_duplicate_submit_of_one_try_is_harmless_and_api_errors_are_retried(
    k8s: K8sHarness,
) -> None:
    handle = await k8s.queued_run(ETL)
    launch = k8s.launch(handle, "extract")
    k8s.standin.fail_next("POST", "/pods", 503)
    await k8s.executor.submit(launch)
    await k8s.executor.submit(launch)
    assert k8s.standin.names("pods") == [pod_name(_identity(k8s, handle, "extract"))]
    assert len(k8s.standin.calls("POST", "/pods")) == 3  # 503, created, 409 AlreadyExists


async def test_api_down_refuses_the_launch_with_the_reason(k8s: K8sHarness) -> None:
    handle = await k8s.queued_run(ETL)
    for _ in range(4):
        k8s.standin.fail_next("POST", "/pods", 500)
    with pytest.raises(ExecutorRefused, match=r"cannot create the pod .*\(HTTP 500\)"):
        await k8s.executor.submit(k8s.launch(handle, "extract"))


async def test_dag_without_image_is_refused_with_the_fix(k8s: K8sHarness) -> None:
    handle = await k8s.queued_run(dag_json("noimage", [task("t")]))
    with pytest.raises(ExecutorRefused, match="compile it with `leoflow compile --build"):
        await k8s.executor.submit(k8s.launch(handle, "t"))


# --- watch to success ---------------------------------------------------------------------------


async def test_pod_running_then_succeeded_after_the_agent_reported_is_left_alone(
    k8s: K8sHarness,
) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    await k8s.standin.set_pod_status(name, running_status())
    await k8s.reporter.report(launch.ti_id, 1, TaskState.RUNNING)
    await k8s.reporter.report(launch.ti_id, 1, TaskState.SUCCESS)
    await k8s.standin.set_pod_status(name, terminated_status("Succeeded", 0, "Completed"))
    await asyncio.sleep(0.6)  # longer than the report grace
    assert await ti_state(k8s.pool, launch.ti_id) == (TaskState.SUCCESS, None)
    assert k8s.executor.failures == []
    assert k8s.standin.names("pods") == [name]  # kept for `kubectl logs` until the GC delay


# --- failure reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_status", "problem", "note_part"),
    [
        (
            waiting_status("ImagePullBackOff", "Back-off pulling image"),
            Problem.IMAGE,
            "ImagePullBackOff: cannot pull image registry.example/leoflow/dags/etl:1.0",
        ),
        (
            waiting_status("ErrImagePull", "manifest unknown"),
            Problem.IMAGE,
            "ErrImagePull: cannot pull image",
        ),
        (
            waiting_status("CreateContainerConfigError", 'secret "x" not found'),
            Problem.CONFIG,
            'CreateContainerConfigError: secret "x" not found',
        ),
        (
            terminated_status("Failed", 137, "OOMKilled"),
            Problem.OOM_KILLED,
            "OOMKilled: the task used more memory than its limit",
        ),
        (
            {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."},
            Problem.EVICTED,
            "pod was evicted: The node was low on memory.",
        ),
        (
            {"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active too long"},
            Problem.DEADLINE,
            "exceeded its activeDeadlineSeconds",
        ),
    ],
    ids=["image-pull-backoff", "err-image-pull", "config-error", "oom", "evicted", "deadline"],
)
async def test_pod_failure_fails_the_try_with_the_reason_in_log_and_note(
    k8s: K8sHarness, pod_status: dict[str, Any], problem: Problem, note_part: str
) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    k8s.standin.logs[name] = ["agent: starting", "agent: boom"]
    await k8s.standin.set_pod_status(name, pod_status)
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id), timeout=10)
    assert state is TaskState.FAILED
    assert note is not None and note_part in note
    assert [f.problem for f in k8s.executor.failures] == [problem]
    log_text = await k8s.log_text("etl", "extract", launch.run_id)
    assert note_part in log_text
    assert "[pod] agent: boom" in log_text
    if pod_status["phase"] == "Pending":  # a pod that never started is deleted at once
        await wait_for(lambda: k8s.standin.names("pods") == [])
        # the per-try Secret is deleted right after its pod (a second API call)
        await wait_for(lambda: k8s.standin.names("secrets") == [])
    assert k8s.woken == [launch.run_uuid]


async def _settled(pool: Pool, ti_id: Any) -> tuple[TaskState, str | None] | None:
    """The state and note once the executor failed the try (the note follows the state)."""
    state, note = await ti_state(pool, ti_id)
    return (state, note) if state not in (TaskState.QUEUED, TaskState.RUNNING) and note else None


async def test_failure_with_retries_left_goes_up_for_retry(k8s: K8sHarness) -> None:
    data = dag_json("retrying", [task("t", retries=2, retry_delay_seconds=1)], image=IMAGE)
    _, launch = await started(k8s, data, "t")
    name = k8s.standin.names("pods")[0]
    await k8s.standin.set_pod_status(name, waiting_status("ErrImagePull"))
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.UP_FOR_RETRY
    assert "ErrImagePull" in (note or "")
    assert "try 1 up for retry" in await k8s.log_text("retrying", "t", launch.run_id)


async def test_pod_deleted_by_someone_else_fails_the_try(k8s: K8sHarness) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    await k8s.standin.set_pod_status(name, running_status())
    await k8s.reporter.report(launch.ti_id, 1, TaskState.RUNNING)
    await k8s.standin.delete_object("pods", name)
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.FAILED
    assert f"pod {name} was deleted before the task finished" in (note or "")


@pytest.fixture
async def k8s_fast_start(
    db_pool: Pool, database_url: str, tmp_path: Any, standin: StandInApiServer
) -> Any:
    """The executor with a 1.5 s limit on pods that cannot be scheduled or started."""
    settings = k8s_settings(database_url, tmp_path, standin.url, unschedulable_timeout_seconds=1.5)
    async with make_harness(db_pool, settings, standin) as harness:
        yield harness


async def test_unschedulable_pod_fails_after_the_timeout_and_is_deleted(
    k8s_fast_start: K8sHarness,
) -> None:
    k8s = k8s_fast_start
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    message = "0/3 nodes are available: 3 Insufficient memory."
    await k8s.standin.set_pod_status(
        name,
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": ago(0),
                }
            ],
        },
    )
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.FAILED
    assert f"pod could not be scheduled: {message}; gave up after 1.5 s" == note
    await wait_for(lambda: k8s.standin.names("pods") == [])


async def test_unschedulable_pod_that_gets_scheduled_in_time_is_not_failed(
    k8s_fast_start: K8sHarness,
) -> None:
    k8s = k8s_fast_start
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    await k8s.standin.set_pod_status(
        name,
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": datetime.now(UTC).isoformat(),
                }
            ],
        },
    )
    await asyncio.sleep(0.1)
    await k8s.standin.set_pod_status(name, running_status())
    await asyncio.sleep(0.8)
    assert (await ti_state(k8s.pool, launch.ti_id))[0] is TaskState.QUEUED
    assert k8s.executor.failures == []


async def test_pod_stuck_before_start_fails_after_the_timeout(
    k8s_fast_start: K8sHarness,
) -> None:
    k8s = k8s_fast_start
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    await k8s.standin.set_pod_status(name, waiting_status("ContainerCreating"))
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.FAILED
    assert note is not None and note.startswith("pod did not start (ContainerCreating")
    await wait_for(lambda: k8s.standin.names("pods") == [])


async def test_pod_that_exits_without_a_report_fails_after_the_grace(k8s: K8sHarness) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    k8s.standin.logs[name] = ["LEOFLOW_AGENT_ADDRESS is not set"]
    await k8s.standin.set_pod_status(name, terminated_status("Failed", 2, "Error"))
    state, note = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.FAILED
    assert note == "task container exited with code 2 (Error)"
    assert "[pod] LEOFLOW_AGENT_ADDRESS is not set" in await k8s.log_text(
        "etl", "extract", launch.run_id
    )
    assert k8s.standin.names("pods") == [name]  # a finished pod stays until GC


async def test_watch_expiry_relists_and_keeps_noticing(k8s: K8sHarness) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    relists = k8s.executor._watcher.relists
    await k8s.standin.expire_history()
    await wait_for(lambda: k8s.executor._watcher.relists > relists)
    await k8s.standin.set_pod_status(name, waiting_status("InvalidImageName"))
    state, _ = await wait_for(lambda: _settled(k8s.pool, launch.ti_id))
    assert state is TaskState.FAILED


# --- cancel -------------------------------------------------------------------------------------


async def test_cancel_deletes_pod_and_secret_without_failing_the_try(k8s: K8sHarness) -> None:
    _, launch = await started(k8s)
    name = k8s.standin.names("pods")[0]
    await k8s.executor.cancel(launch.ti_id, 1)
    assert k8s.standin.names("pods") == [] and k8s.standin.names("secrets") == []
    await asyncio.sleep(0.3)
    assert (await ti_state(k8s.pool, launch.ti_id))[0] is TaskState.QUEUED
    assert k8s.executor.failures == []
    assert k8s.standin.calls("DELETE", f"/pods/{name}")


async def test_cancel_after_a_restart_finds_the_pod_by_labels(
    db_pool: Pool, database_url: str, tmp_path: Any, standin: StandInApiServer
) -> None:
    settings = k8s_settings(database_url, tmp_path, standin.url)
    async with make_harness(db_pool, settings, standin) as first:
        handle = await first.queued_run(ETL)
        launch = first.launch(handle, "extract")
        await first.executor.submit(launch)
    async with make_harness(db_pool, settings, standin) as second:
        await second.executor.cancel(launch.ti_id, 1)
        assert standin.names("pods") == []


# --- GC and orphans -----------------------------------------------------------------------------


async def test_gc_deletes_finished_pods_after_the_delay_only(k8s: K8sHarness) -> None:
    data = dag_json("gc", [task("old"), task("new"), task("live")], image=IMAGE)
    handle = await k8s.queued_run(data)
    for task_id in ("old", "new", "live"):
        await k8s.executor.submit(k8s.launch(handle, task_id))
    names = {t: pod_name(_identity(k8s, handle, t)) for t in ("old", "new", "live")}
    for done in ("old", "new"):  # their agents reported, then their containers ended
        await k8s.reporter.report(handle.tis[done].id, 1, TaskState.RUNNING)
        await k8s.reporter.report(handle.tis[done].id, 1, TaskState.SUCCESS)
    await k8s.standin.set_pod_status(
        names["old"], terminated_status("Succeeded", 0, "Completed", finished=ago(120))
    )
    await k8s.standin.set_pod_status(
        names["new"], terminated_status("Succeeded", 0, "Completed", finished=ago(5))
    )
    await k8s.standin.set_pod_status(names["live"], running_status())
    await k8s.executor.reconcile()
    assert k8s.standin.names("pods") == sorted([names["new"], names["live"]])
    assert names["old"] not in k8s.standin.names("secrets")
    assert k8s.executor.failures == []


async def test_reconciler_deletes_orphaned_pods_and_stray_secrets(k8s: K8sHarness) -> None:
    data = dag_json("orphans", [task("cleared"), task("fresh"), task("active")], image=IMAGE)
    handle = await k8s.queued_run(data)
    for task_id in ("cleared", "fresh", "active"):
        await k8s.executor.submit(k8s.launch(handle, task_id))
    names = {t: pod_name(_identity(k8s, handle, t)) for t in ("cleared", "fresh", "active")}
    for name in names.values():
        await k8s.standin.set_pod_status(name, running_status())
    # "cleared": its try was marked failed by an operator; its pod still runs, long enough.
    await k8s.reporter.report(handle.tis["cleared"].id, 1, TaskState.FAILED)
    k8s.standin.set_created("pods", names["cleared"], ago(600))
    # "fresh": same situation but created a moment ago: inside the grace period.
    await k8s.reporter.report(handle.tis["fresh"].id, 1, TaskState.FAILED)
    # a token Secret whose pod never appeared (a dispatch that died in between)
    await k8s.standin.delete_object("pods", names["active"])
    await asyncio.sleep(0.2)
    k8s.standin.set_created("secrets", names["active"], ago(600))
    await k8s.executor.reconcile()
    assert k8s.standin.names("pods") == [names["fresh"]]
    assert sorted(k8s.standin.names("secrets")) == [names["fresh"]]


def _identity(k8s: K8sHarness, handle: Any, task_id: str) -> Any:
    from leoflow.executors.kubernetes.pod_builder import TryIdentity

    return TryIdentity(
        tenant="default",
        dag_id=k8s.dag_ids[handle.run.id],
        run_id=handle.run.run_id,
        task_id=task_id,
        try_number=1,
        ti_id=handle.tis[task_id].id,
        run_uuid=handle.run.id,
    )


# --- staging claims -----------------------------------------------------------------------------

STAGED = dag_json(
    "staged",
    [task("a"), task("b", "a")],
    image=IMAGE,
    staging={"enabled": True, "size": "2Gi"},
)


async def test_staging_claim_is_created_before_the_first_pod_and_shared_by_the_run(
    k8s: K8sHarness,
) -> None:
    k8s.standin.add_storage_class("nfs", "nfs.csi.k8s.io", default=True)
    handle = await k8s.queued_run(STAGED)
    await k8s.executor.submit(k8s.launch(handle, "a"))
    await k8s.executor.submit(k8s.launch(handle, "b"))
    claim = staging_claim_name("default", "staged", handle.run.id)
    posts = [r.path.rsplit("/", 1)[1] for r in k8s.standin.calls("POST")]
    assert posts[0] == "persistentvolumeclaims"
    assert posts.count("persistentvolumeclaims") == 1  # cached: one claim per run
    pvc = k8s.standin.get("persistentvolumeclaims", claim)
    assert pvc is not None
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "2Gi"}},
    }
    for name in k8s.standin.names("pods"):
        pod = k8s.standin.get("pods", name)
        assert pod is not None
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["staging"]["persistentVolumeClaim"]["claimName"] == claim
    volume = await get_volume(k8s.pool, claim)
    assert volume is not None and volume.state == "active" and volume.size == "2Gi"


async def test_staging_claim_lifecycle_success_failure_and_orphans(k8s: K8sHarness) -> None:
    k8s.standin.add_storage_class("nfs", "nfs.csi.k8s.io", default=True)
    ok = await k8s.queued_run(STAGED, run_id="manual__ok")
    bad = await k8s.queued_run(STAGED, run_id="manual__bad")
    for handle in (ok, bad):
        await k8s.executor.submit(k8s.launch(handle, "a"))
    ok_claim = staging_claim_name("default", "staged", ok.run.id)
    bad_claim = staging_claim_name("default", "staged", bad.run.id)
    await transition_dag_run(k8s.pool, ok.run.id, RunState.SUCCESS)
    await transition_dag_run(k8s.pool, bad.run.id, RunState.FAILED)
    # a claim nobody recorded (its run was deleted: the row went with it)
    await k8s.standin._create(
        "persistentvolumeclaims",
        NAMESPACE,
        {
            "metadata": {
                "name": "lf-stg-gone-000000000000",
                "labels": {
                    "app.kubernetes.io/managed-by": "leoflow",
                    "app.kubernetes.io/instance": "leoflow",
                    "app.kubernetes.io/component": "staging",
                },
            },
            "spec": {},
        },
    )
    k8s.standin.set_created("persistentvolumeclaims", "lf-stg-gone-000000000000", ago(600))
    deleted = await k8s.executor.staging.sweep()
    assert sorted(deleted) == sorted(
        [(ok_claim, "run succeeded"), ("lf-stg-gone-000000000000", "orphaned")]
    )
    assert k8s.standin.names("persistentvolumeclaims") == [bad_claim]
    ok_row, bad_row = await get_volume(k8s.pool, ok_claim), await get_volume(k8s.pool, bad_claim)
    assert ok_row is not None and ok_row.state == "deleted"
    assert ok_row.deleted_reason == "run succeeded" and ok_row.deleted_at is not None
    assert bad_row is not None and bad_row.state == "active"  # kept 24 h after a failure


async def test_failed_run_claim_is_deleted_after_the_retention(
    db_pool: Pool, database_url: str, tmp_path: Any, standin: StandInApiServer
) -> None:
    settings = k8s_settings(database_url, tmp_path, standin.url, staging_failed_retention_seconds=0)
    standin.add_storage_class("nfs", "nfs.csi.k8s.io", default=True)
    async with make_harness(db_pool, settings, standin) as k8s:
        handle = await k8s.queued_run(STAGED)
        await k8s.executor.submit(k8s.launch(handle, "a"))
        await transition_dag_run(k8s.pool, handle.run.id, RunState.FAILED)
        claim = staging_claim_name("default", "staged", handle.run.id)
        assert await k8s.executor.staging.sweep() == [(claim, "run failed; retention elapsed")]
        assert standin.names("persistentvolumeclaims") == []


@pytest.mark.parametrize(
    ("classes", "storage_class", "message"),
    [
        ([], None, "the cluster has no default storage class"),
        ([("gp3", "ebs.csi.aws.com", True)], None, "only offers ReadWriteOnce volumes"),
        ([("nfs", "nfs.csi.k8s.io", True)], "fast", "storage class 'fast' does not exist"),
    ],
    ids=["no-default-class", "rwo-only-default", "missing-class"],
)
async def test_cluster_without_rwx_storage_fails_the_dispatch_clearly(
    k8s: K8sHarness,
    classes: list[tuple[str, str, bool]],
    storage_class: str | None,
    message: str,
) -> None:
    for name, provisioner, default in classes:
        k8s.standin.add_storage_class(name, provisioner, default=default)
    staging: dict[str, Any] = {"enabled": True}
    if storage_class:
        staging["storage_class"] = storage_class
    data = dag_json("needs_rwx", [task("t")], image=IMAGE, staging=staging)
    handle = await k8s.queued_run(data)
    with pytest.raises(ExecutorRefused, match=message) as caught:
        await k8s.executor.submit(k8s.launch(handle, "t"))
    assert "ReadWriteMany" in str(caught.value)
    assert k8s.standin.names("pods") == [] and k8s.standin.names("persistentvolumeclaims") == []
