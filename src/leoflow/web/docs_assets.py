"""Provisioning of the API reference's renderer (Scalar): pack, verify, extract.

``/docs`` renders the OpenAPI document with Scalar, whose browser build ships as the
``@scalar/api-reference`` npm package. Like the web editor's Monaco it is fetched with
``npm pack @scalar/api-reference@<pinned>`` (the user's npm registry, mirror and proxy
configuration apply; nothing is installed, no package script runs), checked against the sha512
the registry publishes and a sha256 pinned beside it, and only its self-contained browser
bundle ``dist/browser/standalone.js`` is kept, with the package's ``package.json`` (its license
and version). The browser loads it from Leoflow's own origin: never from a CDN.
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

SCALAR_VERSION = "1.76.0"
"""The ``@scalar/api-reference`` release ``/docs`` is built and tested against."""

TARBALL_SHA512 = (
    "sha512-pjqwnzmA9YK3ZX+IZSICMsywm4qI6HLSngR2py9H6"
    "TvFApHHuJjkTAd+gFJfnqJDzJuro8k7ji6JCtJ2U+Byng=="
)
"""The registry's ``dist.integrity`` of the pinned tarball
(``npm view @scalar/api-reference@… dist``)."""
TARBALL_SHA256 = "f1821c173d387d3dd4722215b946ad9aec3610f177616f0a312e4eb159b9c378"
"""sha256 of the same tarball, for mirrors and tools that speak only sha256."""

ARTIFACT = PinnedArtifact(
    package="@scalar/api-reference",
    version=SCALAR_VERSION,
    registry="npm",
    sha256=TARBALL_SHA256,
    integrity=TARBALL_SHA512,
    local_option="--docs-tarball",
)
"""The npm tarball ``/docs`` is rendered with, as ``leoflow setup`` fetches and checks it."""
PACKAGE_SPEC = ARTIFACT.spec
TARBALL_NAME = ARTIFACT.filename

BUNDLE = "standalone.js"
_MEMBERS = {
    f"package/dist/browser/{BUNDLE}": f"browser/{BUNDLE}",
    "package/package.json": "package.json",
}
REQUIRED_FILES = (f"browser/{BUNDLE}", "package.json")
_MAX_MEMBER_BYTES = 32 * 1024 * 1024

_ABOUT = f"""This is the browser bundle (dist/browser/standalone.js) of the @scalar/api-reference
{SCALAR_VERSION} npm package, unmodified, fetched with `npm pack {PACKAGE_SPEC}` and verified
against the registry's checksum ({TARBALL_SHA512}).

Scalar is licensed under the MIT License (see "license" in package.json; the project is at
github.com/scalar/scalar). Leoflow serves it at /docs/scalar/ to render its REST API reference
(/docs) from the same origin as the rest of Leoflow.

The *.gz files beside the originals are gzip copies made by Leoflow for serving.
"""


@dataclass(frozen=True)
class DocsAssets:
    """A complete, provisioned copy of the API reference's renderer."""

    root: Path
    version: str

    @property
    def browser_dir(self) -> Path:
        """The folder served at ``/docs/scalar/`` (just the bundle and its gzip copy)."""
        return self.root / "browser"


def default_docs_dir(home: Path) -> Path:
    """Where ``leoflow setup`` puts the renderer for ``home`` (``~/.leoflow``)."""
    return home / "assets" / "scalar-api-reference" / SCALAR_VERSION


def docs_assets_dir(settings: Settings) -> Path:
    """The configured folder (``LEOFLOW_DOCS_ASSETS_DIR``), else the default under home."""
    return settings.docs_assets_dir or default_docs_dir(Path(settings.home))


def docs_hint(dest: Path | None = None) -> str:
    """One sentence telling a person how to get the renderer."""
    where = f" into {dest}" if dest is not None else ""
    return (
        f"Run `leoflow setup` to download the API reference renderer (@scalar/api-reference "
        f"{SCALAR_VERSION}, about 13 MB from your npm registry){where}; it needs npm, or pass "
        f"a tarball you fetched elsewhere: `leoflow setup --docs-tarball {TARBALL_NAME}`."
    )


def find_docs_assets(dest: Path) -> DocsAssets | None:
    """The provisioned files at ``dest``, or ``None`` when they are missing or incomplete."""
    if not is_provisioned(dest, SCALAR_VERSION, REQUIRED_FILES):
        return None
    return DocsAssets(root=dest, version=SCALAR_VERSION)


def _route(name: str) -> PurePosixPath | None:
    """Where a member of the tarball goes: the browser bundle and ``package.json`` only."""
    target = _MEMBERS.get(name)
    return PurePosixPath(target) if target is not None else None


def extract(tarball: Path, dest: Path, progress: ProgressCallback | None = None) -> int:
    """Extract the browser bundle and ``package.json`` of ``tarball`` into ``dest``; returns
    the number of files written."""
    return extract_archive(
        tarball,
        dest,
        _route,
        required=REQUIRED_FILES,
        not_what="not a Scalar API reference release",
        max_member_bytes=_MAX_MEMBER_BYTES,
        progress=progress,
        step="Extracting API reference files",
    )


def provision_docs(
    dest: Path,
    *,
    tarball: Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> DocsAssets:
    """Make ``dest`` hold the pinned renderer; a no-op when it is already there.

    ``tarball`` uses a tarball already at hand instead of running npm (air-gapped machines,
    image builds); it is verified all the same. A failure leaves ``dest`` as it was.
    """
    existing = find_docs_assets(dest)
    if existing is not None and not force:
        return existing
    install_pinned(dest, ARTIFACT, extract, about=_ABOUT, local=tarball, progress=progress)
    assets = find_docs_assets(dest)
    if assets is None:  # pragma: no cover - the folder was just completed
        raise AssetError(f"provisioned {dest} but it does not look complete")
    return assets


def ensure_docs_assets(settings: Settings, report: Callable[[str], None]) -> DocsAssets | None:
    """Provision the renderer on Lite's first start; Lite works without it (``/docs`` then
    says how to get it), so a failure (no npm, offline) only reports."""
    dest = docs_assets_dir(settings)
    found = find_docs_assets(dest)
    if found is not None:
        return found
    report(f"[leoflow] first start: fetching the API reference renderer into {dest} …")
    try:
        return provision_docs(dest)
    except AssetError as exc:
        report(f"[leoflow] the API reference renderer could not be provisioned: {exc}")
        return None
