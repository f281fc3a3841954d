"""The subprocess executor's staging: one folder per run under ``<home>/staging``, with Pro's
lifecycle.

The folder is ``<root>/<tenant>/<dag_id>/<run_id>`` (each part made a safe path segment), the
same one the agent service hands to the task as ``LEOFLOW_STAGING_DIR``. The executor prepares
it before each try of a DAG with ``staging.enabled`` (:meth:`DirectoryStaging.prepare_launch`):
it is recorded in ``staging_volumes`` (kind ``directory``) before it is made, so it exists
before the run's first task and survives retries and clears. The sweeper
(:meth:`DirectoryStaging.sweep`, run every ``LEOFLOW_STAGING_SWEEP_INTERVAL_SECONDS``) deletes
it at once when its run succeeded, ``LEOFLOW_STAGING_FAILED_RETENTION_SECONDS`` after its run
failed, and when it is orphaned (no active row: its run was deleted, or it predates the
record) — the rules of the Kubernetes claims, on the same table (``store.staging_volumes``).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.spec.kubernetes import Staging
from leoflow.staging.paths import staging_directory
from leoflow.store import staging_volumes as store
from leoflow.store.pool import Database
from leoflow.telemetry import get_logger

log = get_logger(__name__)

DEPTH = 3
"""tenant / dag / run."""


def _now() -> datetime:
    return datetime.now(UTC)


class DirectoryStaging:
    """Prepares and sweeps the staging folders of runs."""

    def __init__(
        self,
        db: Database,
        root: Path,
        *,
        failed_retention_seconds: float = 86400.0,
        orphan_grace_seconds: float = 120.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._db = db
        self.root = root
        self._retention = timedelta(seconds=failed_retention_seconds)
        self._grace = orphan_grace_seconds
        self._clock = clock
        self._recorded: set[str] = set()
        """Folders recorded active by this process (spares a write per try of a run)."""

    def _name(self, folder: Path) -> str:
        return folder.relative_to(self.root).as_posix()

    async def prepare(self, *, tenant: str, dag_id: str, run_id: str, run_uuid: UUID) -> Path:
        """Record, then create, the run's folder (idempotent: every try may call it)."""
        folder = staging_directory(self.root, tenant, dag_id, run_id)
        name = self._name(folder)
        if name in self._recorded and folder.is_dir():
            return folder
        await store.record_active(self._db, run_uuid, name, kind="directory")
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        self._recorded.add(name)
        return folder

    async def prepare_launch(
        self, launch: TaskLaunch, tenant: str, staging: Staging | None
    ) -> Path | None:
        """The run's folder, ready, when the DAG enables staging (else ``None``).

        Raises :class:`ExecutorRefused` with the reason when it cannot be made, so the try
        fails (or retries) saying why instead of starting without its staging space.
        """
        if staging is None or not staging.enabled:
            return None
        try:
            return await self.prepare(
                tenant=tenant, dag_id=launch.dag_id, run_id=launch.run_id, run_uuid=launch.run_uuid
            )
        except OSError as exc:
            raise ExecutorRefused(
                f"cannot create the run's staging folder under {self.root}: "
                f"{exc.strerror or exc}; check the free space and permissions of that folder "
                "(LEOFLOW_HOME)"
            ) from exc
        except LookupError as exc:  # the run was deleted meanwhile
            raise ExecutorRefused(f"cannot record the run's staging folder: {exc}") from exc

    async def sweep(self) -> list[tuple[str, str]]:
        """Delete due and orphaned folders; returns ``(name, reason)`` of each."""
        deleted: list[tuple[str, str]] = []
        for due in await store.list_due(self._db, "directory", self._clock() - self._retention):
            name = due.volume.pvc_name
            self._recorded.discard(name)
            await asyncio.to_thread(shutil.rmtree, self.root / name, True)
            await store.mark_deleted(self._db, [name], due.reason)
            deleted.append((name, due.reason))
        active = await store.active_names(self._db, "directory")
        for folder in await asyncio.to_thread(self._run_folders):
            name = self._name(folder)
            if name in active or time.time() - folder.stat().st_mtime < self._grace:
                continue
            self._recorded.discard(name)
            await asyncio.to_thread(shutil.rmtree, folder, True)
            await store.mark_deleted(self._db, [name], store.REASON_ORPHANED)
            deleted.append((name, store.REASON_ORPHANED))
        for name, reason in deleted:
            log.info("staging folder deleted", folder=name, reason=reason)
        return deleted

    async def sweep_forever(self, interval_seconds: float) -> None:
        """Sweep every ``interval_seconds`` until cancelled; a failed pass is logged and the
        next one tries again."""
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away; never stop sweeping
                log.warning("staging folder sweep failed", error=str(exc))
            await asyncio.sleep(interval_seconds)

    def _run_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("/".join("*" * DEPTH)) if p.is_dir()]
