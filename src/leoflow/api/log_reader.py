"""Where the logs route reads task logs from: a small protocol and its file implementation.

The API needs only three things from log storage: read one try's log from a position, and
forget a run's or a DAG's logs when their history is deleted. Storage is behind
:class:`LogReader` so that another backend (object storage) can serve the same route without
touching it.

:class:`FileLogReader` reads the JSON-lines files of :mod:`leoflow.logs` (one file per try,
``<root>/<tenant>/<dag_id>/<run_id>/<task_id>/<try>.log``, each line ``{"timestamp", "level",
"stream", "event"}``) through its storage class, so the layout has a single definition. A line
that is not JSON is served as its text rather than dropped.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leoflow.logs import FileLogStorage, TryLogRef, parse_line, path_component


@dataclass(frozen=True)
class LogKey:
    """One try of one task instance."""

    tenant: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    def ref(self) -> TryLogRef:
        """The same try in the log storage's terms."""
        return TryLogRef(
            tenant=self.tenant,
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            try_number=self.try_number,
            map_index=self.map_index,
        )


@dataclass(frozen=True)
class LogChunk:
    """Complete lines read from a position, and the position after them."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    next_offset: int = 0
    exists: bool = True
    """``False`` when nothing was ever written for the try."""


class LogReader(Protocol):
    """Read access to task logs, plus removal when run history is deleted."""

    async def read(self, key: LogKey, offset: int = 0) -> LogChunk:
        """Complete lines of the try's log from byte ``offset`` on."""
        ...

    async def delete_run(self, tenant: str, dag_id: str, run_id: str) -> None:
        """Forget every log of one run."""
        ...

    async def delete_dag(self, tenant: str, dag_id: str) -> None:
        """Forget every log of every run of a DAG."""
        ...


def _without_nulls(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


class FileLogReader:
    """Reads the task log files under ``root`` (``<home>/logs`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._storage = FileLogStorage(self.root)

    async def read(self, key: LogKey, offset: int = 0) -> LogChunk:
        """Complete lines from ``offset``; a partial last line waits for the next read."""
        ref = key.ref()
        if not await self._storage.exists(ref):
            return LogChunk(exists=False, next_offset=offset)
        lines, next_offset = await self._storage.read(ref, max(offset, 0))
        return LogChunk(
            lines=[_without_nulls(parse_line(line)) for line in lines if line.strip()],
            next_offset=next_offset,
        )

    async def _remove(self, *parts: str) -> None:
        path = self.root.joinpath(*(path_component(part) for part in parts))
        await asyncio.to_thread(shutil.rmtree, path, True)

    async def delete_run(self, tenant: str, dag_id: str, run_id: str) -> None:
        """Remove the run's log folder (nothing happens when it does not exist)."""
        await self._remove(tenant, dag_id, run_id)

    async def delete_dag(self, tenant: str, dag_id: str) -> None:
        """Remove the DAG's log folder (nothing happens when it does not exist)."""
        await self._remove(tenant, dag_id)
