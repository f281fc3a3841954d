"""Per-DAG virtualenvs for Lite: built from a DAG's declared Python and dependencies, cached by
a hash of those inputs, shared by every task (and every DAG) with the same inputs.

Keying by inputs rather than by DAG fixes the classic shared-venv bug: adding a dependency
changes the key, so the next run gets a venv that has it instead of one built before it was
declared. A venv is built in place (console scripts keep valid shebangs), under a file lock
(two processes never build the same one), and only a venv whose ``.leoflow-ready`` marker
exists is ever used, so a crashed build is rebuilt rather than half-used.

``uv`` is used when available (seconds, shared cache), else ``python -m venv`` + ``pip``.
``leoflow-sdk`` is installed into every venv: from this checkout's ``sdk/`` (editable) when the
control plane itself runs from a development install, else the release matching ``leoflow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from leoflow.spec import DagSpec, LeoflowYaml
from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import VENV_BUILD_DURATION, VENV_BUILDS

if TYPE_CHECKING:
    from leoflow.config import Settings

log = get_logger(__name__)

VENV_FORMAT = 1
"""Bumped when the way venvs are built changes, so old ones are not reused."""

READY_MARKER = ".leoflow-ready"
INPUTS_FILE = ".leoflow-inputs.json"
BUILD_TIMEOUT_SECONDS = 1800

Progress = Callable[[str], None]
Installer = Literal["auto", "uv", "pip"]


class VenvBuildError(RuntimeError):
    """A DAG venv could not be built; the message names the step and the cause."""


@dataclass(frozen=True)
class SdkSource:
    """What to install as ``leoflow-sdk`` and what identifies it in the venv key."""

    requirement: str
    editable_path: Path | None = None
    fingerprint: str = ""

    def install_args(self) -> list[str]:
        if self.editable_path is not None:
            return ["-e", str(self.editable_path)]
        return [self.requirement]


def _editable_sdk_path() -> Path | None:
    try:
        dist = importlib.metadata.distribution("leoflow-sdk")
    except importlib.metadata.PackageNotFoundError:
        return None
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    info = json.loads(text)
    url = str(info.get("url", ""))
    if not info.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return None
    path = Path(url.removeprefix("file://"))
    return path if (path / "pyproject.toml").is_file() else None


def sdk_source(requirement: str | None = None) -> SdkSource:
    """The SDK to put in DAG venvs: ``requirement`` when configured, else this checkout's
    ``sdk/`` when installed editable (development), else ``leoflow-sdk==<version>``."""
    if requirement:
        return SdkSource(requirement, fingerprint=requirement)
    editable = _editable_sdk_path()
    if editable is not None:
        digest = hashlib.sha256((editable / "pyproject.toml").read_bytes()).hexdigest()[:16]
        return SdkSource(f"-e {editable}", editable, f"editable:{editable}:{digest}")
    from leoflow import __version__

    pinned = f"leoflow-sdk=={__version__}"
    return SdkSource(pinned, fingerprint=pinned)


def current_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class VenvInputs:
    """Everything a DAG venv is built from; equal inputs share one venv."""

    python_version: str
    dependencies: tuple[str, ...]
    sdk: SdkSource = field(default_factory=sdk_source)

    @classmethod
    def for_config(cls, config: LeoflowYaml | None, sdk: SdkSource) -> VenvInputs:
        """The venv a project's DAG runs in, from its leoflow.yaml, before it is compiled.

        Gives the same inputs as :meth:`for_spec` does for the compiled spec, so the venv built
        to compile the DAG is the one its tasks run in.
        """
        return cls(
            python_version=(config.python_version if config else None) or current_python_version(),
            dependencies=tuple(config.dependencies) if config else (),
            sdk=sdk,
        )

    @classmethod
    def for_spec(cls, spec: DagSpec, sdk: SdkSource) -> VenvInputs:
        env = spec.python_environment
        return cls(
            python_version=(env.python_version if env else None) or current_python_version(),
            dependencies=tuple(env.dependencies) if env else (),
            sdk=sdk,
        )

    def key(self) -> str:
        """Hex digest naming the venv (dependency order does not matter to pip)."""
        cached: str | None = self.__dict__.get("_key")
        if cached is not None:  # asked at every task launch: hash once
            return cached
        payload = {
            "format": VENV_FORMAT,
            "python": self.python_version,
            "dependencies": sorted(set(self.dependencies)),
            "sdk": self.sdk.fingerprint,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        object.__setattr__(self, "_key", digest)
        return digest

    def describe(self) -> str:
        deps = len(set(self.dependencies))
        return f"Python {self.python_version}, {deps} dependenc{'y' if deps == 1 else 'ies'}"


@dataclass(frozen=True)
class Venv:
    """A ready virtualenv."""

    path: Path
    key: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def find_uv() -> str | None:
    """``uv`` next to this interpreter (a dev venv) or on ``PATH``."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


class VenvManager:
    """Builds and finds DAG venvs under ``root`` (``<home>/venvs``)."""

    def __init__(self, root: Path, *, installer: Installer = "auto", sdk: SdkSource | None = None):
        self.root = Path(root)
        self.installer = installer
        self.sdk = sdk or sdk_source()
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> VenvManager:
        """The manager of ``<home>/venvs`` as configured: what Lite, its executor and the CLI
        share, so a venv built by one is found by the others."""
        return cls(
            Path(settings.home) / "venvs",
            installer=settings.venv_installer,
            sdk=sdk_source(settings.sdk_requirement),
        )

    def inputs_for(self, spec: DagSpec) -> VenvInputs:
        return VenvInputs.for_spec(spec, self.sdk)

    def path_for(self, inputs: VenvInputs) -> Path:
        return self.root / inputs.key()[:24]

    def ready(self, inputs: VenvInputs) -> Venv | None:
        """The venv when it is built and usable, else ``None`` (no building)."""
        path = self.path_for(inputs)
        if (path / READY_MARKER).is_file() and (path / "bin" / "python").exists():
            return Venv(path, inputs.key())
        return None

    async def ensure(self, inputs: VenvInputs, progress: Progress | None = None) -> Venv:
        """The venv for ``inputs``, building it first if needed (once, whoever asks)."""
        venv = self.ready(inputs)
        if venv is not None:
            return venv
        key = inputs.key()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            venv = self.ready(inputs)
            if venv is not None:
                return venv
            self.root.mkdir(parents=True, exist_ok=True)
            lock_file = self.root / f"{key[:24]}.lock"
            handle = await asyncio.to_thread(_lock_file, lock_file)
            try:
                venv = self.ready(inputs)  # another process built it while we waited
                if venv is None:
                    venv = await self._build(inputs, progress or (lambda _line: None))
                return venv
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

    def _installer(self) -> tuple[str, str | None]:
        uv = find_uv()
        if self.installer == "uv" and uv is None:
            raise VenvBuildError("venv_installer is 'uv' but uv is not installed (pip install uv)")
        if self.installer == "pip" or uv is None:
            return "pip", None
        return "uv", uv

    def _base_python(self, version: str) -> str:
        if version == current_python_version():
            return sys.executable
        found = shutil.which(f"python{version}")
        if found is None:
            raise VenvBuildError(
                f"Python {version} is not installed (no python{version} on PATH); install it, "
                "install uv (which can fetch it), or drop python_version from leoflow.yaml"
            )
        return found

    def _commands(self, inputs: VenvInputs, path: Path) -> list[list[str]]:
        kind, uv = self._installer()
        packages = [*inputs.dependencies, *inputs.sdk.install_args()]
        python = str(path / "bin" / "python")
        if kind == "uv" and uv is not None:
            version = inputs.python_version
            interpreter = sys.executable if version == current_python_version() else version
            return [
                [uv, "venv", "--quiet", "--python", interpreter, str(path)],
                [uv, "pip", "install", "--python", python, *packages],
            ]
        return [
            [self._base_python(inputs.python_version), "-m", "venv", str(path)],
            [python, "-m", "pip", "install", "--disable-pip-version-check", *packages],
        ]

    async def _build(self, inputs: VenvInputs, progress: Progress) -> Venv:
        path = self.path_for(inputs)
        if path.exists():  # a build that crashed before its marker: start over
            shutil.rmtree(path, ignore_errors=True)
        started = time.monotonic()
        message = f"building the DAG virtualenv ({inputs.describe()}) in {path}"
        log.info(message)
        progress(message)
        try:
            for command in self._commands(inputs, path):
                await _run(command, progress)
            (path / INPUTS_FILE).write_text(
                json.dumps(
                    {
                        "python_version": inputs.python_version,
                        "dependencies": list(inputs.dependencies),
                        "sdk": inputs.sdk.requirement,
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
            (path / READY_MARKER).write_text(inputs.key() + "\n", encoding="utf-8")
        except BaseException:
            VENV_BUILDS.labels("failed").inc()
            shutil.rmtree(path, ignore_errors=True)
            raise
        elapsed = time.monotonic() - started
        VENV_BUILDS.labels("built").inc()
        VENV_BUILD_DURATION.observe(elapsed)
        done = f"DAG virtualenv ready in {elapsed:.1f} s: {path}"
        log.info(done)
        progress(done)
        return Venv(path, inputs.key())


def _lock_file(path: Path) -> TextIO:
    handle = path.open("a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


async def _run(command: Sequence[str], progress: Progress) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
    )
    tail: list[str] = []
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(BUILD_TIMEOUT_SECONDS):
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    progress(line)
                    tail = [*tail[-19:], line]
            code = await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise VenvBuildError(
            f"`{' '.join(command[:3])} …` took over {BUILD_TIMEOUT_SECONDS} s and was stopped"
        ) from None
    if code != 0:
        detail = "\n".join(tail[-10:])
        raise VenvBuildError(
            f"`{' '.join(command[:3])} …` failed with exit code {code}; check the "
            f"dependencies in leoflow.yaml:\n{detail}"
        )
