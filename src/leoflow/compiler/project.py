"""Compiling one DAG project folder (``dag.py`` or ``dag.yaml`` + optional ``leoflow.yaml``).

The steps, each with its own error: read the config, record the DAG file in a child process
(or read the YAML DAG), select the DAG named by ``dag_id``, translate, overlay the config,
embed the source and validate the whole artifact with the spec models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leoflow.compiler.errors import CompileError
from leoflow.compiler.extract import DEFAULT_TIMEOUT_SECONDS, Extraction, extract_dags
from leoflow.compiler.overlay import apply_leoflow_yaml
from leoflow.compiler.translate import translate_dag
from leoflow.compiler.yaml_dag import load_yaml_dag
from leoflow.spec import SCHEMA_VERSION, DagSpec, LeoflowYaml, SpecError, load_leoflow_yaml
from leoflow.spec.dag_json import dag_spec_from_data

CONFIG_FILE = "leoflow.yaml"
DAG_SOURCES = ("dag.py", "dag.yaml")
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CompileResult:
    """A compiled DAG and how it was obtained (which config, which file, what it printed)."""

    spec: DagSpec
    dag_file: Path
    config_file: Path | None
    found_dag_ids: list[str]
    output: str = ""

    @property
    def config_used(self) -> str:
        """``leoflow.yaml`` path, or a note that no config was found and defaults apply."""
        if self.config_file is None:
            return f"no {CONFIG_FILE} (defaults)"
        return str(self.config_file)


def load_config(project_dir: Path) -> LeoflowYaml | None:
    """The project's ``leoflow.yaml`` if there is one; ``CompileError`` if it is invalid."""
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return load_leoflow_yaml(path)
    except SpecError as exc:
        raise CompileError("config", exc.problems or [str(exc)]) from None


def find_dag_file(project_dir: Path, config: LeoflowYaml | None) -> Path:
    """``dag_source`` from the config, else ``dag.py``, else ``dag.yaml``."""
    if config is not None and (project_dir / config.dag_source).is_file():
        return project_dir / config.dag_source
    if config is not None and config.dag_source != "dag.py":
        raise CompileError(
            "config", [f"dag_source {config.dag_source!r} does not exist in {project_dir}"]
        )
    for name in DAG_SOURCES:
        if (project_dir / name).is_file():
            return project_dir / name
    raise CompileError(
        "config",
        [f"{project_dir} has no dag.py or dag.yaml; create one (leoflow init makes a starter)"],
    )


def _select(dags: list[dict[str, Any]], wanted: str | None, dag_file: Path) -> dict[str, Any]:
    ids = [str(dag["dag_id"]) for dag in dags]
    if not dags:
        raise CompileError("select", [f"{dag_file} defines no DAG; create one with DAG or @dag"])
    if wanted is None:
        if len(dags) > 1:
            raise CompileError(
                "select",
                [
                    f"{dag_file} defines {len(dags)} DAGs ({', '.join(ids)}); add {CONFIG_FILE} "
                    "with dag_id to pick one"
                ],
            )
        return dags[0]
    duplicates = sorted({dag_id for dag_id in ids if ids.count(dag_id) > 1})
    if duplicates:
        raise CompileError("select", [f"{dag_file} defines DAG '{duplicates[0]}' twice"])
    for dag in dags:
        if dag["dag_id"] == wanted:
            return dag
    raise CompileError(
        "select",
        [
            f"{CONFIG_FILE} names dag_id '{wanted}' but {dag_file} defines "
            f"{', '.join(ids)}; fix dag_id in {CONFIG_FILE} or the DAG's id"
        ],
    )


def _record(dag_file: Path, timeout: float, python: str | None) -> Extraction:
    if dag_file.suffix in _YAML_SUFFIXES:
        return Extraction(module="", dags=[load_yaml_dag(dag_file)], output="")
    return extract_dags(dag_file, timeout=timeout, python=python)


def _assemble(raw: dict[str, Any], dag_file: Path, source: str, module: str) -> dict[str, Any]:
    if dag_file.suffix in _YAML_SUFFIXES:
        return {"schema_version": SCHEMA_VERSION, **raw, "source": source}
    return translate_dag(raw, source, module)


def compile_project(
    target: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    python: str | None = None,
) -> CompileResult:
    """Compile the project at ``target`` (a folder, or a DAG file inside one) to a ``DagSpec``.

    ``python`` is the interpreter that imports the DAG file (the DAG's own venv in Lite);
    it needs ``leoflow-sdk`` installed. Raises ``CompileError``.
    """
    project_dir = target.parent if target.is_file() else target
    if not project_dir.is_dir():
        raise CompileError("config", [f"{target} is not a folder or a DAG file"])
    config = load_config(project_dir)
    dag_file = target if target.is_file() else find_dag_file(project_dir, config)
    source = dag_file.read_text(encoding="utf-8")
    extraction = _record(dag_file, timeout, python)
    dags, output = extraction.dags, extraction.output
    chosen = _select(dags, config.dag_id if config else None, dag_file)
    data = _assemble(chosen, dag_file, source, extraction.module)
    if config is not None:
        data = apply_leoflow_yaml(data, config)
    try:
        spec = dag_spec_from_data(data, source=str(dag_file))
    except SpecError as exc:
        raise CompileError("spec", exc.problems) from None
    ids = [str(dag["dag_id"]) for dag in dags]
    return CompileResult(spec, dag_file, project_dir / CONFIG_FILE if config else None, ids, output)
