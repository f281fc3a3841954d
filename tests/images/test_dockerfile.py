"""The generated Dockerfile (golden files) and the staged build context.

``LEOFLOW_UPDATE_GOLDEN=1`` rewrites the golden Dockerfiles under ``golden/``.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from leoflow.cli.starter import STARTER_CONFIG
from leoflow.compiler.dockerfile import (
    DAG_DIR,
    base_image_of,
    image_name_for,
    project_files,
    render_dockerfile,
    stage_context,
)
from leoflow.spec import LeoflowYaml, load_leoflow_yaml

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LEOFLOW_UPDATE_GOLDEN") == "1"

CONFIGS = {
    "starter": STARTER_CONFIG.format(dag_id="my_dag"),
    "minimal": "dag_id: minimal\n",
    "full": """\
        dag_id: Sales-ETL
        python_version: "3.13"
        dependencies:
          - pandas>=2.2,<3
          - "requests[socks] ; python_version >= '3.11'"
          - psycopg[binary]==3.2.3
        system_packages: [libpq5, curl=7.88.1-10+deb12u8]
        build:
          args:
            PIP_INDEX_URL: https://pypi.example.com/simple
            HTTP_PROXY: http://proxy:3128
        registry: ghcr.io/acme/dags
        """,
    "custom_base": """\
        dag_id: custom_base
        base_image: "registry.example.com/platform/python-gpu:3.12-cuda@sha256:\\
          0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        dependencies: ["torch==2.5.1"]
        """,
    "system_only": """\
        dag_id: tools
        system_packages: [jq, git]
        """,
}


def _config(name: str) -> LeoflowYaml:
    return load_leoflow_yaml(textwrap.dedent(CONFIGS[name]))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_dockerfile_matches_golden(name: str) -> None:
    text = render_dockerfile(_config(name))
    golden = GOLDEN / f"{name}.Dockerfile"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file; run with LEOFLOW_UPDATE_GOLDEN=1 to create {golden}"
    assert text == golden.read_text(encoding="utf-8")


def test_rendering_is_deterministic() -> None:
    first = render_dockerfile(_config("full"))
    assert all(render_dockerfile(_config("full")) == first for _ in range(5))


def test_base_image_follows_python_version_unless_set() -> None:
    assert base_image_of(_config("minimal")) == "leoflow/python-runtime:3.11"
    assert base_image_of(_config("full")) == "leoflow/python-runtime:3.13"
    assert base_image_of(_config("custom_base")).startswith("registry.example.com/platform/")


def test_dependencies_are_shell_quoted() -> None:
    text = render_dockerfile(_config("full"))
    assert "'pandas>=2.2,<3'" in text
    assert "'requests[socks] ; python_version >= '\"'\"'3.11'\"'\"''" in text


def test_no_install_steps_without_packages() -> None:
    text = render_dockerfile(_config("minimal"))
    assert "RUN" not in text
    assert "USER root" not in text
    assert f"COPY --chown=0:0 project/ {DAG_DIR}/" in text
    assert text.rstrip().endswith("USER 10001:10001")


@pytest.mark.parametrize(
    ("dag_id", "name"),
    [("Sales-ETL", "sales-etl"), ("my__dag", "my-dag"), ("_x_", "x"), ("__", "dag"), ("A1", "a1")],
)
def test_image_name_is_a_valid_repository_component(dag_id: str, name: str) -> None:
    assert image_name_for(dag_id) == name


def _project(root: Path) -> Path:
    files = {
        "dag.py": "print('dag')\n",
        "leoflow.yaml": "dag_id: x\n",
        "helpers/util.py": "X = 1\n",
        "scripts/run.sh": "#!/bin/sh\necho hi\n",
        "dag.json": "{}\n",
        ".venv/lib/site.py": "",
        "__pycache__/dag.cpython-311.pyc": "",
        "helpers/__pycache__/util.cpython-311.pyc": "",
        ".git/HEAD": "ref: main\n",
        "notes.pyc": "",
        "out/custom.json": "{}\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "scripts/run.sh").chmod(0o700)
    (root / "outside").mkdir()
    (root / "linked").symlink_to(root / "outside", target_is_directory=True)
    return root


def test_project_files_leave_out_environments_caches_and_outputs(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    files = [path.as_posix() for path in project_files(project, [project / "out/custom.json"])]
    assert files == ["dag.py", "helpers/util.py", "leoflow.yaml", "scripts/run.sh"]


def test_staged_context_is_normalized_and_hashed(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    text = render_dockerfile(_config("minimal"))
    first = stage_context(project, tmp_path / "c1", text, {})
    again = stage_context(project, tmp_path / "c2", text, {})
    assert first.content_hash == again.content_hash
    assert (first.path / "Dockerfile").read_text(encoding="utf-8") == text
    script = first.path / "project/scripts/run.sh"
    assert script.stat().st_mode & 0o777 == 0o755
    assert (first.path / "project/dag.py").stat().st_mode & 0o777 == 0o644
    assert int(script.stat().st_mtime) == 315532800
    assert not (first.path / "project/dag.json").exists()

    (project / "dag.py").write_text("print('changed')\n", encoding="utf-8")
    changed = stage_context(project, tmp_path / "c3", text, {})
    assert changed.content_hash != first.content_hash
    with_args = stage_context(project, tmp_path / "c4", text, {"PIP_INDEX_URL": "x"})
    assert with_args.content_hash != changed.content_hash
