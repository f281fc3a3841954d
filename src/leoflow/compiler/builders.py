"""Container builders (``docker``, ``podman``, ``buildah``) driven as subprocesses.

Leoflow imports no container SDK: every machine that builds images already has one of these
command-line tools, each with its own auth, storage and daemon (or none), and a subprocess
keeps those concerns — and their failures — outside the compiler. The three CLIs agree on
``build --file --tag --build-arg`` and ``push``; where they differ (the digest of a push,
plain-HTTP registries) the difference is handled here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape

BuilderKind = Literal["docker", "podman", "buildah"]
KNOWN_BUILDERS: tuple[BuilderKind, ...] = ("docker", "podman", "buildah")
"""Searched on ``PATH`` in this order when no builder is named."""

OUTPUT_TAIL_LINES = 200
"""How many of the builder's last output lines a failure report carries."""

_STEP = re.compile(r"^(STEP \d+/\d+|Step \d+/\d+|#\d+ \[[^\]]*\d+/\d+\])")
_DOCKER_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class BuilderError(Exception):
    """A builder is missing, unusable or failed; ``detail`` holds its output when it ran."""

    def __init__(self, problem: str, detail: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.detail = detail


def registry_host(reference: str) -> str | None:
    """The registry part of an image reference, or ``None`` for a Docker Hub short name."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def is_loopback_registry(reference: str) -> bool:
    """Whether the image is pushed to this machine (``localhost``, 127.0.0.0/8, ``[::1]``).

    Docker talks plain HTTP to such registries by default; podman and buildah insist on TLS
    unless told otherwise, so the same command would work with one builder and not the other.
    """
    host = registry_host(reference)
    if host is None:
        return False
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Builder:
    """One container CLI: what it is (``kind``) and the executable to run."""

    kind: BuilderKind
    executable: str

    def build_command(
        self,
        *,
        dockerfile: Path,
        context: Path,
        tag: str,
        build_args: Mapping[str, str],
        extra_flags: Sequence[str] = (),
    ) -> list[str]:
        """The command line that builds ``context`` with ``dockerfile`` into ``tag``."""
        verb = "bud" if self.kind == "buildah" else "build"
        command = [self.executable, verb, "--file", str(dockerfile), "--tag", tag]
        for name in sorted(build_args):
            command += ["--build-arg", f"{name}={build_args[name]}"]
        return [*command, *extra_flags, str(context)]

    def push_command(self, reference: str, digest_file: Path) -> list[str]:
        """The command line that pushes the local image ``reference`` to its registry."""
        if self.kind == "docker":
            return [self.executable, "push", reference]
        flags = ["--tls-verify=false"] if is_loopback_registry(reference) else []
        command = [self.executable, "push", *flags, "--digestfile", str(digest_file), reference]
        if self.kind == "buildah":
            command.append(f"docker://{reference}")
        return command

    def pushed_digest(self, output: Sequence[str], digest_file: Path) -> str | None:
        """The manifest digest the registry stored, read from the digest file or the output."""
        if digest_file.is_file():
            text = digest_file.read_text(encoding="utf-8").strip()
            if _DIGEST.match(text):
                return text
        for line in reversed(output):
            match = _DOCKER_DIGEST.search(line)
            if match:
                return match.group(1)
        return None


Which = Callable[[str], str | None]


def _docker_daemon_problem(executable: str) -> str | None:
    """``None`` when the Docker daemon answers, else why not (the client alone cannot build)."""
    try:
        done = subprocess.run(
            [executable, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


def _kind_of(executable: str) -> BuilderKind | None:
    name = Path(executable).name
    for kind in KNOWN_BUILDERS:
        if name == kind or name.startswith(f"{kind}-") or name.startswith(f"{kind}."):
            return kind
    return None


def _named_builder(preferred: str, which: Which) -> Builder:
    looks_like_path = os.sep in preferred
    executable = preferred if looks_like_path else which(preferred)
    if executable is None:
        if preferred in KNOWN_BUILDERS:
            raise BuilderError(
                f"builder '{preferred}' is not on PATH; install it (e.g. apt-get install "
                f"{preferred}) or pass --builder with the path to one"
            )
        raise BuilderError(
            f"builder {preferred!r} is not docker, podman or buildah, nor a path to one; "
            "pass --builder docker|podman|buildah|/path/to/builder"
        )
    if looks_like_path and not (Path(executable).is_file() and os.access(executable, os.X_OK)):
        raise BuilderError(f"builder {executable} is not an executable file; fix --builder")
    kind = _kind_of(executable)
    if kind is None:
        raise BuilderError(
            f"cannot tell which builder {executable} is: its name must start with docker, "
            "podman or buildah"
        )
    return Builder(kind, executable)


def find_builder(
    preferred: str | None = None,
    *,
    which: Which = shutil.which,
    docker_problem: Callable[[str], str | None] = _docker_daemon_problem,
) -> Builder:
    """The builder to use: ``preferred`` (a name or a path), else the first usable on PATH.

    An unnamed ``docker`` counts only when its daemon answers, because a Docker client with no
    engine behind it is common (CI images, remote contexts) while podman or buildah may be
    installed and work. Raises ``BuilderError`` that says what to install or pass.
    """
    if preferred:
        return _named_builder(preferred, which)
    notes: list[str] = []
    for kind in KNOWN_BUILDERS:
        executable = which(kind)
        if executable is None:
            continue
        if kind == "docker":
            problem = docker_problem(executable)
            if problem is not None:
                notes.append(f"docker ({executable}) is installed but its daemon is not: {problem}")
                continue
        return Builder(kind, executable)
    message = (
        "no container builder found: install podman, buildah or Docker (e.g. apt-get install "
        "podman), or pass --builder with the path to one"
    )
    if notes:
        message += "; " + "; ".join(notes)
    raise BuilderError(message)


@dataclass(frozen=True)
class RunOutput:
    """What a builder run printed (stdout and stderr interleaved) and how long it took."""

    lines: tuple[str, ...]
    seconds: float


def _describe(command: Sequence[str]) -> str:
    return " ".join([Path(command[0]).name, *command[1:2]])


def run_builder(
    command: Sequence[str],
    *,
    console: Console,
    title: str,
    env: Mapping[str, str] | None = None,
) -> RunOutput:
    """Run ``command``, showing progress on ``console``; ``BuilderError`` if it fails.

    On a terminal a live status line shows the current build step; elsewhere (CI logs) each
    step line is printed once. The whole output is kept only in memory: a failure carries its
    last ``OUTPUT_TAIL_LINES`` lines, which is where a builder explains itself.
    """
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise BuilderError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    assert process.stdout is not None
    try:
        with console.status(escape(title)) as status:
            for raw in process.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                step = _STEP.match(line)
                if console.is_terminal:
                    status.update(escape(f"{title} — {line.strip()[:100]}"))
                elif step:
                    console.print(f"  {escape(line.strip()[:160])}", highlight=False)
        returncode = process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    seconds = time.monotonic() - started
    if returncode != 0:
        raise BuilderError(
            f"`{_describe(command)}` failed with exit code {returncode} after {seconds:.1f} s; "
            "its output is below",
            detail="\n".join(tail),
        )
    return RunOutput(tuple(tail), seconds)
