"""Provisioning of the web editor's code editor: ``npm pack`` of the pinned monaco-editor, its
checksums, what is extracted (and what is refused), and ``leoflow setup``."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.web import provisioned_editor
from leoflow.cli.main import app as cli
from leoflow.web.assets import MANIFEST, AssetError, UiAssets
from leoflow.web.editor_assets import (
    MONACO_VERSION,
    REQUIRED_FILES,
    TARBALL_NAME,
    EditorAssets,
    extract,
    find_editor_assets,
    provision_editor,
    verify_tarball,
)


@pytest.fixture(scope="session")
def editor() -> EditorAssets:
    """The pinned editor files (fetched with npm once per machine)."""
    return provisioned_editor()


def _tarball(path: Path, members: dict[str, bytes], *, link: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return path


def test_the_provisioned_editor_is_complete_and_described(editor: EditorAssets) -> None:
    assert editor.version == MONACO_VERSION
    for name in REQUIRED_FILES:
        assert (editor.root / name).is_file()
    assert (editor.vs_dir / "editor" / "editor.main.js.gz").is_file()  # compressed once, here
    assert "MIT" in (editor.root / "LICENSE").read_text(encoding="utf-8")
    manifest = json.loads((editor.root / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["version"] == MONACO_VERSION and manifest["integrity"].startswith("sha512-")
    assert "npm pack monaco-editor@" in (editor.root / "README.txt").read_text(encoding="utf-8")
    assert provision_editor(editor.root) == editor  # already there: nothing to do


def test_a_tarball_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = _tarball(tmp_path / TARBALL_NAME, {"package/min/vs/loader.js": b"evil()"})
    with pytest.raises(AssetError, match="sha512"):
        verify_tarball(fake)
    with pytest.raises(AssetError, match="refusing"):
        provision_editor(tmp_path / "dest", tarball=fake)
    assert not (tmp_path / "dest").exists()


def test_only_min_vs_and_the_licenses_are_extracted(tmp_path: Path) -> None:
    members = {name.replace("vs/", "package/min/vs/", 1): b"x" for name in REQUIRED_FILES}
    members |= {
        "package/LICENSE": b"MIT",
        "package/ThirdPartyNotices.txt": b"notices",
        "package/esm/vs/editor/editor.main.js": b"esm",
        "package/package.json": b"{}",
    }
    tarball = _tarball(tmp_path / "ok.tgz", members)
    assert extract(tarball, tmp_path / "out") == len(REQUIRED_FILES) + 2
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert "esm" not in " ".join(written) and "package.json" not in written
    assert (tmp_path / "out" / "NOTICE.txt").read_text() == "notices"


@pytest.mark.parametrize(
    ("members", "link"),
    [
        ({"package/min/vs/../../../escape.js": b"x"}, None),
        ({}, "package/min/vs/loader.js"),
        ({"package/min/vs/editor/editor.main.js": b"x"}, None),  # incomplete
    ],
    ids=["dot-dot", "symlink", "incomplete"],
)
def test_unsafe_or_incomplete_tarballs_are_refused(
    tmp_path: Path, members: dict[str, bytes], link: str | None
) -> None:
    tarball = _tarball(tmp_path / "bad.tgz", members, link=link)
    with pytest.raises(AssetError):
        extract(tarball, tmp_path / "out")
    assert not (tmp_path / "escape.js").exists()


def test_an_incomplete_folder_is_provisioned_again(tmp_path: Path, editor: EditorAssets) -> None:
    copy = tmp_path / "editor"
    shutil.copytree(editor.root, copy)
    assert find_editor_assets(copy) is not None
    (copy / "vs" / "loader.js").unlink()
    assert find_editor_assets(copy) is None


def test_setup_installs_the_editor_or_says_it_is_there(
    tmp_path: Path, editor: EditorAssets, ui_assets: UiAssets
) -> None:
    target = tmp_path / "editor"
    shutil.copytree(editor.root, target)
    ui = ["setup", "--assets-dir", str(ui_assets.root), "--no-docs"]
    result = CliRunner().invoke(cli, ui, env={"LEOFLOW_EDITOR_ASSETS_DIR": str(target)})
    assert result.exit_code == 0, result.output
    assert f"Code editor (monaco-editor {MONACO_VERSION}) already installed" in result.output

    fake = _tarball(tmp_path / TARBALL_NAME, {"package/min/vs/loader.js": b"evil()"})
    refused = CliRunner().invoke(
        cli,
        [*ui, "--editor-tarball", str(fake)],
        env={"LEOFLOW_EDITOR_ASSETS_DIR": str(tmp_path / "elsewhere")},
    )
    assert refused.exit_code == 1
    assert "sha512" in refused.output and not (tmp_path / "elsewhere").exists()
