"""Where a task's Python callable lives: ``module:callable`` that the runtime can find again.

The DAG file is imported under its own module name (the file stem, made an identifier), so a
function defined there is ``<stem>:<qualified name>``; one imported from a sibling module keeps
that module. Functions defined inside a ``@dag`` function have no importable path, so their
``<locals>`` steps are dropped and the runtime finds them through the DAG it rebuilds by
importing the DAG module (``runtime_lookup.resolve_python_callable``).
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Callable
from typing import Any

from .errors import InvalidDagError
from .function_facts import remembered


def module_name_for(stem: str) -> str:
    """A valid module name for a DAG file stem (``my-dag`` → ``my_dag``)."""
    name = re.sub(r"\W", "_", stem) or "dag"
    if name[0].isdigit():
        name = f"_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_"
    return name


def _clean(part: str) -> str:
    return "lambda_" if part == "<lambda>" else re.sub(r"\W", "_", part)


def entrypoint_of(function: Callable[..., Any], task_id: str) -> str:
    """``module:qualname`` of a plain function (bound methods and partials are refused)."""
    if inspect.ismethod(function) or not hasattr(function, "__qualname__"):
        raise InvalidDagError(
            f"python_callable of task '{task_id}' is a {type(function).__name__}",
            "pass a plain function defined with def (module level or inside the DAG function)",
        )
    found: str = remembered(function, "entrypoint", lambda: _entrypoint(function))
    return found


def _entrypoint(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "__main__"
    parts = [_clean(p) for p in function.__qualname__.split(".") if p != "<locals>"]
    return f"{module}:{'.'.join(parts)}"
