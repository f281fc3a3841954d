"""Provisioning of ``/docs``'s renderer: ``npm pack`` of the pinned @scalar/api-reference, its
checksums, what is extracted (and what is refused), ``leoflow setup`` and ``leoflow doctor``."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leoflow.cli.main import app as cli
from leoflow.config import Settings
from leoflow.lite.doctor import check_docs_assets
from leoflow.web.assets import UiAssets
from leoflow.web.docs_assets import (
    ARTIFACT,
    REQUIRED_FILES,
    SCALAR_VERSION,
    TARBALL_NAME,
    TARBALL_SHA512,
    DocsAssets,
    extract,
    find_docs_assets,
    provision_docs,
)
from leoflow.web.pinned import MANIFEST, AssetError, file_digests


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


def test_the_pinned_release_is_named_as_npm_names_it() -> None:
    assert ARTIFACT.spec == f"@scalar/api-reference@{SCALAR_VERSION}"
    written_by_npm_pack = f"scalar-api-reference-{SCALAR_VERSION}.tgz"
    assert written_by_npm_pack == TARBALL_NAME
    assert TARBALL_SHA512.startswith("sha512-")


def test_the_provisioned_renderer_is_complete_verified_and_described(
    docs_assets: DocsAssets,
) -> None:
    root = docs_assets.root
    assert docs_assets.version == SCALAR_VERSION
    bundle = docs_assets.browser_dir / "standalone.js"
    assert f"@scalar/api-reference@{SCALAR_VERSION}" in bundle.read_text(encoding="utf-8")
    packed = bundle.with_name("standalone.js.gz")
    assert gzip.decompress(packed.read_bytes()) == bundle.read_bytes()  # compressed once, here
    assert sorted(p.name for p in docs_assets.browser_dir.iterdir()) == [
        "standalone.js",
        "standalone.js.gz",
    ]
    package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    assert package["name"] == "@scalar/api-reference" and package["license"] == "MIT"
    assert package["version"] == SCALAR_VERSION
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["integrity"] == TARBALL_SHA512 and manifest["files"] == 2
    assert f"npm pack {ARTIFACT.spec}" in (root / "README.txt").read_text(encoding="utf-8")
    assert provision_docs(root) == docs_assets  # already there: nothing to do


def test_a_tarball_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = _tarball(
        tmp_path / TARBALL_NAME,
        {"package/dist/browser/standalone.js": b"fetch('https://cdn.example')"},
    )
    with pytest.raises(AssetError, match="sha512") as caught:
        ARTIFACT.verify(fake)
    assert "refusing" in str(caught.value) and TARBALL_SHA512 in str(caught.value)
    with pytest.raises(AssetError, match="refusing"):
        provision_docs(tmp_path / "dest", tarball=fake)
    assert not (tmp_path / "dest").exists()


def test_only_the_browser_bundle_and_package_json_are_extracted(tmp_path: Path) -> None:
    tarball = _tarball(
        tmp_path / "ok.tgz",
        {
            "package/dist/browser/standalone.js": b"window.Scalar = {}",
            "package/dist/browser/standalone.esm.js": b"export {}",
            "package/dist/browser/chunks/a.js": b"chunk",
            "package/package.json": b'{"license": "MIT"}',
            "package/README.md": b"readme",
        },
    )
    out = tmp_path / "out"
    assert extract(tarball, out) == 2
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(REQUIRED_FILES)


@pytest.mark.parametrize(
    ("members", "link"),
    [
        ({"package/package.json": b"{}"}, "package/dist/browser/standalone.js"),
        ({"package/dist/browser/standalone.js": b"x"}, None),  # no package.json
        ({"package/package.json": b"{}"}, None),  # no bundle
    ],
    ids=["symlink", "no-package-json", "no-bundle"],
)
def test_unsafe_or_incomplete_tarballs_are_refused(
    tmp_path: Path, members: dict[str, bytes], link: str | None
) -> None:
    tarball = _tarball(tmp_path / "bad.tgz", members, link=link)
    with pytest.raises(AssetError, match=r"refusing|lacks"):
        extract(tarball, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_incomplete_folder_is_not_taken_for_an_install(
    tmp_path: Path, docs_assets: DocsAssets
) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(docs_assets.root, copy)
    assert find_docs_assets(copy) is not None
    (copy / "browser" / "standalone.js").unlink()
    assert find_docs_assets(copy) is None
    shutil.copytree(docs_assets.root, tmp_path / "other")
    manifest = tmp_path / "other" / MANIFEST
    manifest.write_text(json.dumps({"version": "0.0.1"}), encoding="utf-8")
    assert find_docs_assets(tmp_path / "other") is None  # another release


def test_setup_installs_from_a_tarball_fetched_elsewhere(
    tmp_path: Path, ui_assets: UiAssets
) -> None:
    # What an air-gapped machine or an image build does: `npm pack` elsewhere, then hand the
    # file over. The fetch goes through the npm registry like `leoflow setup` does.
    tarball = ARTIFACT.fetch(tmp_path / "download")
    assert file_digests(tarball)[1] == TARBALL_SHA512
    dest = tmp_path / "docs"
    command = ["setup", "--assets-dir", str(ui_assets.root), "--no-editor"]
    command += ["--docs-tarball", str(tarball)]
    env = {"LEOFLOW_DOCS_ASSETS_DIR": str(dest)}
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 0, result.output
    assert f"@scalar/api-reference {SCALAR_VERSION}, MIT, unmodified" in result.output
    found = find_docs_assets(dest)
    assert found is not None and (found.browser_dir / "standalone.js.gz").is_file()
    again = CliRunner().invoke(cli, command, env=env)
    assert "already installed" in again.output


def test_setup_refuses_a_tampered_tarball_and_writes_nothing(
    tmp_path: Path, ui_assets: UiAssets
) -> None:
    fake = _tarball(tmp_path / TARBALL_NAME, {"package/dist/browser/standalone.js": b"evil()"})
    command = ["setup", "--assets-dir", str(ui_assets.root), "--no-editor"]
    command += ["--docs-tarball", str(fake)]
    refused = CliRunner().invoke(
        cli, command, env={"LEOFLOW_DOCS_ASSETS_DIR": str(tmp_path / "elsewhere")}
    )
    assert refused.exit_code == 1
    assert "sha512" in refused.output and not (tmp_path / "elsewhere").exists()


def test_doctor_reports_the_renderer(tmp_path: Path, docs_assets: DocsAssets) -> None:
    found = check_docs_assets(Settings(home=tmp_path, docs_assets_dir=docs_assets.root))
    assert found.status == "ok" and str(docs_assets.root) in found.detail
    missing = check_docs_assets(Settings(home=tmp_path))
    assert missing.status == "warn"
    assert str(tmp_path / "assets" / "scalar-api-reference" / SCALAR_VERSION) in missing.detail
    assert "leoflow setup" in missing.advice
