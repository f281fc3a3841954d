"""The server image recipe: offline install, UI baked in, non-root, and what the chart runs."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "images" / "server" / "Dockerfile").read_text(encoding="utf-8")


def test_install_needs_no_network_and_bakes_the_ui_in() -> None:
    assert "install --no-index --no-compile --find-links /tmp/deps" in DOCKERFILE
    assert "install --no-index --no-compile --no-deps /tmp/wheels/*.whl" in DOCKERFILE
    assert "leoflow setup" in DOCKERFILE and '--wheel "$1"' in DOCKERFILE
    assert '--docs-tarball "$2"' in DOCKERFILE  # the /docs renderer is baked in too
    assert "LEOFLOW_UI_ASSETS_DIR=/opt/leoflow/ui" in DOCKERFILE
    assert "FROM ${ROOTFS} AS install" in DOCKERFILE  # wheels stay out of the final layers


def test_runs_as_a_numeric_non_root_user_matching_the_chart() -> None:
    assert "\nUSER 10001:10001\n" in DOCKERFILE
    values = yaml.safe_load((REPO / "helm" / "leoflow" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["runAsNonRoot"] is True


def test_entrypoint_is_the_cli_and_the_chart_passes_subcommands() -> None:
    assert 'ENTRYPOINT ["leoflow"]' in DOCKERFILE and 'CMD ["server"]' in DOCKERFILE
    templates = REPO / "helm" / "leoflow" / "templates"
    assert 'args: ["server"]' in (templates / "deployment.yaml").read_text()
    assert 'args: ["db", "migrate"]' in (templates / "migration-job.yaml").read_text()
    assert "EXPOSE 8088 50051 9090" in DOCKERFILE
