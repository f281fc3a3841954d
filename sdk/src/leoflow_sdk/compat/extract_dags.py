"""Child-process entry point that imports one DAG file through the shim and writes its DAGs.

Run as ``python -I -B -m leoflow_sdk.compat.extract_dags DAG_FILE RESULT_JSON``. The result goes
to a file, never to stdout, so whatever the DAG file prints cannot corrupt it. The DAG file is
imported under its own module name (its stem), with its folder first on ``sys.path`` so sibling
modules import, then the shim, then the interpreter's own paths, then the fallbacks. It lives
in ``leoflow-sdk`` so that a DAG's own interpreter (its venv or image) can run it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from leoflow_sdk.compat import FALLBACK_DIR, shim_sys_path

_EXCERPT_LINES = 25


def _prepare_path(dag_file: Path) -> None:
    for name in [n for n in sys.modules if n == "airflow" or n.startswith("airflow.")]:
        del sys.modules[name]
    sys.path[:0] = shim_sys_path(dag_file.parent)
    sys.path.append(str(FALLBACK_DIR))


def _load(dag_file: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, dag_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {dag_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _traceback_excerpt(exc: BaseException) -> str:
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen") and frame.filename != __file__
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(exc)
    text = "".join(lines).rstrip().splitlines()
    return "\n".join(text[-_EXCERPT_LINES:])


def extract(dag_file: Path) -> dict[str, Any]:
    """Import ``dag_file`` through the shim; ``{"ok": True, "module", "dags"}`` or an error."""
    _prepare_path(dag_file)
    errors: Any = importlib.import_module("airflow._leoflow.errors")
    entrypoints: Any = importlib.import_module("airflow._leoflow.entrypoints")
    module_name = entrypoints.module_name_for(dag_file.stem)
    if module_name in sys.modules or module_name in sys.stdlib_module_names:
        return {
            "ok": False,
            "error": {
                "kind": "invalid",
                "message": f"the DAG file name {dag_file.name!r} shadows the Python module "
                f"{module_name!r}; rename the file (for example dag.py)",
            },
        }
    try:
        _load(dag_file, module_name)
        export: Any = importlib.import_module("airflow._leoflow.export")
        dags = export.export_all()
    except errors.LeoflowCompileError as exc:
        return {
            "ok": False,
            "error": {
                "kind": "compile",
                "message": str(exc),
                "file": exc.filename,
                "line": exc.line,
            },
        }
    except BaseException as exc:
        return {
            "ok": False,
            "error": {
                "kind": "crash",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": _traceback_excerpt(exc),
            },
        }
    return {"ok": True, "module": module_name, "dags": dags}


def main(argv: list[str]) -> int:
    """Write the extraction result of ``argv[0]`` to ``argv[1]`` as JSON; exit 0 if written."""
    if len(argv) != 2:
        print("usage: python -m leoflow_sdk.compat.extract_dags DAG_FILE RESULT_JSON")
        return 2
    dag_file, result_path = Path(argv[0]).resolve(), Path(argv[1])
    result = extract(dag_file)
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps(
            {"ok": False, "error": {"kind": "crash", "message": f"unserializable DAG: {exc}"}}
        )
    result_path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
