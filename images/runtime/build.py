#!/usr/bin/env python3
"""Build ``leoflow/python-runtime:<python_version>`` without any container registry.

The image is the base of every DAG image, so it must be buildable where only Debian's package
mirror and PyPI are reachable (CI, air-gapped build hosts with mirrors): no ``FROM python:…``
pull. Four steps, each cached under ``--cache-dir`` by a hash of its inputs so a rerun with
nothing changed takes seconds:

1. rootfs: ``mmdebstrap`` writes a minimal Debian root filesystem with python3, venv, apt and
   tzdata as a tarball (skipped with ``--rootfs-image``, any Debian-based image with python3
   and python3-venv).
2. import: the tarball becomes a local image with ``podman import`` / ``docker import``.
3. wheelhouse: leoflow-sdk is built as a wheel from ``sdk/`` and its dependencies are
   downloaded for the image's Python and platform, on the host, so the image build needs no
   network at all (it runs with ``--network=none``).
4. image: ``images/runtime/Dockerfile`` is built on the imported rootfs with the wheelhouse in
   its context; the image carries the hash as a label, and an image with the same label is
   reused.

Usage: ``python3 images/runtime/build.py --python-version 3.11 [--builder podman] [--json]``.
Only the standard library is used, so any Python 3.11+ on the host can run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPE_VERSION = "1"
"""Bumped when a step changes in a way its inputs do not show, to invalidate caches."""

SUITES = {"3.11": ("bookworm", 36), "3.13": ("trixie", 41)}
"""Python version -> (Debian suite that ships it as python3, that suite's glibc minor)."""

PACKAGES = ("python3", "python3-venv", "apt", "ca-certificates", "passwd", "tzdata")
"""On top of Debian's essential set: Python with venv/pip, apt for DAG images'
``system_packages``, CA certificates and time zones for user code, useradd for the user."""

DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
"""Kept in the image's dpkg config, so packages installed later skip docs too."""

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DEFAULT_CACHE = Path(os.environ.get("LEOFLOW_IMAGE_CACHE", "/var/tmp/leoflow-images"))
BUILD_KEY_LABEL = "io.leoflow.build-key"


class BuildError(Exception):
    """A step failed; the message says which and what to do."""


def log(message: str) -> None:
    print(f"[runtime-image] {message}", file=sys.stderr, flush=True)


def run(command: Sequence[str], *, quiet: bool = False, cwd: Path | None = None) -> str:
    """Run ``command``; its output goes to stderr unless ``quiet`` (then it is returned)."""
    try:
        done = subprocess.run(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if quiet else sys.stderr,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            cwd=cwd,
            check=False,
        )
    except OSError as exc:
        raise BuildError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        output = f":\n{done.stdout}" if quiet and done.stdout else ""
        raise BuildError(f"`{' '.join(command[:3])} …` failed (exit {done.returncode}){output}")
    return done.stdout or ""


def digest_of(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def tree_digest(root: Path) -> str:
    """Hash of the files under ``root`` (paths and contents), ignoring caches."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or not path.is_file():
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prune(cache_dir: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` newest cache entries matching ``pattern``.

    Each change of leoflow-sdk or of the recipe makes a new entry; without pruning a
    developer's cache would grow by a wheelhouse or a rootfs tarball every time.
    """
    entries = sorted(cache_dir.glob(pattern), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@dataclass
class Options:
    python_version: str
    tag: str
    builder: str
    cache_dir: Path
    rootfs_image: str | None
    mirror: str
    security_mirror: str
    sdk_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)


def builder_kind(builder: str) -> str:
    name = Path(builder).name
    for kind in ("podman", "docker"):
        if name.startswith(kind):
            return kind
    raise BuildError(f"--builder {builder}: use podman or docker (they can import a rootfs)")


def image_exists(options: Options, reference: str) -> bool:
    done = subprocess.run(
        [options.builder, "image", "inspect", reference],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def image_id(options: Options, reference: str) -> str | None:
    done = subprocess.run(
        [options.builder, "image", "inspect", "--format", "{{.Id}}", reference],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def image_label(options: Options, reference: str, label: str) -> str | None:
    done = subprocess.run(
        [
            options.builder,
            "image",
            "inspect",
            "--format",
            f'{{{{index .Labels "{label}"}}}}',
            reference,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def make_rootfs(options: Options) -> tuple[str, str]:
    """The rootfs image to build on and its cache key: imported from an mmdebstrap tarball."""
    if options.rootfs_image:
        options.cached["rootfs"] = True
        return options.rootfs_image, digest_of("rootfs-image", options.rootfs_image)
    if options.python_version not in SUITES:
        known = ", ".join(sorted(SUITES))
        raise BuildError(
            f"no Debian suite ships Python {options.python_version} (offline builds know "
            f"{known}); pass --rootfs-image with a Debian-based image that has python3 "
            f"{options.python_version} and python3-venv, e.g. python:{options.python_version}-slim"
        )
    suite, _ = SUITES[options.python_version]
    sources = [
        f"deb {options.mirror} {suite} main",
        f"deb {options.mirror} {suite}-updates main",
        f"deb {options.security_mirror} {suite}-security main",
    ]
    key = digest_of(RECIPE_VERSION, suite, PACKAGES, DPKG_OPTIONS, sources)
    name = f"localhost/leoflow/rootfs:{suite}-{key[:12]}"
    if image_exists(options, name):
        options.cached["rootfs"] = True
        return name, key
    tarball = options.cache_dir / f"rootfs-{suite}-{key[:16]}.tar"
    started = time.monotonic()
    if tarball.is_file():
        options.cached["rootfs"] = True
    else:
        options.cached["rootfs"] = False
        if shutil.which("mmdebstrap") is None:
            raise BuildError(
                "mmdebstrap is not installed: apt-get install mmdebstrap (or pass --rootfs-image)"
            )
        log(f"making a Debian {suite} rootfs with mmdebstrap (about 30 s)")
        partial = tarball.with_suffix(f".partial-{os.getpid()}")
        command = [
            "mmdebstrap",
            "--variant=essential",
            f"--include={','.join(PACKAGES)}",
            *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
            '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
            "--format=tar",
            suite,
            str(partial),
            *sources,
        ]
        try:
            run(command, quiet=True)
            partial.replace(tarball)
        finally:
            partial.unlink(missing_ok=True)
        prune(options.cache_dir, f"rootfs-{suite}-*.tar", keep=2)
    log(f"importing {tarball.name} as {name}")
    run(
        [options.builder, "import", "--change", 'CMD ["/usr/bin/python3"]', str(tarball), name],
        quiet=True,
    )
    options.timings["rootfs"] = time.monotonic() - started
    return name, key


def sdk_requirements(sdk_dir: Path) -> list[str]:
    with (sdk_dir / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [str(requirement) for requirement in project.get("dependencies", [])]


def platform_tags(options: Options) -> list[str]:
    arch = platform.machine()
    glibc_minor = SUITES.get(options.python_version, ("", 36))[1]
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(17, glibc_minor + 1)]
    return [*tags, f"manylinux2014_{arch}"]


def make_wheelhouse(options: Options) -> tuple[Path, str]:
    """leoflow-sdk and its dependencies as wheels for the image's Python, made on the host."""
    requirements = sdk_requirements(options.sdk_dir)
    tags = platform_tags(options)
    key = digest_of(
        RECIPE_VERSION, options.python_version, tags, requirements, tree_digest(options.sdk_dir)
    )
    wheelhouse = options.cache_dir / f"wheels-py{options.python_version}-{key[:16]}"
    if wheelhouse.is_dir():
        options.cached["wheels"] = True
        return wheelhouse, key
    options.cached["wheels"] = False
    started = time.monotonic()
    log(f"building the leoflow-sdk wheel and downloading {', '.join(requirements)}")
    partial = Path(tempfile.mkdtemp(prefix="wheels-", dir=options.cache_dir))
    partial.chmod(0o755)
    try:
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        run(
            [*pip, "wheel", "--no-deps", "--wheel-dir", str(partial), str(options.sdk_dir)],
            quiet=True,
        )
        abi = "cp" + options.python_version.replace(".", "")
        platform_flags = [flag for tag in tags for flag in ("--platform", tag)]
        run(
            [
                *pip,
                "download",
                "--dest",
                str(partial),
                "--only-binary=:all:",
                "--python-version",
                options.python_version,
                "--implementation",
                "cp",
                "--abi",
                abi,
                "--abi",
                "abi3",
                "--abi",
                "none",
                *platform_flags,
                *requirements,
            ],
            quiet=True,
        )
        partial.rename(wheelhouse)
    except OSError:
        if not wheelhouse.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    prune(options.cache_dir, f"wheels-py{options.python_version}-*", keep=3)
    options.timings["wheels"] = time.monotonic() - started
    return wheelhouse, key


def sdk_version(wheelhouse: Path) -> str:
    for wheel in wheelhouse.glob("leoflow_sdk-*.whl"):
        return wheel.name.split("-")[1]
    raise BuildError(f"no leoflow_sdk wheel in {wheelhouse}")


def build_image(options: Options, rootfs: str, wheelhouse: Path, key: str) -> None:
    dockerfile = HERE / "Dockerfile"
    if image_label(options, options.tag, BUILD_KEY_LABEL) == key:
        options.cached["image"] = True
        log(f"{options.tag} is up to date")
        return
    options.cached["image"] = False
    previous = image_id(options, options.tag)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="leoflow-runtime-") as tmp:
        context = Path(tmp)
        shutil.copy(dockerfile, context / "Dockerfile")
        shutil.copytree(wheelhouse, context / "wheels")
        # No intermediate images are kept: the label check above is this build's cache, and
        # every SDK change would otherwise leave a dangling copy of the install stage behind.
        if builder_kind(options.builder) == "docker":
            flags = ["--rm", "--force-rm"]
        else:
            flags = ["--pull=never", "--layers=false"]
        log(f"building {options.tag} on {rootfs}")
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
                f"PYTHON_VERSION={options.python_version}",
                "--build-arg",
                f"SDK_VERSION={sdk_version(wheelhouse)}",
                "--label",
                f"{BUILD_KEY_LABEL}={key}",
                "--tag",
                options.tag,
                str(context),
            ],
            quiet=True,
        )
    options.timings["image"] = time.monotonic() - started
    if previous and previous != image_id(options, options.tag):
        # The old build lost its tag; drop it unless DAG images still build on it.
        subprocess.run(
            [options.builder, "rmi", previous],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )


def build(options: Options) -> dict[str, object]:
    """Run the four steps; returns what was built, with timings and what came from cache."""
    builder_kind(options.builder)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs, rootfs_key = make_rootfs(options)
    wheelhouse, wheels_key = make_wheelhouse(options)
    dockerfile_text = (HERE / "Dockerfile").read_text(encoding="utf-8")
    key = digest_of(RECIPE_VERSION, rootfs_key, wheels_key, dockerfile_text, options.python_version)
    build_image(options, rootfs, wheelhouse, key)
    return {
        "tag": options.tag,
        "rootfs_image": rootfs,
        "build_key": key,
        "cached": options.cached,
        "seconds": {name: round(value, 2) for name, value in options.timings.items()},
    }


def parse_args(argv: Sequence[str]) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--tag", help="default: leoflow/python-runtime:<python-version>")
    parser.add_argument("--builder", default=os.environ.get("LEOFLOW_RUNTIME_BUILDER", "podman"))
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rootfs-image", help="build on this image instead of mmdebstrap")
    parser.add_argument("--mirror", default=os.environ.get("LEOFLOW_DEBIAN_MIRROR", DEFAULT_MIRROR))
    parser.add_argument(
        "--security-mirror",
        default=os.environ.get("LEOFLOW_DEBIAN_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR),
    )
    parser.add_argument("--sdk-dir", type=Path, default=REPO / "sdk")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = parser.parse_args(argv)
    tag = args.tag or f"leoflow/python-runtime:{args.python_version}"
    builder = shutil.which(args.builder) or args.builder
    options = Options(
        python_version=args.python_version,
        tag=tag,
        builder=builder,
        cache_dir=args.cache_dir,
        rootfs_image=args.rootfs_image,
        mirror=args.mirror,
        security_mirror=args.security_mirror,
        sdk_dir=args.sdk_dir.resolve(),
    )
    return options, args.json


def main(argv: Sequence[str] | None = None) -> int:
    options, as_json = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        summary = build(options)
    except BuildError as exc:
        log(f"error: {exc}")
        return 1
    print(json.dumps(summary) if as_json else options.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
