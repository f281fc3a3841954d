"""Manifests of one task try: its Pod, its token Secret, and its run's staging claim.

Pure functions of their inputs, so every pod Leoflow would create can be unit-tested and
validated offline (``tests/kubernetes``). Names are deterministic per try: a duplicate create
(a dispatch retried after a timeout, two replicas racing) hits ``409 AlreadyExists`` instead
of starting the task twice, and the next try gets a new name so it never collides with a pod
of an earlier try that is still being cleaned up.

The pod never carries a secret value: the per-try agent token lives in its own Secret, mounted
as a file the agent reads (``LEOFLOW_AGENT_TOKEN_FILE``); ``kubectl get pod -o yaml`` shows
only the Secret's name.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from leoflow.config import KubernetesSettings
from leoflow.spec.kubernetes import Resources
from leoflow.spec.quantities import parse_quantity
from leoflow.spec.task_spec import TaskSpec
from leoflow.staging.paths import POD_STAGING_DIR
from leoflow_sdk.agent import settings as agent_env

MAX_NAME = 63
"""Pod names become host names, which are DNS-1123 labels: at most 63 characters."""

CONTAINER_NAME = "task"
TOKEN_KEY = "token"
TOKEN_DIR = "/var/run/secrets/leoflow/agent"
TLS_DIR = "/var/run/secrets/leoflow/tls"
STAGING_DIR = POD_STAGING_DIR
TMP_DIR = "/tmp"
AGENT_COMMAND = ("python", "-m", "leoflow_sdk.agent")
"""Explicit, so a DAG image built on another base than the runtime image still starts the
agent (its ENTRYPOINT may be anything)."""

TERMINATION_GRACE_SECONDS = 30
"""Room for the agent's SIGTERM → SIGKILL grace (10 s) and its final state report."""

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_TENANT = "leoflow.io/tenant"
LABEL_DAG_ID = "leoflow.io/dag-id"
LABEL_RUN_ID = "leoflow.io/run-id"
LABEL_TASK_ID = "leoflow.io/task-id"
LABEL_TRY_NUMBER = "leoflow.io/try-number"
LABEL_TI = "leoflow.io/task-instance"
LABEL_RUN_UUID = "leoflow.io/run-uuid"
MANAGED_BY = "leoflow"

COMPONENT_TASK = "task"
COMPONENT_TOKEN = "agent-token"
COMPONENT_STAGING = "staging"

ANNOTATION_PREFIX = "leoflow.io/"

_NOT_NAME = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class TryIdentity:
    """Which try a pod runs: what the labels, the name and the agent's expectations carry."""

    tenant: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    ti_id: UUID
    run_uuid: UUID
    map_index: int = -1

    def key(self) -> str:
        return "\0".join(
            (
                self.tenant,
                self.dag_id,
                self.run_id,
                self.task_id,
                str(self.map_index),
                str(self.try_number),
            )
        )


@dataclass(frozen=True)
class PodOptions:
    """Platform settings that shape every task pod (from :class:`KubernetesSettings`)."""

    namespace: str
    instance: str
    agent_address: str
    agent_tls: bool = True
    agent_tls_secret: str | None = None
    agent_tls_server_name: str | None = None
    agent_mutual_tls: bool = False
    image_pull_policy: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] | None = None
    default_resources: Resources | None = None
    pod_template: Mapping[str, Any] = field(default_factory=dict)
    run_as_user: int = 10001
    run_as_group: int = 10001
    read_only_root_filesystem: bool = True
    active_deadline_margin_seconds: float = 300.0

    @classmethod
    def from_settings(
        cls, settings: KubernetesSettings, *, agent_address: str, agent_tls: bool
    ) -> PodOptions:
        defaults = settings.default_resources
        return cls(
            namespace=settings.namespace,
            instance=settings.instance,
            agent_address=agent_address,
            agent_tls=agent_tls,
            agent_tls_secret=settings.agent_tls_secret,
            agent_tls_server_name=settings.agent_tls_server_name,
            agent_mutual_tls=settings.agent_mutual_tls,
            image_pull_policy=settings.image_pull_policy,
            image_pull_secrets=tuple(settings.image_pull_secrets),
            service_account=settings.service_account,
            node_selector=dict(settings.node_selector),
            tolerations=tuple(settings.tolerations),
            affinity=settings.affinity,
            default_resources=Resources.model_validate(defaults) if defaults else None,
            pod_template=settings.pod_template,
            run_as_user=settings.run_as_user,
            run_as_group=settings.run_as_group,
            read_only_root_filesystem=settings.read_only_root_filesystem,
            active_deadline_margin_seconds=settings.active_deadline_margin_seconds,
        )


@dataclass(frozen=True)
class PodRequest:
    """One try to run: who it is, from which image, with which task settings."""

    identity: TryIdentity
    image: str
    task: TaskSpec
    execution_timeout_seconds: float | None = None
    staging_claim: str | None = None
    traceparent: str = ""
    """The try's W3C trace context: the agent's spans and calls join the try's trace."""


# --- names and labels ------------------------------------------------------------------------


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _name_part(text: str, limit: int) -> str:
    cleaned = _NOT_NAME.sub("-", text.lower()).strip("-")
    return re.sub("-{2,}", "-", cleaned)[:limit].strip("-")


def pod_name(identity: TryIdentity) -> str:
    """``lf-<dag>-<task>-<hash>-<try>``: readable, unique per try, at most 63 characters."""
    suffix = f"-{_digest(identity.key(), 10)}-{identity.try_number}"
    room = MAX_NAME - len("lf") - len(suffix)
    dag = _name_part(identity.dag_id, max(8, room // 2 - 1))
    task = _name_part(identity.task_id, room - len(dag) - 2)
    parts = ["lf", *(p for p in (dag, task) if p)]
    return "-".join(parts) + suffix


def token_secret_name(identity: TryIdentity) -> str:
    """The Secret holding a try's agent token has its pod's name (kinds never collide)."""
    return pod_name(identity)


def staging_claim_name(tenant: str, dag_id: str, run_uuid: UUID) -> str:
    """``lf-stg-<dag>-<hash>``: one claim per run, the same for every try and replica."""
    suffix = "-" + _digest("\0".join((tenant, dag_id, str(run_uuid))), 12)
    dag = _name_part(dag_id, MAX_NAME - len("lf-stg-") - len(suffix))
    return f"lf-stg-{dag}{suffix}" if dag else f"lf-stg{suffix}"


def label_value(text: str) -> str:
    """``text`` as a valid label value (exact when possible, else cleaned and hashed)."""
    if len(text) <= 63 and re.fullmatch(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?", text):
        return text
    cleaned = _NOT_LABEL.sub("_", text)
    suffix = _digest(text, 8)
    head = cleaned[: 63 - len(suffix) - 1].strip("_.-")
    return f"{head}_{suffix}" if head else suffix


def base_labels(instance: str, component: str) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_NAME: "leoflow",
        LABEL_INSTANCE: label_value(instance),
        LABEL_COMPONENT: component,
    }


def selector(instance: str, component: str) -> dict[str, str]:
    """The label selector matching everything of one component this installation made."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_INSTANCE: label_value(instance),
        LABEL_COMPONENT: component,
    }


def try_labels(identity: TryIdentity, instance: str, component: str) -> dict[str, str]:
    labels = base_labels(instance, component)
    labels.update(
        {
            LABEL_TENANT: label_value(identity.tenant),
            LABEL_DAG_ID: label_value(identity.dag_id),
            LABEL_RUN_ID: label_value(identity.run_id),
            LABEL_TASK_ID: label_value(identity.task_id),
            LABEL_TRY_NUMBER: str(identity.try_number),
            LABEL_TI: str(identity.ti_id),
            LABEL_RUN_UUID: str(identity.run_uuid),
        }
    )
    return labels


def try_annotations(identity: TryIdentity) -> dict[str, str]:
    """The exact identity (labels may have had to clean a run id such as ``manual__…+00:00``)."""
    return {
        f"{ANNOTATION_PREFIX}tenant": identity.tenant,
        f"{ANNOTATION_PREFIX}dag-id": identity.dag_id,
        f"{ANNOTATION_PREFIX}run-id": identity.run_id,
        f"{ANNOTATION_PREFIX}task-id": identity.task_id,
        f"{ANNOTATION_PREFIX}try-number": str(identity.try_number),
        f"{ANNOTATION_PREFIX}map-index": str(identity.map_index),
    }


# --- resources -------------------------------------------------------------------------------


def _quantity(value: str | None) -> Decimal | None:
    return None if value is None else parse_quantity(value)


def effective_resources(
    task: Resources | None, platform: Resources | None
) -> dict[str, dict[str, str]]:
    """Task (already merged with the DAG's defaults at compile time) wins per field over the
    platform default. A platform request above the task's own limit is lowered to that limit,
    because Kubernetes refuses a request larger than its limit."""
    merged: dict[str, dict[str, str]] = {}
    for section in ("requests", "limits"):
        values: dict[str, str] = {}
        for name in ("cpu", "memory"):
            task_section = getattr(task, section, None) if task else None
            platform_section = getattr(platform, section, None) if platform else None
            chosen = getattr(task_section, name, None) or getattr(platform_section, name, None)
            if chosen is not None:
                values[name] = str(chosen)
        if values:
            merged[section] = values
    requests, limits = merged.get("requests", {}), merged.get("limits", {})
    for name in ("cpu", "memory"):
        request, limit = _quantity(requests.get(name)), _quantity(limits.get(name))
        if request is not None and limit is not None and request > limit:
            requests[name] = limits[name]
    return merged


# --- the pod ---------------------------------------------------------------------------------


def agent_environment(request: PodRequest, options: PodOptions) -> list[dict[str, Any]]:
    """What the agent reads (``leoflow_sdk.agent.settings``); no value here is a secret."""
    identity = request.identity
    env: list[tuple[str, str]] = [
        (agent_env.ADDRESS, options.agent_address),
        (agent_env.TOKEN_FILE, f"{TOKEN_DIR}/{TOKEN_KEY}"),
    ]
    if not options.agent_tls:
        env.append((agent_env.INSECURE, "true"))
    elif options.agent_tls_secret:
        env.append((agent_env.TLS_CA, f"{TLS_DIR}/ca.crt"))
        if options.agent_mutual_tls:
            env.append((agent_env.TLS_CERT, f"{TLS_DIR}/tls.crt"))
            env.append((agent_env.TLS_KEY, f"{TLS_DIR}/tls.key"))
    if options.agent_tls and options.agent_tls_server_name:
        env.append((agent_env.TLS_SERVER_NAME, options.agent_tls_server_name))
    env += [
        (agent_env.ECHO_LOGS, "true"),
        (agent_env.WORK_ROOT, TMP_DIR),
        (agent_env.TI_TENANT, identity.tenant),
        (agent_env.TI_DAG_ID, identity.dag_id),
        (agent_env.TI_RUN_ID, identity.run_id),
        (agent_env.TI_TASK_ID, identity.task_id),
        (agent_env.TI_MAP_INDEX, str(identity.map_index)),
        (agent_env.TI_TRY_NUMBER, str(identity.try_number)),
        ("HOME", TMP_DIR),
        ("TMPDIR", TMP_DIR),
    ]
    if request.traceparent:
        env.append((agent_env.TRACEPARENT, request.traceparent))
    return [{"name": name, "value": value} for name, value in env]


def _volumes(request: PodRequest, options: PodOptions) -> tuple[list[Any], list[Any]]:
    secret_name = token_secret_name(request.identity)
    volumes: list[dict[str, Any]] = [
        {
            "name": "agent-token",
            "secret": {
                "secretName": secret_name,
                "items": [{"key": TOKEN_KEY, "path": TOKEN_KEY}],
                "defaultMode": 0o440,
            },
        },
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "agent-token", "mountPath": TOKEN_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    if options.agent_tls and options.agent_tls_secret:
        # Only the keys the agent needs: the Secret may be the server's own certificate Secret,
        # whose private key must never reach user code.
        keys = ["ca.crt", "tls.crt", "tls.key"] if options.agent_mutual_tls else ["ca.crt"]
        volumes.append(
            {
                "name": "agent-tls",
                "secret": {
                    "secretName": options.agent_tls_secret,
                    "items": [{"key": key, "path": key} for key in keys],
                    "defaultMode": 0o440,
                },
            }
        )
        mounts.append({"name": "agent-tls", "mountPath": TLS_DIR, "readOnly": True})
    if request.staging_claim:
        volumes.append(
            {"name": "staging", "persistentVolumeClaim": {"claimName": request.staging_claim}}
        )
        mounts.append({"name": "staging", "mountPath": STAGING_DIR})
    return volumes, mounts


def _tolerations(request: PodRequest, options: PodOptions) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = [dict(t) for t in options.tolerations]
    execution = request.task.execution
    for toleration in execution.tolerations if execution else ():
        item: dict[str, Any] = {"operator": toleration.operator}
        if toleration.key is not None:
            item["key"] = toleration.key
        if toleration.value is not None:
            item["value"] = toleration.value
        if toleration.effect is not None:
            item["effect"] = toleration.effect
        if toleration.toleration_seconds is not None:
            item["tolerationSeconds"] = toleration.toleration_seconds
        if item not in chosen:
            chosen.append(item)
    return chosen


def active_deadline(timeout: float | None, margin: float) -> int | None:
    """``activeDeadlineSeconds`` of a try: its execution timeout plus the margin."""
    if timeout is None:
        return None
    return max(1, math.ceil(timeout + margin))


def build_pod(request: PodRequest, options: PodOptions) -> dict[str, Any]:
    """The Pod manifest of one try (``restartPolicy: Never``: retries are the scheduler's)."""
    identity, task = request.identity, request.task
    execution = task.execution
    volumes, mounts = _volumes(request, options)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": request.image,
        "command": list(AGENT_COMMAND),
        "env": agent_environment(request, options),
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": options.read_only_root_filesystem,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pull_policy = (execution.image_pull_policy if execution else None) or options.image_pull_policy
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    resources = effective_resources(task.resources, options.default_resources)
    if resources:
        container["resources"] = resources

    service_account = (execution.service_account if execution else None) or options.service_account
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": service_account is not None,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": options.run_as_user,
            "runAsGroup": options.run_as_group,
            "fsGroup": options.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    node_selector = {**options.node_selector, **(execution.node_selector if execution else {})}
    if node_selector:
        spec["nodeSelector"] = node_selector
    tolerations = _tolerations(request, options)
    if tolerations:
        spec["tolerations"] = tolerations
    if options.affinity:
        spec["affinity"] = copy.deepcopy(dict(options.affinity))
    if options.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    deadline = active_deadline(
        request.execution_timeout_seconds, options.active_deadline_margin_seconds
    )
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline

    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(identity),
            "namespace": options.namespace,
            "labels": try_labels(identity, options.instance, COMPONENT_TASK),
            "annotations": try_annotations(identity),
        },
        "spec": spec,
    }
    if options.pod_template:
        pod = merge_template(pod, options.pod_template)
    return pod


def build_token_secret(identity: TryIdentity, token: str, options: PodOptions) -> dict[str, Any]:
    """The per-try Secret the pod mounts; immutable, owned by the pod once it exists."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": token_secret_name(identity),
            "namespace": options.namespace,
            "labels": try_labels(identity, options.instance, COMPONENT_TOKEN),
            "annotations": try_annotations(identity),
        },
        "type": "Opaque",
        "immutable": True,
        "data": {TOKEN_KEY: base64.b64encode(token.encode("utf-8")).decode("ascii")},
    }


def build_staging_claim(
    *,
    name: str,
    namespace: str,
    instance: str,
    tenant: str,
    dag_id: str,
    run_id: str,
    run_uuid: UUID,
    size: str,
    storage_class: str | None,
) -> dict[str, Any]:
    """The ReadWriteMany claim shared by every pod of one run."""
    labels = base_labels(instance, COMPONENT_STAGING)
    labels.update(
        {
            LABEL_TENANT: label_value(tenant),
            LABEL_DAG_ID: label_value(dag_id),
            LABEL_RUN_ID: label_value(run_id),
            LABEL_RUN_UUID: str(run_uuid),
        }
    )
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                f"{ANNOTATION_PREFIX}tenant": tenant,
                f"{ANNOTATION_PREFIX}dag-id": dag_id,
                f"{ANNOTATION_PREFIX}run-id": run_id,
            },
        },
        "spec": spec,
    }


# --- pod template overrides ------------------------------------------------------------------


def _named(items: Sequence[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        merged_list = [dict(item) for item in base]
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in override:
            if item["name"] in index:
                position = index[item["name"]]
                merged_list[position] = _merge(merged_list[position], item)
            else:
                merged_list.append(copy.deepcopy(dict(item)))
        return merged_list
    return copy.deepcopy(override)


def merge_template(pod: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` (a partial Pod) over ``pod``: mappings merge key by key, lists of named
    items (containers, env, volumes, volumeMounts) merge by ``name``, anything else is
    replaced. Lets operators add a priority class, sidecars, extra volumes or env without a
    setting for each."""
    merged = _merge(dict(pod), dict(template))
    assert isinstance(merged, dict)
    return merged
