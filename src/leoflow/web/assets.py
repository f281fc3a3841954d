"""Provisioning of the Airflow web UI files: download, verify, extract, precompress.

The compiled UI lives inside the ``apache-airflow-core`` wheel. Installing that package would
drag in Airflow's whole runtime, so it is only *downloaded* (``pip download --no-deps``, which
honours the user's pip configuration and mirrors), checked against a checksum pinned here, and
two folders are extracted from it:

* ``airflow/ui/dist`` → ``<dest>/ui`` (the web app);
* ``airflow/api_fastapi/auth/managers/simple/ui/dist`` → ``<dest>/auth`` (its login page);

with Airflow's ``LICENSE`` and ``NOTICE`` beside them. Compressible files get a ``.gz``
sibling at this point, so the server never compresses per request. ``manifest.json`` is
written last: its presence means the folder is complete, which makes provisioning idempotent
and lets a half-finished run be retried safely.

The pinned version matters: the web app calls a private, unstable API (``/ui/*``) that
Leoflow implements for exactly this version. Changing it is a deliberate port.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

AIRFLOW_UI_VERSION = "3.3.2"
"""The Airflow release whose web app Leoflow serves (and whose ``/ui`` API it implements)."""

WHEEL_NAME = f"apache_airflow_core-{AIRFLOW_UI_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "99258922bccec15be4700ff89f3c942b8acd93407e263c287ce863e671bb3c50"
"""sha256 of the wheel on PyPI; anything else is refused."""

PACKAGE_SPEC = f"apache-airflow-core=={AIRFLOW_UI_VERSION}"

UI_PREFIX = "airflow/ui/dist/"
LOGIN_PREFIX = "airflow/api_fastapi/auth/managers/simple/ui/dist/"
_LICENSE_DIR = f"apache_airflow_core-{AIRFLOW_UI_VERSION}.dist-info/licenses/"
LICENSE_FILES = ("LICENSE", "NOTICE")

MANIFEST = "manifest.json"
COMPRESSIBLE_SUFFIXES = frozenset(
    {".js", ".mjs", ".css", ".json", ".html", ".svg", ".wasm", ".ttf", ".map", ".txt"}
)
COMPRESS_MIN_BYTES = 1024
_MAX_MEMBER_BYTES = 64 * 1024 * 1024

ProgressCallback = Callable[[str, int, int], None]
"""``(step description, done, total)``; ``total`` 0 means unknown."""

_ABOUT = f"""These files are the compiled web UI of Apache Airflow {AIRFLOW_UI_VERSION}, unmodified,
extracted from the apache-airflow-core wheel published on PyPI (sha256 {WHEEL_SHA256}).

They are licensed under the Apache License 2.0 (see LICENSE and NOTICE in this folder).
Leoflow serves them so that Airflow users find the UI they know; Leoflow is an independent
project, compatible with Apache Airflow and not endorsed by the Apache Software Foundation.
"Apache Airflow" and the Airflow logo are trademarks of the Apache Software Foundation.

The *.gz files beside the originals are gzip copies made by Leoflow for serving.
"""


class AssetError(RuntimeError):
    """The UI files cannot be provisioned; the message names the problem and the fix."""


@dataclass(frozen=True)
class UiAssets:
    """A complete, provisioned copy of the UI files."""

    root: Path
    version: str

    @property
    def ui_dir(self) -> Path:
        """The web app (``index.html``, ``assets/``, ``i18n/``)."""
        return self.root / "ui"

    @property
    def login_dir(self) -> Path:
        """The login page."""
        return self.root / "auth"


def default_assets_dir(home: Path) -> Path:
    """Where ``leoflow setup`` puts the UI files for ``home`` (``~/.leoflow``)."""
    return home / "assets" / "airflow-ui" / AIRFLOW_UI_VERSION


def provisioning_hint(dest: Path | None = None) -> str:
    """One sentence telling a person how to get the UI files."""
    where = f" into {dest}" if dest is not None else ""
    return (
        f"Run `leoflow setup` to download the Apache Airflow {AIRFLOW_UI_VERSION} web UI "
        f"files{where} (about 7 MB from your Python package index)."
    )


def read_manifest(dest: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` of a provisioned folder, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_assets(dest: Path) -> UiAssets | None:
    """The provisioned files at ``dest``, or ``None`` when they are missing or incomplete."""
    manifest = read_manifest(dest)
    if manifest is None or manifest.get("version") != AIRFLOW_UI_VERSION:
        return None
    if not (dest / "ui" / "index.html").is_file() or not (dest / "auth" / "index.html").is_file():
        return None
    return UiAssets(root=dest, version=AIRFLOW_UI_VERSION)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_wheel(target_dir: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies, binary only) into ``target_dir``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(target_dir),
        PACKAGE_SPEC,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    except FileNotFoundError as exc:  # pragma: no cover - sys.executable always exists
        raise AssetError(f"cannot run pip ({exc}); install pip for {sys.executable}") from exc
    except subprocess.TimeoutExpired as exc:
        raise AssetError(
            f"downloading {PACKAGE_SPEC} took longer than 10 minutes; check the network or "
            "your pip index (PIP_INDEX_URL), or pass a wheel you downloaded: "
            "`leoflow setup --wheel PATH`"
        ) from exc
    if done.returncode != 0:
        detail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        if "No module named pip" in detail:
            raise AssetError(
                f"pip is not available for {sys.executable}; install it, or download "
                f"{WHEEL_NAME} elsewhere and run `leoflow setup --wheel PATH`"
            )
        raise AssetError(
            f"`pip download {PACKAGE_SPEC}` failed:\n{detail}\n"
            "Check the network or your pip index (PIP_INDEX_URL), or download "
            f"{WHEEL_NAME} elsewhere and run `leoflow setup --wheel PATH`."
        )
    wheel = target_dir / WHEEL_NAME
    if not wheel.is_file():
        found = ", ".join(sorted(p.name for p in target_dir.iterdir())) or "nothing"
        raise AssetError(f"pip download produced {found}, not {WHEEL_NAME}")
    return wheel


def verify_wheel(wheel: Path) -> None:
    """Refuse a wheel whose checksum differs from the pinned one."""
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        raise AssetError(
            f"{wheel.name} has sha256 {actual}, expected {WHEEL_SHA256}: the file is not the "
            f"published apache-airflow-core {AIRFLOW_UI_VERSION}; refusing to use it. Delete it "
            "and run `leoflow setup` again (check any package mirror you use)."
        )


def _members(archive: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """``(member, destination relative path)`` for every file the UI needs."""
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename
        if name.startswith(UI_PREFIX):
            relative = PurePosixPath("ui", name[len(UI_PREFIX) :])
        elif name.startswith(LOGIN_PREFIX):
            relative = PurePosixPath("auth", name[len(LOGIN_PREFIX) :])
        elif name.startswith(_LICENSE_DIR) and name[len(_LICENSE_DIR) :] in LICENSE_FILES:
            relative = PurePosixPath(name[len(_LICENSE_DIR) :])
        else:
            continue
        if relative.is_absolute() or ".." in relative.parts or info.file_size > _MAX_MEMBER_BYTES:
            raise AssetError(f"unexpected member {name!r} in {WHEEL_NAME}; refusing it")
        yield info, relative


def extract(wheel: Path, dest: Path, progress: ProgressCallback | None = None) -> int:
    """Extract the UI folders and the license files of ``wheel`` into ``dest``; returns the
    number of files written."""
    with zipfile.ZipFile(wheel) as archive:
        members = list(_members(archive))
        roots = {relative.parts[0] for _, relative in members}
        missing = {"ui", "auth", *LICENSE_FILES} - roots
        if missing:
            raise AssetError(f"{wheel.name} lacks {', '.join(sorted(missing))}; not a UI wheel")
        for done, (info, relative) in enumerate(members, start=1):
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            if progress:
                progress("Extracting UI files", done, len(members))
    return len(members)


def compressible(path: Path) -> bool:
    """Whether ``path`` is worth a ``.gz`` sibling (text-like and not tiny)."""
    return (
        path.suffix.lower() in COMPRESSIBLE_SUFFIXES and path.stat().st_size >= COMPRESS_MIN_BYTES
    )


def precompress(root: Path, progress: ProgressCallback | None = None) -> int:
    """Write a ``.gz`` sibling for every compressible file under ``root`` that lacks an
    up-to-date one; returns how many were written. Idempotent."""
    candidates = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix != ".gz" and compressible(p)
    )
    written = 0
    for done, path in enumerate(candidates, start=1):
        packed = path.with_name(path.name + ".gz")
        if not packed.exists() or packed.stat().st_mtime < path.stat().st_mtime:
            data = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
            tmp = packed.with_name(packed.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, packed)
            written += 1
        if progress:
            progress("Compressing UI files", done, len(candidates))
    return written


def provision(
    dest: Path,
    *,
    wheel: Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> UiAssets:
    """Make ``dest`` hold the pinned UI files; a no-op when they are already there.

    ``wheel`` uses a wheel file already at hand instead of downloading (air-gapped machines);
    it is verified all the same. ``force`` provisions again even if ``dest`` is complete.
    The files are assembled in a sibling folder and moved into place at the end, so a
    failure leaves ``dest`` as it was.
    """
    existing = find_assets(dest)
    if existing is not None and not force:
        precompress(existing.root)
        return existing
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".provision-", dir=dest.parent) as scratch:
        work = Path(scratch)
        if wheel is None:
            if progress:
                progress(f"Downloading {PACKAGE_SPEC}", 0, 0)
            wheel = download_wheel(work / "download")
        elif not wheel.is_file():
            raise AssetError(f"no wheel at {wheel}; pass the path of {WHEEL_NAME}")
        if progress:
            progress("Verifying checksum", 0, 0)
        verify_wheel(wheel)
        staged = work / "assets"
        count = extract(wheel, staged, progress)
        (staged / "README.txt").write_text(_ABOUT, encoding="utf-8")
        precompress(staged, progress)
        manifest = {
            "version": AIRFLOW_UI_VERSION,
            "source": PACKAGE_SPEC,
            "wheel_sha256": WHEEL_SHA256,
            "files": count,
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
    assets = find_assets(dest)
    if assets is None:  # pragma: no cover - the folder was just completed
        raise AssetError(f"provisioned {dest} but it does not look complete")
    return assets
