"""Staging claims in Pro: one ReadWriteMany PVC per run, created before its first pod.

Lifecycle (recorded in ``staging_volumes``): the row is written, then the claim is created
(both idempotent, so every try and every replica may call :meth:`PvcStaging.ensure`); the
claim survives retries and clears; the sweeper deletes it at once when the run succeeded,
``staging_failed_retention_seconds`` after a failed run ended (time to inspect the files), and
whenever it is orphaned (no active row: its run was deleted). Each deletion is recorded with
its reason.

Tasks of a run may run in parallel on different nodes, so the claim must be ReadWriteMany.
Kubernetes cannot say whether a storage class offers that, but it can say that the class does
not exist, that there is no default class, or that the provisioner is one that only makes
block volumes: each of those fails the dispatch at once with the fix, instead of leaving the
pod Pending until the unschedulable timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from leoflow.config import KubernetesSettings
from leoflow.executors.base import ExecutorRefused
from leoflow.executors.kubernetes.client import KubeApi, KubeApiError, Manifest
from leoflow.executors.kubernetes.pod_builder import (
    COMPONENT_STAGING,
    build_staging_claim,
    selector,
    staging_claim_name,
)
from leoflow.executors.kubernetes.watcher import parse_time
from leoflow.spec.kubernetes import Staging
from leoflow.store import staging_volumes as store
from leoflow.store.pool import Database
from leoflow.telemetry import get_logger

log = get_logger(__name__)

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)

BLOCK_ONLY_PROVISIONERS = frozenset(
    {
        "kubernetes.io/aws-ebs",
        "ebs.csi.aws.com",
        "kubernetes.io/gce-pd",
        "pd.csi.storage.gke.io",
        "kubernetes.io/azure-disk",
        "disk.csi.azure.com",
        "kubernetes.io/cinder",
        "cinder.csi.openstack.org",
        "dobs.csi.digitalocean.com",
        "rancher.io/local-path",
        "kubernetes.io/no-provisioner",
        "openebs.io/local",
        "topolvm.io",
    }
)
"""Provisioners that only make ReadWriteOnce (block or node-local) volumes."""

RWX_EXAMPLES = "an NFS, CephFS, EFS, Azure Files or Filestore class"


class StagingUnavailable(ExecutorRefused):
    """The run needs a staging volume this cluster cannot provide; says how to fix it."""


def _fix(setting_hint: str) -> str:
    return (
        f"set staging.storage_class in leoflow.yaml or LEOFLOW_KUBERNETES__STAGING_STORAGE_CLASS "
        f"to a ReadWriteMany storage class ({RWX_EXAMPLES}){setting_hint}"
    )


def _is_default(storage_class: Manifest) -> bool:
    notes = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(str(notes.get(key, "")).lower() == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def _now() -> datetime:
    return datetime.now(UTC)


class PvcStaging:
    """Creates, records and sweeps the staging claims of one installation."""

    def __init__(
        self,
        api: KubeApi,
        db: Database,
        settings: KubernetesSettings,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._api = api
        self._db = db
        self._settings = settings
        self._clock = clock
        self._ready: set[str] = set()
        self._classes_ok: set[str] = set()
        self._class_check_forbidden = False

    async def ensure(
        self, *, tenant: str, dag_id: str, run_id: str, run_uuid: UUID, staging: Staging
    ) -> str:
        """The run's claim name, once the claim exists (``StagingUnavailable`` if it cannot)."""
        name = staging_claim_name(tenant, dag_id, run_uuid)
        if name in self._ready:
            return name
        size = staging.size or self._settings.staging_size
        storage_class = staging.storage_class or self._settings.staging_storage_class
        await self._check_class(storage_class)
        await store.record_active(
            self._db, run_uuid, name, kind="pvc", size=size, storage_class=storage_class
        )
        manifest = build_staging_claim(
            name=name,
            namespace=self._settings.namespace,
            instance=self._settings.instance,
            tenant=tenant,
            dag_id=dag_id,
            run_id=run_id,
            run_uuid=run_uuid,
            size=size,
            storage_class=storage_class,
        )
        try:
            claim, _ = await self._api.create(manifest)
        except KubeApiError as exc:
            raise StagingUnavailable(f"cannot create staging volume {name}: {exc}") from exc
        if (claim.get("metadata") or {}).get("deletionTimestamp"):
            raise StagingUnavailable(
                f"staging volume {name} of this run is still being deleted (the run succeeded "
                "earlier); the try fails and its retry gets a fresh volume"
            )
        modes = (claim.get("spec") or {}).get("accessModes") or []
        if "ReadWriteMany" not in modes:
            raise StagingUnavailable(
                f"staging volume {name} exists with access modes {modes}, not ReadWriteMany; "
                f"delete it (kubectl delete pvc {name}) or {_fix('')}"
            )
        self._ready.add(name)
        return name

    async def _check_class(self, storage_class: str | None) -> None:
        key = storage_class or ""
        if (
            not self._settings.staging_check_storage_class
            or self._class_check_forbidden
            or key in self._classes_ok
        ):
            return
        try:
            found = await self._find_class(storage_class)
        except KubeApiError as exc:
            if exc.status == 403:
                log.warning(
                    "cannot read storage classes (RBAC); staging classes are not checked",
                    error=str(exc),
                )
                self._class_check_forbidden = True
                return
            raise StagingUnavailable(f"cannot check the staging storage class: {exc}") from exc
        provisioner = str(found.get("provisioner") or "")
        if provisioner in BLOCK_ONLY_PROVISIONERS:
            class_name = found["metadata"]["name"]
            raise StagingUnavailable(
                f"storage class {class_name!r} (provisioner {provisioner}) only offers "
                f"ReadWriteOnce volumes, but staging needs ReadWriteMany: {_fix('')}"
            )
        self._classes_ok.add(key)

    async def _find_class(self, storage_class: str | None) -> Manifest:
        if storage_class:
            found = await self._api.get_storage_class(storage_class)
            if found is None:
                raise StagingUnavailable(
                    f"storage class {storage_class!r} does not exist in this cluster; "
                    f"{_fix(' (kubectl get storageclass lists them)')}"
                )
            return found
        defaults = [sc for sc in await self._api.list_storage_classes() if _is_default(sc)]
        if not defaults:
            raise StagingUnavailable(
                f"this DAG enables staging but the cluster has no default storage class; {_fix('')}"
            )
        return defaults[0]

    async def sweep(self) -> list[tuple[str, str]]:
        """Delete claims that are due or orphaned; returns ``(name, reason)`` of each."""
        now = self._clock()
        retention = timedelta(seconds=self._settings.staging_failed_retention_seconds)
        deleted: list[tuple[str, str]] = []
        for due in await store.list_due(self._db, "pvc", now - retention):
            name = due.volume.pvc_name
            await self._api.delete("PersistentVolumeClaim", name)
            await store.mark_deleted(self._db, [name], due.reason)
            self._ready.discard(name)
            deleted.append((name, due.reason))
        claims, _ = await self._api.list_objects(
            "PersistentVolumeClaim", selector(self._settings.instance, COMPONENT_STAGING)
        )
        active = await store.active_names(self._db, "pvc")
        grace = timedelta(seconds=self._settings.orphan_grace_seconds)
        for claim in claims:
            metadata = claim.get("metadata") or {}
            name = str(metadata.get("name"))
            created = parse_time(metadata.get("creationTimestamp")) or now
            if name in active or metadata.get("deletionTimestamp") or created + grace > now:
                continue
            await self._api.delete("PersistentVolumeClaim", name)
            await store.mark_deleted(self._db, [name], store.REASON_ORPHANED)
            self._ready.discard(name)
            deleted.append((name, store.REASON_ORPHANED))
        for name, reason in deleted:
            log.info("staging volume deleted", pvc=name, reason=reason)
        return deleted
