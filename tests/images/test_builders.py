"""Choosing a builder and the command lines given to it; runs no container tool."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from leoflow.compiler.builders import (
    Builder,
    BuilderError,
    find_builder,
    is_loopback_registry,
    registry_host,
    run_builder,
)


def _which(available: dict[str, str]) -> Callable[[str], str | None]:
    return available.get


def test_first_builder_on_path_wins() -> None:
    which = _which({"podman": "/usr/bin/podman", "buildah": "/usr/bin/buildah"})
    assert find_builder(which=which) == Builder("podman", "/usr/bin/podman")


def test_docker_without_daemon_is_passed_over() -> None:
    which = _which({"docker": "/usr/local/bin/docker", "buildah": "/usr/bin/buildah"})
    builder = find_builder(which=which, docker_problem=lambda _: "Cannot connect")
    assert builder == Builder("buildah", "/usr/bin/buildah")
    assert find_builder(which=which, docker_problem=lambda _: None).kind == "docker"


def test_no_builder_says_what_to_install() -> None:
    with pytest.raises(BuilderError) as caught:
        find_builder(which=_which({"docker": "/d"}), docker_problem=lambda _: "no daemon")
    message = str(caught.value)
    assert "no container builder found: install podman" in message
    assert "docker (/d) is installed but its daemon is not: no daemon" in message


def test_named_builder_must_exist() -> None:
    with pytest.raises(BuilderError, match="builder 'buildah' is not on PATH; install it"):
        find_builder("buildah", which=_which({}))
    with pytest.raises(BuilderError, match="is not docker, podman or buildah"):
        find_builder("kaniko", which=_which({}))


def test_builder_given_as_path(tmp_path: Path) -> None:
    podman = tmp_path / "podman-4.3"
    podman.write_text("#!/bin/sh\n", encoding="utf-8")
    podman.chmod(0o755)
    assert find_builder(str(podman)) == Builder("podman", str(podman))
    other = tmp_path / "img"
    other.write_text("#!/bin/sh\n", encoding="utf-8")
    other.chmod(0o755)
    with pytest.raises(BuilderError, match="cannot tell which builder"):
        find_builder(str(other))
    with pytest.raises(BuilderError, match="is not an executable file"):
        find_builder(str(tmp_path / "missing" / "docker"))


def test_build_commands() -> None:
    def command(builder: Builder, args: dict[str, str], extra: list[str]) -> list[str]:
        return builder.build_command(
            dockerfile=Path("/c/Dockerfile"),
            context=Path("/c"),
            tag="r/x:1",
            build_args=args,
            extra_flags=extra,
        )

    assert command(Builder("podman", "podman"), {"B": "2", "A": "1"}, []) == [
        "podman", "build", "--file", "/c/Dockerfile", "--tag", "r/x:1",
        "--build-arg", "A=1", "--build-arg", "B=2", "/c",
    ]  # fmt: skip
    assert command(Builder("buildah", "/usr/bin/buildah"), {}, ["--network=none"]) == [
        "/usr/bin/buildah", "bud", "--file", "/c/Dockerfile", "--tag", "r/x:1",
        "--network=none", "/c",
    ]  # fmt: skip


def test_push_commands(tmp_path: Path) -> None:
    digest = tmp_path / "d"
    assert Builder("docker", "docker").push_command("ghcr.io/a/x:1", digest) == [
        "docker", "push", "ghcr.io/a/x:1",
    ]  # fmt: skip
    assert Builder("podman", "podman").push_command("ghcr.io/a/x:1", digest) == [
        "podman", "push", "--digestfile", str(digest), "ghcr.io/a/x:1",
    ]  # fmt: skip
    assert Builder("buildah", "buildah").push_command("127.0.0.1:5000/x:1", digest) == [
        "buildah", "push", "--tls-verify=false", "--digestfile", str(digest),
        "127.0.0.1:5000/x:1", "docker://127.0.0.1:5000/x:1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("reference", "host", "loopback"),
    [
        ("127.0.0.1:5000/leoflow/x:1", "127.0.0.1:5000", True),
        ("localhost:5000/x", "localhost:5000", True),
        ("localhost/leoflow/x:1", "localhost", True),
        ("[::1]:5000/x:1", "[::1]:5000", True),
        ("127.1.2.3/x", "127.1.2.3", True),
        ("ghcr.io/acme/x:1", "ghcr.io", False),
        ("10.0.0.5:5000/x", "10.0.0.5:5000", False),
        ("acme/x:1", None, False),
        ("python", None, False),
    ],
)
def test_registry_host_and_loopback(reference: str, host: str | None, loopback: bool) -> None:
    assert registry_host(reference) == host
    assert is_loopback_registry(reference) is loopback


def test_pushed_digest_from_file_or_docker_output(tmp_path: Path) -> None:
    sha = "sha256:" + "ab" * 32
    file = tmp_path / "digest"
    assert Builder("docker", "d").pushed_digest([f"1: digest: {sha} size: 528"], file) == sha
    file.write_text(sha + "\n", encoding="utf-8")
    assert Builder("podman", "p").pushed_digest([], file) == sha
    file.write_text("garbage", encoding="utf-8")
    assert Builder("podman", "p").pushed_digest(["nothing"], file) is None


def test_failed_run_carries_the_output_tail() -> None:
    script = (
        "import sys\nfor i in range(300): print(f'line {i}')\nprint('STEP 2/2: boom')\nsys.exit(3)"
    )
    console = Console(file=sys.stderr, force_terminal=False)
    with pytest.raises(BuilderError) as caught:
        run_builder([sys.executable, "-c", script], console=console, title="t")
    assert "failed with exit code 3" in caught.value.problem
    detail = caught.value.detail or ""
    assert detail.splitlines()[-1] == "STEP 2/2: boom"
    assert "line 299" in detail
    assert "line 0\n" not in detail


def test_successful_run_prints_steps_off_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    script = "print('STEP 1/2: FROM x'); print('noise'); print('STEP 2/2: COPY a b')"
    console = Console(file=sys.stderr, force_terminal=False)
    output = run_builder([sys.executable, "-c", script], console=console, title="t")
    assert output.lines == ("STEP 1/2: FROM x", "noise", "STEP 2/2: COPY a b")
    err = capsys.readouterr().err
    assert "STEP 1/2: FROM x" in err
    assert "noise" not in err
