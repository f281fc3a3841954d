"""The interpreter ``leoflow validate`` and ``compile`` import a DAG file with.

A DAG file's top-level imports must work in the environment its tasks run in, not in the
environment of whoever runs the CLI: ``import pendulum`` must fail to compile until the project
declares ``pendulum``, even when Leoflow's own environment happens to have it. So the CLI builds
(once, then reuses) the same virtualenv Lite runs the DAG's tasks in, from the project's
``leoflow.yaml`` (``python_version`` and ``dependencies``), under ``LEOFLOW_HOME/venvs``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from leoflow.compiler import CompileError
from leoflow.compiler.project import load_config
from leoflow.config import load_settings
from leoflow.lite.venvs import VenvBuildError, VenvInputs, VenvManager
from leoflow.telemetry.logging import configure_logging


def dag_venv_python(target: Path, *, quiet: bool = False) -> str:
    """The DAG's own venv interpreter for the project at ``target``, built first if needed.

    Progress of a build goes to stderr (never with ``quiet``, so ``--json`` output stays one
    document). A build failure is a ``CompileError`` of kind ``environment`` that names the
    step, the cause and the way around it.
    """
    project_dir = target.parent if target.is_file() else target
    if not project_dir.is_dir():
        raise CompileError("config", [f"{target} is not a folder or a DAG file"])
    config = load_config(project_dir)
    manager = VenvManager.from_settings(load_settings())
    inputs = VenvInputs.for_config(config, manager.sdk)

    def progress(line: str) -> None:
        if not quiet and line.startswith(("building the DAG virtualenv", "DAG virtualenv ready")):
            typer.echo(f"[leoflow] {line}", err=True)

    configure_logging("console", "WARNING", stream=sys.stderr)  # stdout is the result
    try:
        venv = asyncio.run(manager.ensure(inputs, progress))
    except VenvBuildError as exc:
        raise CompileError(
            "environment",
            [
                f"the DAG's virtualenv ({inputs.describe()}) could not be built: {exc}",
                "fix the dependencies in leoflow.yaml, or compile in this interpreter with "
                "--no-venv",
            ],
        ) from None
    return str(venv.python)
