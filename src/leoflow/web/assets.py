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

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from leoflow.web.pinned import (
    COMPRESS_MIN_BYTES,
    COMPRESSIBLE_SUFFIXES,
    MANIFEST,
    AssetError,
    PinnedArtifact,
    ProgressCallback,
    compressible,
    extract_archive,
    install_pinned,
    is_provisioned,
    precompress,
    read_manifest,
    sha256_of,
)

__all__ = [  # the shared names are re-exported: callers know them from here
    "AIRFLOW_UI_VERSION",
    "ARTIFACT",
    "COMPRESSIBLE_SUFFIXES",
    "COMPRESS_MIN_BYTES",
    "LICENSE_FILES",
    "LOGIN_PREFIX",
    "MANIFEST",
    "PACKAGE_SPEC",
    "REQUIRED_FILES",
    "UI_PREFIX",
    "WHEEL_NAME",
    "WHEEL_SHA256",
    "AssetError",
    "ProgressCallback",
    "UiAssets",
    "compressible",
    "default_assets_dir",
    "download_wheel",
    "extract",
    "find_assets",
    "precompress",
    "provision",
    "provisioning_hint",
    "read_manifest",
    "sha256_of",
    "verify_wheel",
]

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

_MAX_MEMBER_BYTES = 64 * 1024 * 1024
REQUIRED_FILES = ("ui/index.html", "auth/index.html")

ARTIFACT = PinnedArtifact(
    package="apache-airflow-core",
    version=AIRFLOW_UI_VERSION,
    registry="pypi",
    sha256=WHEEL_SHA256,
    wheel_name=WHEEL_NAME,
    local_option="--wheel",
)
"""The wheel the UI files come from, as ``leoflow setup`` fetches and checks it."""

_ABOUT = f"""These files are the compiled web UI of Apache Airflow {AIRFLOW_UI_VERSION}, unmodified,
extracted from the apache-airflow-core wheel published on PyPI (sha256 {WHEEL_SHA256}).

They are licensed under the Apache License 2.0 (see LICENSE and NOTICE in this folder).
Leoflow serves them so that Airflow users find the UI they know; Leoflow is an independent
project, compatible with Apache Airflow and not endorsed by the Apache Software Foundation.
"Apache Airflow" and the Airflow logo are trademarks of the Apache Software Foundation.

The *.gz files beside the originals are gzip copies made by Leoflow for serving.
"""


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


def find_assets(dest: Path) -> UiAssets | None:
    """The provisioned files at ``dest``, or ``None`` when they are missing or incomplete."""
    if not is_provisioned(dest, AIRFLOW_UI_VERSION, REQUIRED_FILES):
        return None
    return UiAssets(root=dest, version=AIRFLOW_UI_VERSION)


def download_wheel(target_dir: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies, binary only) into ``target_dir``."""
    return ARTIFACT.fetch(target_dir)


def verify_wheel(wheel: Path) -> None:
    """Refuse a wheel whose checksum differs from the pinned one."""
    ARTIFACT.verify(wheel)


def _route(name: str) -> PurePosixPath | None:
    """Where a member of the wheel goes: the two UI folders and the license files only."""
    if name.startswith(UI_PREFIX):
        return PurePosixPath("ui", name[len(UI_PREFIX) :])
    if name.startswith(LOGIN_PREFIX):
        return PurePosixPath("auth", name[len(LOGIN_PREFIX) :])
    if name.startswith(_LICENSE_DIR) and name[len(_LICENSE_DIR) :] in LICENSE_FILES:
        return PurePosixPath(name[len(_LICENSE_DIR) :])
    return None


def extract(wheel: Path, dest: Path, progress: ProgressCallback | None = None) -> int:
    """Extract the UI folders and the license files of ``wheel`` into ``dest``; returns the
    number of files written."""
    return extract_archive(
        wheel,
        dest,
        _route,
        required=("auth", "ui", *LICENSE_FILES),
        not_what="not a UI wheel",
        max_member_bytes=_MAX_MEMBER_BYTES,
        progress=progress,
        step="Extracting UI files",
    )


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
    install_pinned(dest, ARTIFACT, extract, about=_ABOUT, local=wheel, progress=progress)
    assets = find_assets(dest)
    if assets is None:  # pragma: no cover - the folder was just completed
        raise AssetError(f"provisioned {dest} but it does not look complete")
    return assets
