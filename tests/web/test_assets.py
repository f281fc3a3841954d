"""Provisioning the Airflow web app files: download, checksum, extraction, precompression."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leoflow.cli.main import app as cli
from leoflow.web.assets import (
    AIRFLOW_UI_VERSION,
    MANIFEST,
    WHEEL_NAME,
    AssetError,
    UiAssets,
    extract,
    find_assets,
    precompress,
    provision,
    verify_wheel,
)


def test_provisioned_layout_has_both_apps_and_the_license(ui_assets: UiAssets) -> None:
    root = ui_assets.root
    index = (root / "ui" / "index.html").read_text()
    assert '<base href="{{ backend_server_base_url }}" />' in index
    assert "./static/assets/index-" in index
    login = (root / "auth" / "index.html").read_text()
    assert "./auth/static/assets/index-" in login
    assert "Apache License" in (root / "LICENSE").read_text()
    assert "Apache Software Foundation" in (root / "NOTICE").read_text()
    about = (root / "README.txt").read_text()
    assert "unmodified" in about and "not endorsed" in about
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["version"] == AIRFLOW_UI_VERSION
    assert len(list((root / "ui" / "i18n" / "locales").iterdir())) >= 20
    assert any(p.suffix == ".wasm" for p in (root / "ui" / "assets").iterdir())


def test_big_files_have_a_gzip_copy_equal_to_the_original(ui_assets: UiAssets) -> None:
    bundle = next((ui_assets.ui_dir / "assets").glob("index-*.js"))
    packed = bundle.with_name(bundle.name + ".gz")
    assert packed.is_file()
    assert gzip.decompress(packed.read_bytes()) == bundle.read_bytes()
    assert packed.stat().st_size < bundle.stat().st_size / 2
    tiny = ui_assets.ui_dir / "index.html"
    assert not tiny.with_name("index.html.gz").exists()  # under the threshold: not worth it


def test_provisioning_again_changes_nothing(ui_assets: UiAssets) -> None:
    manifest = ui_assets.root / MANIFEST
    before = manifest.stat().st_mtime_ns
    again = provision(ui_assets.root)
    assert again == ui_assets
    assert manifest.stat().st_mtime_ns == before
    assert precompress(ui_assets.root) == 0


def test_a_wheel_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("airflow/ui/dist/index.html", "<html></html>")
    with pytest.raises(AssetError, match="expected 99258922") as caught:
        verify_wheel(fake)
    assert "refusing" in str(caught.value)
    dest = tmp_path / "assets"
    with pytest.raises(AssetError, match="sha256"):
        provision(dest, wheel=fake)
    assert not dest.exists()  # nothing half-written


def test_an_existing_install_survives_a_failed_reprovisioning(
    tmp_path: Path, ui_assets: UiAssets
) -> None:
    dest = tmp_path / "assets"
    shutil.copytree(ui_assets.root, dest)
    fake = tmp_path / WHEEL_NAME
    fake.write_bytes(b"not a wheel")
    with pytest.raises(AssetError):
        provision(dest, wheel=fake, force=True)
    assert find_assets(dest) is not None


def test_a_missing_wheel_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="no wheel at"):
        provision(tmp_path / "assets", wheel=tmp_path / "nope.whl")


def test_extraction_refuses_a_wheel_without_the_ui(tmp_path: Path) -> None:
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("airflow/__init__.py", "")
    with pytest.raises(AssetError, match="lacks"):
        extract(wheel, tmp_path / "out")


def test_extraction_refuses_members_that_climb_out(tmp_path: Path) -> None:
    wheel = tmp_path / "evil.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("airflow/ui/dist/../../../escaped.txt", "x")
    with pytest.raises(AssetError, match="refusing"):
        extract(wheel, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_an_incomplete_folder_is_not_taken_for_an_install(tmp_path: Path) -> None:
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "index.html").write_text("x")
    assert find_assets(tmp_path) is None
    (tmp_path / MANIFEST).write_text(json.dumps({"version": "0.0.1"}))
    assert find_assets(tmp_path) is None


def test_setup_command_reports_an_existing_install(tmp_path: Path, ui_assets: UiAssets) -> None:
    dest = tmp_path / "assets"
    shutil.copytree(ui_assets.root, dest)
    command = ["setup", "--assets-dir", str(dest), "--no-editor", "--no-docs"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "already installed" in result.output


def test_setup_command_fails_clearly_on_a_bad_wheel(tmp_path: Path) -> None:
    fake = tmp_path / WHEEL_NAME
    fake.write_bytes(b"tampered")
    result = CliRunner().invoke(
        cli, ["setup", "--assets-dir", str(tmp_path / "a"), "--wheel", str(fake)]
    )
    assert result.exit_code == 1
    assert "sha256" in result.output
