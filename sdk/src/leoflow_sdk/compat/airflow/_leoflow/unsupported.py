"""Import paths of Airflow features Leoflow does not run yet, failing at the user's line.

Three mechanisms, all raising ``NotSupportedError``:

* ``module_getattr`` — for a module that exists in the shim but where some names are not
  supported (``from airflow.operators.python import BranchPythonOperator``);
* ``refuse_module`` — for a module whose whole purpose is unsupported (sensors, Kubernetes);
* ``UnsupportedModuleFinder`` — for any other ``airflow.*`` path (provider packages …), so an
  import the shim does not know fails loudly instead of with a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, NoReturn

from .errors import NotSupportedError


def module_getattr(module: str, known: dict[str, str]) -> Callable[[str], Any]:
    """A PEP 562 ``__getattr__`` refusing ``known`` names (with their description) and others."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise NotSupportedError(known.get(name, f"{module}.{name}"))

    return __getattr__


def refuse_module(what: str) -> NoReturn:
    """Called at the top of a stub module: importing it is the error."""
    raise NotSupportedError(what)


def _describe(fullname: str) -> str:
    parts = fullname.split(".")
    if len(parts) >= 3 and parts[1] == "providers":
        return f"{fullname} (provider package apache-airflow-providers-{parts[2]})"
    return f"module {fullname}"


class UnsupportedModuleFinder(importlib.abc.MetaPathFinder):
    """Last finder on ``sys.meta_path``: any ``airflow.*`` module the shim lacks is refused."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Refuse ``airflow.*`` names no earlier finder found; ignore everything else."""
        if fullname.startswith("airflow."):
            raise NotSupportedError(_describe(fullname))
        return None


def install_finder() -> None:
    """Append the finder once (idempotent)."""
    if not any(isinstance(f, UnsupportedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(UnsupportedModuleFinder())
