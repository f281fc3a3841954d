"""``leoflow init``, ``validate`` and ``compile``: from a DAG project folder to ``dag.json``.

Each command prints a short human summary, or one JSON document with ``--json``; failures
print every problem (with the fix) and exit non-zero, so scripts and CI can rely on them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from leoflow.cli.dag_venv import dag_venv_python
from leoflow.cli.starter import STARTER_CONFIG, STARTER_DAG
from leoflow.compiler import CompileError, CompileResult, compile_project
from leoflow.compiler.extract import DEFAULT_TIMEOUT_SECONDS
from leoflow.compiler.image_build import ImageOptions, apply_image
from leoflow.spec import dump_dag_json, spec_hash

EXIT_INVALID = 1
EXIT_USAGE = 2

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
TimeoutOption = Annotated[
    float, typer.Option(help="Seconds the DAG file may take to import.", min=0.1)
]
ProjectArgument = Annotated[
    Path, typer.Argument(help="Project folder (or its DAG file). Default: current folder.")
]
VenvOption = Annotated[
    bool,
    typer.Option(
        "--venv/--no-venv",
        help="Import the DAG file in the DAG's own virtualenv (leoflow.yaml's python_version "
        "and dependencies; built once, cached under LEOFLOW_HOME/venvs), as Lite and its tasks "
        "do. --no-venv imports it in this interpreter.",
    ),
]


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(payload, indent=2) if as_json else text)


def _fail(as_json: bool, error: CompileError) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": error.to_json()}, indent=2))
    else:
        typer.echo(f"error ({error.kind}):", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
        if error.detail:
            typer.echo(error.detail, err=True)
    return typer.Exit(EXIT_INVALID)


def _summary(result: CompileResult) -> dict[str, Any]:
    return {
        "ok": True,
        "dag_id": result.spec.dag_id,
        "tasks": len(result.spec.tasks),
        "dag_file": str(result.dag_file),
        "config": result.config_used,
        "spec_hash": spec_hash(result.spec),
    }


def _compile(target: Path, timeout: float, as_json: bool, *, venv: bool) -> CompileResult:
    try:
        python = dag_venv_python(target, quiet=as_json) if venv else None
        return compile_project(target, timeout=timeout, python=python)
    except CompileError as exc:
        raise _fail(as_json, exc) from None


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    as_json: JsonOption = False,
) -> None:
    """Create a runnable starter project: dag.py and leoflow.yaml."""
    files = {directory / "dag.py": STARTER_DAG, directory / "leoflow.yaml": STARTER_CONFIG}
    existing = [str(path) for path in files if path.exists()]
    if existing:
        error = CompileError(
            "config", [f"{', '.join(existing)} already exists; pick an empty folder"]
        )
        raise _fail(as_json, error)
    dag_id = re.sub(r"\W", "_", directory.resolve().name).strip("_") or "my_dag"
    if dag_id[0].isdigit():
        dag_id = f"dag_{dag_id}"
    directory.mkdir(parents=True, exist_ok=True)
    for path, template in files.items():
        path.write_text(template.format(dag_id=dag_id), encoding="utf-8")
    created = [str(path) for path in files]
    _emit(
        as_json,
        {"ok": True, "dag_id": dag_id, "created": created},
        f"created {', '.join(created)} (dag_id {dag_id}); next: leoflow compile {directory}",
    )


def validate(
    directory: ProjectArgument = Path("."),
    timeout: TimeoutOption = DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonOption = False,
    venv: VenvOption = True,
) -> None:
    """Compile the project in memory and report problems; writes nothing."""
    result = _compile(directory, timeout, as_json, venv=venv)
    summary = _summary(result)
    _emit(
        as_json,
        summary,
        f"ok: DAG '{summary['dag_id']}' with {summary['tasks']} tasks "
        f"(config: {summary['config']})",
    )


def compile_command(
    directory: ProjectArgument = Path("."),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default DIR/dag.json).")
    ] = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonOption = False,
    venv: VenvOption = True,
    *,
    build: Annotated[
        bool, typer.Option("--build", help="Build the DAG image and record it in dag.json.")
    ] = False,
    push: Annotated[
        bool, typer.Option("--push", help="Push the image; dag.json records its digest.")
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(help="Image reference: the tag of the build, or alone a pre-built image."),
    ] = None,
    dockerfile: Annotated[
        Path | None, typer.Option(help="Build with this Dockerfile, not the generated one.")
    ] = None,
    builder: Annotated[
        str | None, typer.Option(help="docker, podman, buildah or a path (default: first found).")
    ] = None,
    registry: Annotated[
        str | None, typer.Option(help="Registry to push to (overrides leoflow.yaml).")
    ] = None,
) -> None:
    """Compile the project to dag.json; optionally build and push its image (Pro)."""
    result = _compile(directory, timeout, as_json, venv=venv)
    project_dir = directory.parent if directory.is_file() else directory
    target = output or project_dir / "dag.json"
    options = ImageOptions(
        build=build,
        push=push,
        image=image,
        dockerfile=dockerfile,
        builder=builder,
        registry=registry,
        exclude=(target,),
    )
    image_info: dict[str, Any] = {}
    if options.requested:
        try:
            outcome = apply_image(result, project_dir, options)
        except CompileError as exc:
            raise _fail(as_json, exc) from None
        result, image_info = outcome.result, {"image": outcome.to_json()}
    try:
        target.write_text(dump_dag_json(result.spec), encoding="utf-8")
    except OSError as exc:
        raise _fail(
            as_json, CompileError("config", [f"cannot write {target}: {exc.strerror}"])
        ) from None
    summary = {**_summary(result), "output": str(target), **image_info}
    _emit(
        as_json,
        summary,
        f"compiled DAG '{summary['dag_id']}' ({summary['tasks']} tasks) to {target} "
        f"(config: {summary['config']})"
        + (f", image {result.spec.image}" if result.spec.image else ""),
    )


def register_authoring_commands(app: typer.Typer) -> None:
    """Add ``init``, ``validate`` and ``compile`` to the ``leoflow`` app."""
    app.command("init")(init)
    app.command("validate")(validate)
    app.command("compile")(compile_command)
