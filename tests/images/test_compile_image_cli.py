"""``leoflow compile`` image flags that need no container tool: recording and refusing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leoflow.cli.main import app

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop_etl"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    return folder


def _compile(project: Path, *flags: str) -> tuple[int, dict[str, object]]:
    done = runner.invoke(app, ["compile", str(project), "--json", "--no-venv", *flags])
    return done.exit_code, json.loads(done.stdout)


def test_image_alone_records_a_prebuilt_image(project: Path) -> None:
    reference = "ghcr.io/acme/shop-etl:1.4@sha256:" + "0" * 64
    code, summary = _compile(project, "--image", reference)
    assert code == 0, summary
    assert summary["image"] == {
        "reference": reference,
        "tag": None,
        "built": False,
        "pushed": False,
        "digest": None,
        "builder": None,
        "dockerfile": None,
    }
    written = json.loads((project / "dag.json").read_text(encoding="utf-8"))
    assert written["image"] == reference


def test_without_image_flags_no_image_is_recorded(project: Path) -> None:
    code, summary = _compile(project)
    assert code == 0
    assert "image" not in summary
    assert "image" not in json.loads((project / "dag.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--image", "Bad Image"], "--image: image reference 'Bad Image' is invalid"),
        (["--push"], "--push needs an image: add --build"),
        (["--builder", "podman"], "--builder and --registry only apply to a build"),
        (["--registry", "ghcr.io/acme"], "--builder and --registry only apply to a build"),
        (["--build", "--registry", "ghcr.io/Acme!"], "--registry: registry 'ghcr.io/Acme!'"),
        (
            ["--build", "--image", "r.io/x:1", "--registry", "ghcr.io/acme"],
            "--registry and --image both say where the image goes",
        ),
        (
            ["--build", "--image", "r.io/x@sha256:" + "a" * 64],
            "has a digest, which names an existing image",
        ),
        (["--build", "--push"], "--push needs a registry: set registry in leoflow.yaml"),
        (
            ["--push", "--image", "r.io/x@sha256:" + "a" * 64],
            "has a digest, so it is already in a registry",
        ),
        (["--build", "--builder", "nosuchbuilder"], "is not docker, podman or buildah"),
    ],
)
def test_bad_image_flags_are_refused(project: Path, flags: list[str], message: str) -> None:
    code, summary = _compile(project, *flags)
    assert code == 1
    error = summary["error"]
    assert isinstance(error, dict)
    assert error["kind"] == "image"
    assert message in error["problems"][0]
    assert not (project / "dag.json").exists()


def test_build_without_any_builder_says_what_to_install(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, summary = _compile(project, "--build")
    assert code == 1
    error = summary["error"]
    assert isinstance(error, dict)
    assert error["problems"] == [
        "no container builder found: install podman, buildah or Docker (e.g. apt-get install "
        "podman), or pass --builder with the path to one"
    ]


def test_missing_user_dockerfile_is_reported(project: Path, tmp_path: Path) -> None:
    code, summary = _compile(
        project, "--dockerfile", str(tmp_path / "nope" / "Dockerfile"), "--builder", "podman"
    )
    assert code == 1
    error = summary["error"]
    assert isinstance(error, dict)
    assert "does not exist; fix the path" in error["problems"][0]


def test_build_context_without_own_dockerfile_is_refused(project: Path) -> None:
    config = project / "leoflow.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "build:\n  context: sub\n", encoding="utf-8"
    )
    code, summary = _compile(project, "--build", "--builder", "podman")
    assert code == 1
    error = summary["error"]
    assert isinstance(error, dict)
    assert "build.context 'sub' only applies to your own Dockerfile" in error["problems"][0]
