"""Lite's staging: one folder per run under ``<home>/staging``, with Pro's lifecycle.

The folder is ``<root>/<tenant>/<dag_id>/<run_id>`` (each part made a safe path segment), the
same one the agent service hands to the task as ``LEOFLOW_STAGING_DIR``. It is recorded in
``staging_volumes`` (kind ``directory``) before it is made, survives retries and clears, and the
sweeper deletes it at once when its run succeeded, after the retention when its run failed,
and when it is orphaned (no active row: its run was deleted, or it predates the record).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from leoflow.logs.storage import path_component
from leoflow.store import staging_volumes as store
from leoflow.store.pool import Database
from leoflow.telemetry import get_logger

log = get_logger(__name__)

DEPTH = 3
"""tenant / dag / run."""


def staging_directory(root: Path, tenant: str, dag_id: str, run_id: str) -> Path:
    """The run's folder below ``root``."""
    return root / path_component(tenant) / path_component(dag_id) / path_component(run_id)


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

    def _name(self, folder: Path) -> str:
        return folder.relative_to(self.root).as_posix()

    async def prepare(self, *, tenant: str, dag_id: str, run_id: str, run_uuid: UUID) -> Path:
        """Record, then create, the run's folder (idempotent: every try may call it)."""
        folder = staging_directory(self.root, tenant, dag_id, run_id)
        await store.record_active(self._db, run_uuid, self._name(folder), kind="directory")
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        return folder

    async def sweep(self) -> list[tuple[str, str]]:
        """Delete due and orphaned folders; returns ``(name, reason)`` of each."""
        deleted: list[tuple[str, str]] = []
        for due in await store.list_due(self._db, "directory", self._clock() - self._retention):
            name = due.volume.pvc_name
            await asyncio.to_thread(shutil.rmtree, self.root / name, True)
            await store.mark_deleted(self._db, [name], due.reason)
            deleted.append((name, due.reason))
        active = await store.active_names(self._db, "directory")
        for folder in await asyncio.to_thread(self._run_folders):
            name = self._name(folder)
            if name in active or time.time() - folder.stat().st_mtime < self._grace:
                continue
            await asyncio.to_thread(shutil.rmtree, folder, True)
            await store.mark_deleted(self._db, [name], store.REASON_ORPHANED)
            deleted.append((name, store.REASON_ORPHANED))
        for name, reason in deleted:
            log.info("staging folder deleted", folder=name, reason=reason)
        return deleted

    def _run_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("/".join("*" * DEPTH)) if p.is_dir()]
