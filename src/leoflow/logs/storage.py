"""Where task logs are kept: an interface, and local files (one JSON-lines file per try).

Layout: ``<home>/logs/{tenant}/{dag_id}/{run_id}/{task_id}/{try}.log`` (a mapped instance
adds ``map_{index}/`` before the file). Each append opens, writes and closes the file, so a
line is visible to readers as soon as its batch arrives (agents send a batch at least every
second), and a crash loses at most the batch being written. Object storage can implement the
same interface later.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from leoflow.logs.records import LogRecord, TryLogRef

_SAFE = re.compile(r"^[A-Za-z0-9._+:=@,~-]+$")


def path_component(value: str) -> str:
    """``value`` as one safe path segment: run ids come from API callers and could hold
    ``/`` or be ``..``; anything outside a conservative set is percent-encoded."""
    if value and value not in (".", "..") and _SAFE.match(value):
        return value
    if not value:
        return "%00"
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def relative_log_path(ref: TryLogRef) -> Path:
    """The path of a try's log below the logs root."""
    folder = Path(
        path_component(ref.tenant),
        path_component(ref.dag_id),
        path_component(ref.run_id),
        path_component(ref.task_id),
    )
    if ref.map_index >= 0:
        folder = folder / f"map_{ref.map_index}"
    return folder / f"{int(ref.try_number)}.log"


class LogStorage(Protocol):
    """Append-only storage of task logs, one object per try."""

    async def append(self, ref: TryLogRef, records: Sequence[LogRecord]) -> int:
        """Store ``records`` after what is there; the number of bytes written."""

    async def read(self, ref: TryLogRef, offset: int = 0) -> tuple[list[str], int]:
        """Complete lines from byte ``offset`` and the offset after the last one."""

    async def exists(self, ref: TryLogRef) -> bool:
        """Whether anything was stored for this try."""

    async def size(self, ref: TryLogRef) -> int:
        """Bytes stored for this try (0 when none)."""

    async def delete_older_than(self, max_age_seconds: float) -> int:
        """Remove logs not written to for ``max_age_seconds``; the number removed."""


class FileLogStorage:
    """Logs as JSON-lines files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks: dict[Path, asyncio.Lock] = {}

    def path(self, ref: TryLogRef) -> Path:
        """The file of a try (whether or not it exists yet)."""
        return self.root / relative_log_path(ref)

    def _lock(self, path: Path) -> asyncio.Lock:
        lock = self._locks.get(path)
        if lock is None:
            if len(self._locks) > 4096:  # forget idle locks; a busy one is re-created on demand
                self._locks = {p: lk for p, lk in self._locks.items() if lk.locked()}
            lock = self._locks[path] = asyncio.Lock()
        return lock

    async def append(self, ref: TryLogRef, records: Sequence[LogRecord]) -> int:
        if not records:
            return 0
        data = "".join(record.to_json() + "\n" for record in records).encode("utf-8")
        path = self.path(ref)
        async with self._lock(path):
            try:
                handle = path.open("ab")
            except FileNotFoundError:  # the try's first lines: make its folder (only then)
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("ab")
            with handle:
                handle.write(data)
        return len(data)

    async def read(self, ref: TryLogRef, offset: int = 0) -> tuple[list[str], int]:
        path = self.path(ref)
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], offset
        complete = data.rfind(b"\n") + 1
        text = data[:complete].decode("utf-8", "replace")
        return text.splitlines(), offset + complete

    async def exists(self, ref: TryLogRef) -> bool:
        return self.path(ref).is_file()

    async def size(self, ref: TryLogRef) -> int:
        try:
            return self.path(ref).stat().st_size
        except FileNotFoundError:
            return 0

    async def delete_older_than(self, max_age_seconds: float) -> int:
        return await asyncio.to_thread(self._delete_older_than, max_age_seconds)

    def _delete_older_than(self, max_age_seconds: float) -> int:
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - max_age_seconds
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root, topdown=False):
            for name in files:
                file = Path(dirpath, name)
                try:
                    if name.endswith(".log") and file.stat().st_mtime < cutoff:
                        file.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
            folder = Path(dirpath)
            if folder != self.root and not any(folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)
        return removed
