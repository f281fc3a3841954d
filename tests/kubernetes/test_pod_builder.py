"""The pure pod builder: names, labels, env, resources, scheduling, security, golden manifests.

Golden manifests live in ``golden/``; each is also validated with ``kubernetes-validate
--strict`` against the schemas of Kubernetes 1.30 and 1.34 (the oldest and newest releases the
chart supports). ``LEOFLOW_UPDATE_GOLDEN=1`` rewrites them after an intended change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leoflow.config import KubernetesSettings
from leoflow.executors.kubernetes.pod_builder import (
    PodOptions,
    PodRequest,
    TryIdentity,
    build_pod,
    build_staging_claim,
    build_token_secret,
    effective_resources,
    label_value,
    pod_name,
    staging_claim_name,
)
from leoflow.spec import dag_spec_from_data
from leoflow.spec.kubernetes import Resources
from leoflow.spec.task_spec import TaskSpec

GOLDEN = Path(__file__).parent / "golden"
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"

IDENTITY = TryIdentity(
    tenant="default",
    dag_id="shop_etl",
    run_id="manual__2025-01-01T00:00:00+00:00",
    task_id="load_orders",
    try_number=2,
    ti_id=UUID("11111111-2222-3333-4444-555555555555"),
    run_uuid=UUID("66666666-7777-8888-9999-000000000000"),
)


def task_of(**fields: Any) -> TaskSpec:
    data = {
        "schema_version": "1.0",
        "dag_id": "shop_etl",
        "source": "# dag\n",
        "source_module": "dag",
        "tasks": [{"task_id": "load_orders", "type": "python", "entrypoint": "dag:load", **fields}],
    }
    return dag_spec_from_data(data).tasks[0]


def options(**overrides: Any) -> PodOptions:
    settings = KubernetesSettings(namespace="leoflow-tasks", **overrides.pop("settings", {}))
    values: dict[str, Any] = {"agent_address": "leoflow-grpc.leoflow.svc:50051", "agent_tls": True}
    values.update(overrides)
    return PodOptions.from_settings(settings, **values)


def pod_of(task: TaskSpec | None = None, opts: PodOptions | None = None, **request: Any) -> Any:
    values: dict[str, Any] = {"image": "registry.example/shop/etl:2025.1"}
    values.update(request)
    return build_pod(PodRequest(IDENTITY, task=task or task_of(), **values), opts or options())


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def validate(manifest: dict[str, Any]) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


# --- names and labels ---------------------------------------------------------------------------


def test_pod_name_is_deterministic_per_try_and_new_for_the_next_try() -> None:
    first = pod_name(IDENTITY)
    assert first == pod_name(IDENTITY)
    assert first.startswith("lf-shop-etl-load-orders-") and first.endswith("-2")
    again = TryIdentity(**{**IDENTITY.__dict__, "try_number": 3})
    assert pod_name(again) != first
    other_run = TryIdentity(**{**IDENTITY.__dict__, "run_id": "manual__other"})
    assert pod_name(other_run) != first


ids = st.text(alphabet=st.sampled_from("abcXYZ019_-."), min_size=1, max_size=250).filter(
    lambda s: s[0].isalnum()
)


@settings(max_examples=200, deadline=None)
@given(
    dag_id=ids,
    task_id=ids,
    run_id=st.text(min_size=1, max_size=300),
    try_number=st.integers(1, 10**6),
)
def test_every_name_and_label_is_valid_whatever_the_ids(
    dag_id: str, task_id: str, run_id: str, try_number: int
) -> None:
    identity = TryIdentity(
        tenant="acme corp",
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        try_number=try_number,
        ti_id=IDENTITY.ti_id,
        run_uuid=IDENTITY.run_uuid,
    )
    name = pod_name(identity)
    assert len(name) <= 63 and DNS_LABEL.match(name), name
    claim = staging_claim_name("acme", dag_id, IDENTITY.run_uuid)
    assert len(claim) <= 63 and DNS_LABEL.match(claim), claim
    pod = build_pod(PodRequest(identity, "img:1", task_of()), options())
    for key, value in pod["metadata"]["labels"].items():
        assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)
    assert pod["metadata"]["annotations"]["leoflow.io/run-id"] == run_id


def test_label_value_keeps_valid_values_and_cleans_the_rest() -> None:
    assert label_value("shop_etl") == "shop_etl"
    cleaned = label_value("manual__2025-01-01T00:00:00+00:00")
    assert LABEL_VALUE.match(cleaned) and cleaned.startswith("manual__2025-01-01T00_00_00_00_00_")
    assert len(label_value("x" * 300)) <= 63


def test_labels_and_annotations_name_the_try() -> None:
    metadata = pod_of()["metadata"]
    assert metadata["labels"] | {} == {
        "app.kubernetes.io/managed-by": "leoflow",
        "app.kubernetes.io/name": "leoflow",
        "app.kubernetes.io/instance": "leoflow",
        "app.kubernetes.io/component": "task",
        "leoflow.io/tenant": "default",
        "leoflow.io/dag-id": "shop_etl",
        "leoflow.io/run-id": metadata["labels"]["leoflow.io/run-id"],
        "leoflow.io/task-id": "load_orders",
        "leoflow.io/try-number": "2",
        "leoflow.io/task-instance": str(IDENTITY.ti_id),
        "leoflow.io/run-uuid": str(IDENTITY.run_uuid),
    }
    assert metadata["annotations"] == {
        "leoflow.io/tenant": "default",
        "leoflow.io/dag-id": "shop_etl",
        "leoflow.io/run-id": "manual__2025-01-01T00:00:00+00:00",
        "leoflow.io/task-id": "load_orders",
        "leoflow.io/try-number": "2",
        "leoflow.io/map-index": "-1",
    }


# --- agent env and secrets ----------------------------------------------------------------------


def test_agent_env_points_at_the_token_file_and_never_holds_a_secret() -> None:
    pod = pod_of(opts=options(settings={"agent_tls_secret": "leoflow-agent-tls"}))
    env = env_of(pod)
    assert env["LEOFLOW_AGENT_ADDRESS"] == "leoflow-grpc.leoflow.svc:50051"
    assert env["LEOFLOW_AGENT_TOKEN_FILE"] == "/var/run/secrets/leoflow/agent/token"
    assert "LEOFLOW_AGENT_TOKEN" not in env
    assert env["LEOFLOW_AGENT_TLS_CA"] == "/var/run/secrets/leoflow/tls/ca.crt"
    assert "LEOFLOW_AGENT_INSECURE" not in env
    assert env["LEOFLOW_TI_DAG_ID"] == "shop_etl"
    assert env["LEOFLOW_TI_RUN_ID"] == IDENTITY.run_id
    assert env["LEOFLOW_TI_TRY_NUMBER"] == "2"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["agent-token"]["secret"]["secretName"] == pod["metadata"]["name"]
    assert volumes["agent-tls"]["secret"]["secretName"] == "leoflow-agent-tls"
    assert volumes["agent-tls"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    assert all("valueFrom" not in e for e in pod["spec"]["containers"][0]["env"])
    secret = build_token_secret(IDENTITY, TOKEN, options())
    assert TOKEN not in json.dumps(pod)
    assert secret["metadata"]["name"] == pod["metadata"]["name"]
    assert secret["immutable"] is True


def test_plaintext_agent_channel_is_explicit_and_mutual_tls_mounts_the_client_pair() -> None:
    plain = env_of(pod_of(opts=options(agent_tls=False)))
    assert plain["LEOFLOW_AGENT_INSECURE"] == "true"
    assert "LEOFLOW_AGENT_TLS_CA" not in plain
    mtls = env_of(
        pod_of(
            opts=options(
                settings={
                    "agent_tls_secret": "tls",
                    "agent_mutual_tls": True,
                    "agent_tls_server_name": "leoflow-grpc",
                }
            )
        )
    )
    assert mtls["LEOFLOW_AGENT_TLS_CERT"] == "/var/run/secrets/leoflow/tls/tls.crt"
    assert mtls["LEOFLOW_AGENT_TLS_KEY"] == "/var/run/secrets/leoflow/tls/tls.key"
    assert mtls["LEOFLOW_AGENT_TLS_SERVER_NAME"] == "leoflow-grpc"


# --- resources and scheduling -------------------------------------------------------------------


def test_resources_task_value_wins_per_field_over_the_platform_default() -> None:
    task = Resources.model_validate({"requests": {"memory": "1Gi"}, "limits": {"cpu": "2"}})
    platform = Resources.model_validate(
        {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "4Gi"}}
    )
    assert effective_resources(task, platform) == {
        "requests": {"cpu": "100m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert effective_resources(None, None) == {}


def test_platform_request_above_the_task_limit_is_lowered_to_the_limit() -> None:
    task = Resources.model_validate({"limits": {"memory": "128Mi", "cpu": "50m"}})
    platform = Resources.model_validate({"requests": {"cpu": "100m", "memory": "256Mi"}})
    assert effective_resources(task, platform) == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "50m", "memory": "128Mi"},
    }


def test_scheduling_fields_merge_task_and_platform() -> None:
    task = task_of(
        execution={
            "node_selector": {"pool": "etl"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoSchedule"},
                {
                    "key": "spot",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "toleration_seconds": 60,
                },
            ],
            "service_account": "etl-reader",
            "image_pull_policy": "Always",
        }
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "arch", "operator": "In", "values": ["amd64"]}]}
                ]
            }
        }
    }
    opts = options(
        settings={
            "node_selector": {"kubernetes.io/os": "linux", "pool": "default"},
            "tolerations": [{"key": "leoflow", "operator": "Exists"}],
            "affinity": affinity,
            "image_pull_secrets": ["regcred"],
            "service_account": "platform-default",
            "image_pull_policy": "IfNotPresent",
        }
    )
    spec = pod_of(task, opts)["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "etl"}
    assert spec["tolerations"] == [
        {"key": "leoflow", "operator": "Exists"},
        {"operator": "Equal", "key": "dedicated", "value": "etl", "effect": "NoSchedule"},
        {"operator": "Exists", "key": "spot", "effect": "NoExecute", "tolerationSeconds": 60},
    ]
    assert spec["affinity"] == affinity
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == "etl-reader"
    assert spec["automountServiceAccountToken"] is True
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    validate(pod_of(task, opts))


def test_without_a_service_account_no_api_token_is_mounted() -> None:
    spec = pod_of()["spec"]
    assert "serviceAccountName" not in spec
    assert spec["automountServiceAccountToken"] is False


def test_security_context_is_hardened() -> None:
    pod = pod_of()
    spec = pod["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = spec["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable place besides /staging
    assert spec["restartPolicy"] == "Never"
    assert container["command"] == ["python", "-m", "leoflow_sdk.agent"]


def test_active_deadline_is_the_timeout_plus_the_margin() -> None:
    assert pod_of(execution_timeout_seconds=3600.5)["spec"]["activeDeadlineSeconds"] == 3901
    assert "activeDeadlineSeconds" not in pod_of()["spec"]


def test_staging_claim_is_mounted_at_staging() -> None:
    pod = pod_of(staging_claim="lf-stg-shop-etl-abc")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["staging"] == {
        "name": "staging",
        "persistentVolumeClaim": {"claimName": "lf-stg-shop-etl-abc"},
    }
    mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["staging"] == "/staging"


def test_pod_template_merges_maps_and_named_lists() -> None:
    template = {
        "metadata": {"labels": {"team": "data"}, "annotations": {"cost-center": "42"}},
        "spec": {
            "priorityClassName": "batch-low",
            "containers": [
                {"name": "task", "env": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]},
                {"name": "log-shipper", "image": "fluent-bit:3"},
            ],
            "volumes": [{"name": "extra", "emptyDir": {}}],
        },
    }
    pod = pod_of(opts=options(settings={"pod_template": template}))
    assert pod["metadata"]["labels"]["team"] == "data"
    assert pod["metadata"]["labels"]["leoflow.io/dag-id"] == "shop_etl"
    assert pod["spec"]["priorityClassName"] == "batch-low"
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["task", "log-shipper"]
    env = env_of(pod)
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert "LEOFLOW_AGENT_ADDRESS" in env
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["agent-token", "tmp", "extra"]


# --- golden manifests ---------------------------------------------------------------------------


def golden_cases() -> dict[str, list[dict[str, Any]]]:
    full_task = task_of(
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        execution={
            "node_selector": {"pool": "etl"},
            "tolerations": [{"key": "dedicated", "value": "etl", "effect": "NoSchedule"}],
            "service_account": "etl-reader",
            "image_pull_policy": "IfNotPresent",
        },
    )
    full_options = options(
        settings={
            "agent_tls_secret": "leoflow-agent-tls",
            "agent_mutual_tls": True,
            "image_pull_secrets": ["regcred"],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 50,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {"leoflow.io/dag-id": "shop_etl"}},
                            },
                        }
                    ]
                }
            },
        }
    )
    claim = staging_claim_name("default", "shop_etl", IDENTITY.run_uuid)
    return {
        "minimal": [pod_of(), build_token_secret(IDENTITY, TOKEN, options())],
        "full": [
            pod_of(full_task, full_options, execution_timeout_seconds=1800, staging_claim=claim),
            build_staging_claim(
                name=claim,
                namespace="leoflow-tasks",
                instance="leoflow",
                tenant="default",
                dag_id="shop_etl",
                run_id=IDENTITY.run_id,
                run_uuid=IDENTITY.run_uuid,
                size="20Gi",
                storage_class="efs",
            ),
        ],
        "plaintext_lite": [pod_of(opts=options(agent_tls=False))],
    }


@pytest.mark.parametrize("case", sorted(golden_cases()))
def test_golden_manifests_match_and_validate_strictly(case: str) -> None:
    documents = golden_cases()[case]
    text = yaml.safe_dump_all(documents, sort_keys=True)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("LEOFLOW_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"rerun with LEOFLOW_UPDATE_GOLDEN=1: {path}"
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        validate(document)


def test_strict_validation_catches_a_broken_manifest() -> None:
    pod = pod_of()
    pod["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(pod)
