"""``Variable`` at run time: Airflow Variables read from ``AIRFLOW_VAR_<KEY>``.

The agent fetches the variables visible to the task and exports them in Airflow's own
environment format (ADR 0015), so ``Variable.get`` behaves as with Airflow's environment
secrets backend: the key is upper-cased, ``deserialize_json`` parses the text, a default is
returned as given, and a missing key is a ``KeyError``. Writing variables from a task is not
supported. Reading one while the DAG file is defined (top-level code) is a compile error.
"""

from __future__ import annotations

import json
import os
from typing import Any

from leoflow_sdk.runtime.contract import SECRETS_NOTICE, variable_env_name

from .errors import NotSupportedError
from .task_context import require_running_task

_NOTSET: Any = object()
_TOP_LEVEL_FIX = (
    "read it inside a task function, or in a templated field as {{ var.value.<key> }}; "
    "a value read at definition time would be frozen into the compiled DAG"
)


class VariableNotFoundError(KeyError):
    """``Variable.get`` of a key that was not delivered (Airflow raises ``KeyError`` too)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Variable:
    """An Airflow Variable (``airflow.sdk.Variable`` / ``airflow.models.Variable``)."""

    def __init__(
        self, key: str | None = None, val: Any = None, description: str | None = None
    ) -> None:
        self.key = key
        self.val = val
        self.description = description

    @classmethod
    def get(
        cls,
        key: str,
        default_var: Any = _NOTSET,
        deserialize_json: bool = False,
        *,
        default: Any = _NOTSET,
    ) -> Any:
        """The variable's value (parsed as JSON with ``deserialize_json``), else the default.

        ``default_var`` is Airflow 2's name of the default and ``default`` Airflow 3's.
        """
        require_running_task("Variable.get", _TOP_LEVEL_FIX)
        fallback = default if default is not _NOTSET else default_var
        raw = os.environ.get(variable_env_name(key))
        if raw is None:
            if fallback is not _NOTSET:
                return fallback
            message = f"Variable {key} does not exist"
            notice = os.environ.get(SECRETS_NOTICE)
            if notice:
                message += f" (variables were not delivered to this task: {notice})"
            raise VariableNotFoundError(message)
        return json.loads(raw) if deserialize_json else raw

    @classmethod
    def set(cls, key: str, value: Any, *args: Any, **kwargs: Any) -> None:
        """Writing variables from a task is refused: tasks get a read-only copy."""
        raise NotSupportedError(
            "Variable.set (writing a variable from a task)",
            fix="set variables through the UI, the API or the CLI",
        )

    @classmethod
    def delete(cls, key: str, *args: Any, **kwargs: Any) -> None:
        """Deleting variables from a task is refused: tasks get a read-only copy."""
        raise NotSupportedError(
            "Variable.delete (deleting a variable from a task)",
            fix="delete variables through the UI, the API or the CLI",
        )

    @classmethod
    def update(cls, key: str, value: Any, *args: Any, **kwargs: Any) -> None:
        """Updating variables from a task is refused: tasks get a read-only copy."""
        raise NotSupportedError(
            "Variable.update (writing a variable from a task)",
            fix="set variables through the UI, the API or the CLI",
        )

    def __repr__(self) -> str:
        return f"Variable(key={self.key!r})"


__all__ = ["Variable", "VariableNotFoundError"]
