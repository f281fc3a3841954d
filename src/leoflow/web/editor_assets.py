"""Provisioning of the code editor of Lite's web editor (Monaco): pack, verify, extract.

The web editor (``/ide``) edits workspace files in Monaco, the editor of VS Code. Its browser
build ships only as the ``monaco-editor`` npm package, so it is fetched the way npm users get
it, ``npm pack monaco-editor@<pinned>`` (which honours the user's npm registry, mirror and
proxy configuration), checked against the sha512 the npm registry publishes for that release
and a sha256 pinned beside it, and only its AMD build ``min/vs`` is extracted, with the
package's ``LICENSE`` and ``ThirdPartyNotices.txt``. Nothing is installed and the browser never
loads the editor from a CDN: Leoflow serves the files itself, same-origin.

As for the Airflow web app, compressible files get a ``.gz`` sibling here (the server never
compresses per request) and ``manifest.json`` is written last, so a folder without it is
incomplete and is provisioned again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from leoflow.config import Settings
from leoflow.web.assets import (
    MANIFEST,
    AssetError,
    ProgressCallback,
    precompress,
    read_manifest,
)

MONACO_VERSION = "0.52.2"
"""The ``monaco-editor`` release the web editor is built and tested against."""

PACKAGE_SPEC = f"monaco-editor@{MONACO_VERSION}"
TARBALL_NAME = f"monaco-editor-{MONACO_VERSION}.tgz"
TARBALL_SHA512 = (
    "sha512-GEQWEZmfkOGLdd3XK8ryrfWz3AIP8YymVXiPH"
    "EdewrUq7mh0qrKrfHLNCXcbB6sTnMLnOZ3ztSiKcciFUkIJwQ=="
)
"""The registry's ``dist.integrity`` of the pinned tarball (``npm view monaco-editor@… dist``)."""
TARBALL_SHA256 = "c280cdcf0b0c13d1a2bf01af958d4387ed06d7f6c918401d00c4adcae1bc72b6"
"""sha256 of the same tarball, for mirrors and tools that speak only sha256."""

_VS_PREFIX = "package/min/vs/"
_NOTICE_FILES = {"package/LICENSE": "LICENSE", "package/ThirdPartyNotices.txt": "NOTICE.txt"}
REQUIRED_FILES = ("vs/loader.js", "vs/editor/editor.main.js", "vs/editor/editor.main.css")
_MAX_MEMBER_BYTES = 32 * 1024 * 1024

_ABOUT = f"""These files are the AMD build (min/vs) of the monaco-editor {MONACO_VERSION} npm
package, unmodified, fetched with `npm pack {PACKAGE_SPEC}` and verified against the
registry's checksum ({TARBALL_SHA512}).

Monaco is licensed under the MIT License (see LICENSE; NOTICE.txt lists the third-party
components it bundles). Leoflow Lite serves these files to its web editor (/ide), from the
same origin as the rest of Leoflow.

The *.gz files beside the originals are gzip copies made by Leoflow for serving.
"""


@dataclass(frozen=True)
class EditorAssets:
    """A complete, provisioned copy of the editor files."""

    root: Path
    version: str

    @property
    def vs_dir(self) -> Path:
        """Monaco's AMD module tree (``loader.js``, ``editor/``, ``base/``, languages)."""
        return self.root / "vs"


def default_editor_dir(home: Path) -> Path:
    """Where ``leoflow setup`` puts the editor files for ``home`` (``~/.leoflow``)."""
    return home / "assets" / "monaco-editor" / MONACO_VERSION


def editor_hint(dest: Path | None = None) -> str:
    """One sentence telling a person how to get the editor files."""
    where = f" into {dest}" if dest is not None else ""
    return (
        f"Run `leoflow setup` to download the code editor (monaco-editor {MONACO_VERSION}, "
        f"about 18 MB from your npm registry){where}; it needs npm, or pass a tarball you "
        f"fetched elsewhere: `leoflow setup --editor-tarball {TARBALL_NAME}`."
    )


def find_editor_assets(dest: Path) -> EditorAssets | None:
    """The provisioned files at ``dest``, or ``None`` when they are missing or incomplete."""
    manifest = read_manifest(dest)
    if manifest is None or manifest.get("version") != MONACO_VERSION:
        return None
    if not all((dest / name).is_file() for name in REQUIRED_FILES):
        return None
    return EditorAssets(root=dest, version=MONACO_VERSION)


def pack_tarball(target_dir: Path) -> Path:
    """``npm pack`` the pinned release into ``target_dir`` (no install, no scripts)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            f"npm is not installed, so {PACKAGE_SPEC} cannot be fetched; install Node.js and "
            f"npm, or fetch {TARBALL_NAME} elsewhere (`npm pack {PACKAGE_SPEC}`) and run "
            "`leoflow setup --editor-tarball PATH`"
        )
    command = [
        npm,
        "pack",
        PACKAGE_SPEC,
        "--ignore-scripts",
        "--silent",
        "--pack-destination",
        str(target_dir),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=600, cwd=target_dir
        )
    except subprocess.TimeoutExpired as exc:
        raise AssetError(
            f"`npm pack {PACKAGE_SPEC}` took longer than 10 minutes; check the network or "
            "your npm registry (npm config get registry)"
        ) from exc
    if done.returncode != 0:
        detail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise AssetError(
            f"`npm pack {PACKAGE_SPEC}` failed:\n{detail}\nCheck the network or your npm "
            f"registry, or fetch {TARBALL_NAME} elsewhere and run "
            "`leoflow setup --editor-tarball PATH`."
        )
    tarball = target_dir / TARBALL_NAME
    if not tarball.is_file():
        found = ", ".join(sorted(p.name for p in target_dir.iterdir())) or "nothing"
        raise AssetError(f"npm pack produced {found}, not {TARBALL_NAME}")
    return tarball


def _digests(path: Path) -> tuple[str, str]:
    sha512 = hashlib.sha512()
    sha256 = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha512.update(chunk)
            sha256.update(chunk)
    return "sha512-" + base64.b64encode(sha512.digest()).decode("ascii"), sha256.hexdigest()


def verify_tarball(tarball: Path) -> None:
    """Refuse a tarball whose sha512 or sha256 differs from the pinned ones."""
    integrity, sha256 = _digests(tarball)
    if integrity != TARBALL_SHA512 or sha256 != TARBALL_SHA256:
        raise AssetError(
            f"{tarball.name} has {integrity} (sha256 {sha256}), expected {TARBALL_SHA512}: the "
            f"file is not the published monaco-editor {MONACO_VERSION}; refusing to use it. "
            "Delete it and try again (check any npm mirror you use)."
        )


def _members(archive: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, PurePosixPath]]:
    """``(member, destination relative path)`` for every file the editor needs."""
    for info in archive.getmembers():
        name = info.name
        if name.startswith(_VS_PREFIX):
            relative = PurePosixPath("vs", name[len(_VS_PREFIX) :])
        elif name in _NOTICE_FILES:
            relative = PurePosixPath(_NOTICE_FILES[name])
        else:
            continue
        if info.isdir():
            continue
        unsafe = relative.is_absolute() or ".." in relative.parts
        if unsafe or not info.isfile() or info.size > _MAX_MEMBER_BYTES:
            raise AssetError(f"unexpected member {name!r} in {TARBALL_NAME}; refusing it")
        yield info, relative


def extract(tarball: Path, dest: Path, progress: ProgressCallback | None = None) -> int:
    """Extract ``min/vs`` and the license files of ``tarball`` into ``dest``; returns the
    number of files written."""
    with tarfile.open(tarball, "r:gz") as archive:
        members = list(_members(archive))
        written = {relative.as_posix() for _, relative in members}
        missing = [name for name in (*REQUIRED_FILES, "LICENSE") if name not in written]
        if missing:
            raise AssetError(f"{tarball.name} lacks {', '.join(missing)}; not a Monaco release")
        for done, (info, relative) in enumerate(members, start=1):
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(info)
            if source is None:  # pragma: no cover - regular files always have content
                raise AssetError(f"cannot read {info.name} in {tarball.name}")
            with source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            if progress:
                progress("Extracting editor files", done, len(members))
    return len(members)


def provision_editor(
    dest: Path,
    *,
    tarball: Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> EditorAssets:
    """Make ``dest`` hold the pinned editor files; a no-op when they are already there.

    ``tarball`` uses a tarball already at hand instead of running npm (air-gapped machines);
    it is verified all the same. The files are assembled in a sibling folder and moved into
    place at the end, so a failure leaves ``dest`` as it was.
    """
    existing = find_editor_assets(dest)
    if existing is not None and not force:
        return existing
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".provision-", dir=dest.parent) as scratch:
        work = Path(scratch)
        if tarball is None:
            if progress:
                progress(f"Fetching {PACKAGE_SPEC} with npm", 0, 0)
            tarball = pack_tarball(work / "download")
        elif not tarball.is_file():
            raise AssetError(f"no tarball at {tarball}; pass the path of {TARBALL_NAME}")
        if progress:
            progress("Verifying checksum", 0, 0)
        verify_tarball(tarball)
        staged = work / "editor"
        count = extract(tarball, staged, progress)
        (staged / "README.txt").write_text(_ABOUT, encoding="utf-8")
        precompress(staged, progress)
        manifest = {
            "version": MONACO_VERSION,
            "source": PACKAGE_SPEC,
            "integrity": TARBALL_SHA512,
            "sha256": TARBALL_SHA256,
            "files": count,
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
    assets = find_editor_assets(dest)
    if assets is None:  # pragma: no cover - the folder was just completed
        raise AssetError(f"provisioned {dest} but it does not look complete")
    return assets


def ensure_editor_assets(settings: Settings, report: Callable[[str], None]) -> EditorAssets | None:
    """Provision the editor files on Lite's first start; Lite works without them (the editor
    page then says how to get them), so a failure (no npm, offline) only reports."""
    dest = settings.editor_assets_dir or default_editor_dir(Path(settings.home))
    found = find_editor_assets(dest)
    if found is not None:
        return found
    report(f"[leoflow] first start: fetching the web editor's code editor into {dest} …")
    try:
        return provision_editor(dest)
    except AssetError as exc:
        report(f"[leoflow] the web editor's code editor could not be provisioned: {exc}")
        return None
