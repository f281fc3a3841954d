"""The Pro executor: one Kubernetes pod per task instance try (ADR 0001, docs/kubernetes.md).

``pod_builder`` makes manifests (pure), ``client`` talks to the API server, ``watcher`` reads
pod status and follows changes, ``gc`` plans clean-ups, ``staging`` owns per-run claims, and
``executor`` ties them into the ``Executor`` protocol.
"""

from leoflow.executors.kubernetes.executor import KubernetesExecutor, PodFailure
from leoflow.executors.kubernetes.pod_builder import PodOptions, PodRequest, TryIdentity

__all__ = ["KubernetesExecutor", "PodFailure", "PodOptions", "PodRequest", "TryIdentity"]
