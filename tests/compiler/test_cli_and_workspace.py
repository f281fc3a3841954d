"""``leoflow init/validate/compile`` and the Lite workspace scan."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leoflow.cli.main import app
from leoflow.compiler import CompileError, compile_workspace, scan_workspace
from leoflow.spec import load_dag_json

runner = CliRunner()


def test_init_then_validate_then_compile(tmp_path: Path) -> None:
    project = tmp_path / "sales-report"
    created = runner.invoke(app, ["init", str(project), "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["dag_id"] == "sales_report"

    validated = runner.invoke(app, ["validate", str(project)])
    assert validated.exit_code == 0, validated.output
    assert "ok: DAG 'sales_report' with 4 tasks" in validated.output
    assert "leoflow.yaml" in validated.output

    compiled = runner.invoke(app, ["compile", str(project), "--json"])
    assert compiled.exit_code == 0, compiled.output
    summary = json.loads(compiled.output)
    spec = load_dag_json(Path(summary["output"]))
    assert spec.task("load").xcom_input["totals"] == ("square", "double")


def test_init_refuses_existing_project(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 1


def test_compile_output_option_and_failure_json(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path / "p")])
    out = tmp_path / "elsewhere.json"
    assert runner.invoke(app, ["compile", str(tmp_path / "p"), "-o", str(out)]).exit_code == 0
    assert load_dag_json(out).dag_id == "p"

    (tmp_path / "p" / "dag.py").write_text("raise RuntimeError('bad')\n")
    failed = runner.invoke(app, ["compile", str(tmp_path / "p"), "--json"])
    assert failed.exit_code == 1
    error = json.loads(failed.output)["error"]
    assert error["kind"] == "crash"
    assert error["problems"] == ["importing the DAG file raised RuntimeError: bad"]


def test_validate_missing_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "has no dag.py or dag.yaml" in result.output


def _project(root: Path, rel: str, dag_id: str) -> None:
    folder = root / rel
    runner.invoke(app, ["init", str(folder)])
    (folder / "leoflow.yaml").write_text(f"dag_id: {dag_id}\n")
    text = (folder / "dag.py").read_text()
    (folder / "dag.py").write_text(
        text.replace(f"def {folder.name}(", f"def {dag_id}(").replace(
            f"\n{folder.name}()", f"\n{dag_id}()"
        )
    )


def test_workspace_scan_depth_and_skips(tmp_path: Path) -> None:
    for rel in ("a", "b/c", "x/y/z/w/v", "x/y/z/w/v/too_deep", ".hidden/p", "venv/p", ".venv/p"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "dag.py").write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in scan_workspace(tmp_path)]
    assert found == ["a", "b/c", "x/y/z/w/v"]


def test_workspace_duplicate_dag_id_names_both_paths(tmp_path: Path) -> None:
    _project(tmp_path, "one", "same")
    _project(tmp_path, "two", "same")
    with pytest.raises(CompileError) as info:
        compile_workspace(tmp_path)
    assert info.value.problems == [
        f"dag_id 'same' is defined by both {tmp_path / 'one'} and {tmp_path / 'two'}; rename one"
    ]


def test_workspace_compiles_each_project(tmp_path: Path) -> None:
    _project(tmp_path, "one", "first")
    _project(tmp_path, "two", "second")
    result = compile_workspace(tmp_path)
    assert sorted(r.spec.dag_id for r in result.compiled.values()) == ["first", "second"]
    assert result.failed == {}


def _local_wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel of a one-module package (no build backend, no network)."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "ANSWER = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
        archive.writestr(f"{info}/RECORD", record)
    return wheel


def test_validate_imports_the_dag_in_its_own_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top-level import works only once the project declares it, whatever Leoflow's own
    environment holds (typer is installed beside Leoflow, never in a DAG venv by default)."""
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "home"))
    runner.invoke(app, ["init", str(tmp_path / "p")])
    dag = tmp_path / "p" / "dag.py"
    future = "from __future__ import annotations\n"
    dag.write_text(
        dag.read_text().replace(future, future + "import typer\nimport leoflow_cli_dep\n")
    )

    undeclared = runner.invoke(app, ["validate", str(tmp_path / "p"), "--json"])
    assert undeclared.exit_code == 1, undeclared.output
    error = json.loads(undeclared.stdout)["error"]
    assert error["kind"] == "crash"
    assert "No module named 'typer'" in error["problems"][0]

    wheel = _local_wheel(tmp_path / "wheels", "leoflow_cli_dep")
    config = tmp_path / "p" / "leoflow.yaml"
    declare = f"dependencies:\n  - typer\n  - leoflow_cli_dep @ {wheel.as_uri()}"
    config.write_text(config.read_text().replace("dependencies: []", declare))
    declared = runner.invoke(app, ["validate", str(tmp_path / "p")])
    assert declared.exit_code == 0, declared.output
    assert "ok: DAG 'p'" in declared.output
    assert any((tmp_path / "home" / "venvs").iterdir())


def test_no_venv_imports_in_this_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "home"))
    runner.invoke(app, ["init", str(tmp_path / "p")])
    dag = tmp_path / "p" / "dag.py"
    future = "from __future__ import annotations\n"
    dag.write_text(dag.read_text().replace(future, future + "import typer\n"))
    result = runner.invoke(app, ["validate", str(tmp_path / "p"), "--no-venv"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "home" / "venvs").exists()


def test_a_venv_that_cannot_be_built_is_a_clear_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "home"))
    runner.invoke(app, ["init", str(tmp_path / "p")])
    config = tmp_path / "p" / "leoflow.yaml"
    missing = (tmp_path / "nowhere" / "absent-1.0-py3-none-any.whl").as_uri()
    declare = f"dependencies:\n  - absent @ {missing}"
    config.write_text(config.read_text().replace("dependencies: []", declare))
    result = runner.invoke(app, ["compile", str(tmp_path / "p"), "--json"])
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "environment"
    assert "could not be built" in error["problems"][0]
    assert "--no-venv" in error["problems"][1]
    assert not (tmp_path / "p" / "dag.json").exists()
