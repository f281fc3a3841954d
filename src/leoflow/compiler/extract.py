"""Running a DAG file in a child process and collecting what the shim recorded.

The child is a separate interpreter started in isolated mode (``-I``: no ``PYTHONPATH``, no
user site, no current directory on ``sys.path``) with an environment reduced to the basics,
so the DAG file sees neither the control plane's configuration nor its secrets. Its result is
written to a file rather than stdout, so a DAG that prints cannot corrupt it; a DAG that hangs
is killed after the timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leoflow.compiler.errors import CompileError

DEFAULT_TIMEOUT_SECONDS = 60.0
_KEPT_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SYSTEMROOT")
_OUTPUT_EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class Extraction:
    """The DAGs one file defines, as the shim recorded them, and what the file printed."""

    module: str
    dags: list[dict[str, Any]]
    output: str


def child_environment() -> dict[str, str]:
    """The environment of the child: locale, PATH and HOME only (no ``LEOFLOW_*``, no secrets)."""
    env = {key: value for key, value in os.environ.items() if key in _KEPT_ENV}
    env.update({k: v for k, v in os.environ.items() if k.startswith("LC_")})
    return env


def _excerpt(text: str) -> str:
    return text if len(text) <= _OUTPUT_EXCERPT_CHARS else "…" + text[-_OUTPUT_EXCERPT_CHARS:]


def _raise_for(error: dict[str, Any], output: str) -> None:
    kind = error.get("kind", "crash")
    message = str(error.get("message", "the DAG file failed"))
    if kind == "crash":
        raise CompileError(
            "crash",
            [f"importing the DAG file raised {message}"],
            detail=error.get("traceback") or _excerpt(output) or None,
        )
    raise CompileError("dag", [message])


def extract_dags(
    dag_file: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    python: str | None = None,
) -> Extraction:
    """Import ``dag_file`` in a child interpreter (``python``, default this one) via the shim."""
    with tempfile.TemporaryDirectory(prefix="leoflow-compile-") as tmp:
        result_path = Path(tmp) / "result.json"
        command = [
            python or sys.executable,
            "-I",
            "-B",
            "-m",
            "leoflow_sdk.compat.extract_dags",
            str(dag_file.resolve()),
            str(result_path),
        ]
        try:
            done = subprocess.run(
                command,
                cwd=dag_file.resolve().parent,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CompileError(
                "timeout",
                [
                    f"importing {dag_file} did not finish within {timeout:g} s; a DAG file must "
                    "only define the DAG (move slow work such as network calls into tasks)"
                ],
            ) from None
        output = (done.stdout or "") + (done.stderr or "")
        if not result_path.is_file():
            raise CompileError(
                "crash",
                [f"the DAG file process exited with code {done.returncode} without a result"],
                detail=_excerpt(output) or None,
            )
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if not result.get("ok"):
        _raise_for(result.get("error") or {}, output)
    return Extraction(module=str(result["module"]), dags=list(result["dags"]), output=output)
