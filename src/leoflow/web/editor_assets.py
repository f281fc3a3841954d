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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from leoflow.config import Settings
from leoflow.web.pinned import (
    AssetError,
    PinnedArtifact,
    ProgressCallback,
    extract_archive,
    install_pinned,
    is_provisioned,
)

MONACO_VERSION = "0.52.2"
"""The ``monaco-editor`` release the web editor is built and tested against."""

TARBALL_SHA512 = (
    "sha512-GEQWEZmfkOGLdd3XK8ryrfWz3AIP8YymVXiPH"
    "EdewrUq7mh0qrKrfHLNCXcbB6sTnMLnOZ3ztSiKcciFUkIJwQ=="
)
"""The registry's ``dist.integrity`` of the pinned tarball (``npm view monaco-editor@… dist``)."""
TARBALL_SHA256 = "c280cdcf0b0c13d1a2bf01af958d4387ed06d7f6c918401d00c4adcae1bc72b6"
"""sha256 of the same tarball, for mirrors and tools that speak only sha256."""

ARTIFACT = PinnedArtifact(
    package="monaco-editor",
    version=MONACO_VERSION,
    registry="npm",
    sha256=TARBALL_SHA256,
    integrity=TARBALL_SHA512,
    local_option="--editor-tarball",
)
"""The npm tarball the editor files come from, as ``leoflow setup`` fetches and checks it."""
PACKAGE_SPEC = ARTIFACT.spec
TARBALL_NAME = ARTIFACT.filename

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
    if not is_provisioned(dest, MONACO_VERSION, REQUIRED_FILES):
        return None
    return EditorAssets(root=dest, version=MONACO_VERSION)


def pack_tarball(target_dir: Path) -> Path:
    """``npm pack`` the pinned release into ``target_dir`` (no install, no scripts)."""
    return ARTIFACT.fetch(target_dir)


def verify_tarball(tarball: Path) -> None:
    """Refuse a tarball whose sha512 or sha256 differs from the pinned ones."""
    ARTIFACT.verify(tarball)


def _route(name: str) -> PurePosixPath | None:
    """Where a member of the tarball goes: Monaco's AMD build and the license files only."""
    if name.startswith(_VS_PREFIX):
        return PurePosixPath("vs", name[len(_VS_PREFIX) :])
    if name in _NOTICE_FILES:
        return PurePosixPath(_NOTICE_FILES[name])
    return None


def extract(tarball: Path, dest: Path, progress: ProgressCallback | None = None) -> int:
    """Extract ``min/vs`` and the license files of ``tarball`` into ``dest``; returns the
    number of files written."""
    return extract_archive(
        tarball,
        dest,
        _route,
        required=(*REQUIRED_FILES, "LICENSE"),
        not_what="not a Monaco release",
        max_member_bytes=_MAX_MEMBER_BYTES,
        progress=progress,
        step="Extracting editor files",
    )


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
    install_pinned(dest, ARTIFACT, extract, about=_ABOUT, local=tarball, progress=progress)
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
