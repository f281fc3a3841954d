"""Binding the arguments of a Python task: literals to ``call_args``, task results to XCom.

* a task result bound to a parameter → ``xcom_input[param] = [upstream]`` (a plain value);
* one key of a ``multiple_outputs`` task's result (``result["key"]``) → the same, written
  ``{"task_id": upstream, "key": "key"}``;
* a list or tuple whose every element is a task result → fan-in, in declaration order;
* a JSON literal → ``call_args[param]``;
* anything else (a list mixing both, a task result nested in a dict, a non-JSON value) is a
  compile error with the fix, because the runtime could not reproduce it faithfully.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import context
from .convert import json_literal
from .errors import InvalidDagError, NotSupportedError
from .function_facts import parameters_of

if TYPE_CHECKING:
    from .baseoperator import BaseOperator

CALL_ARGS_LIMIT_BYTES = 64 * 1024
"""Literal arguments travel in one environment variable; Linux refuses a single variable over
128 KiB, so anything near that size must go through XCom or a file instead."""

KEY_FIX = (
    "add multiple_outputs=True to the upstream @task (and return a dict), or pass the whole "
    "result and read the key inside the downstream task"
)


def _is_result(value: Any) -> bool:
    return isinstance(value, _xcom_arg())


def _xcom_arg() -> type:
    """``XComArg`` (imported late: ``baseoperator`` imports this module)."""
    global _XCOM_ARG  # noqa: PLW0603 - set once, on first use
    if _XCOM_ARG is None:
        from .baseoperator import XComArg

        _XCOM_ARG = XComArg
    return _XCOM_ARG


_XCOM_ARG: type | None = None


def _holds_result(value: Any) -> bool:
    if _is_result(value):
        return True
    if isinstance(value, (list, tuple, set)):
        return any(_holds_result(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_result(item) for item in value.values())
    return False


class Bindings:
    """The ``call_args`` and ``xcom_input`` of one task, filled parameter by parameter."""

    def __init__(self, task: BaseOperator) -> None:
        self.task = task
        self.call_args: dict[str, Any] = {}
        self.xcom_input: dict[str, list[str | dict[str, str]]] = {}

    def _upstream_id(self, result: Any) -> str | dict[str, str]:
        upstream = result.operator
        self.task.add_upstream(upstream)
        if result.key == "return_value":
            return str(upstream.task_id)
        if not upstream.multiple_outputs:
            raise NotSupportedError(
                f"reading XCom key {result.key!r} of task '{upstream.task_id}', which pushes no "
                "keyed XComs (it does not set multiple_outputs=True)",
                fix=KEY_FIX,
            )
        return {"task_id": str(upstream.task_id), "key": result.key}

    def bind(self, name: str, value: Any) -> None:
        """Bind one parameter (see the module docstring for the rules)."""
        task_id = self.task.task_id
        if _is_result(value):
            self.xcom_input[name] = [self._upstream_id(value)]
        elif isinstance(value, (list, tuple)) and len(value) == 1 and _is_result(value[0]):
            raise InvalidDagError(
                f"parameter '{name}' of task '{task_id}' gets a list of one task result, which "
                "Leoflow delivers as a plain value, not a list",
                "pass the task result itself, or wrap it in a list inside the task",
            )
        elif isinstance(value, (list, tuple)) and value and all(map(_is_result, value)):
            self.xcom_input[name] = [self._upstream_id(item) for item in value]
        elif isinstance(value, (list, tuple)) and any(map(_is_result, value)):
            raise InvalidDagError(
                f"parameter '{name}' of task '{task_id}' gets a list mixing task results and "
                "literals",
                "pass a list made only of task results (fan-in) and give the literals "
                "as another parameter",
            )
        elif _holds_result(value):
            raise InvalidDagError(
                f"parameter '{name}' of task '{task_id}' gets task results nested inside a "
                f"{type(value).__name__}",
                "pass each task result as its own parameter, or a flat list of task results",
            )
        elif context.checking:
            where = f"argument '{name}' of task '{task_id}'"
            self.call_args[name] = json_literal(value, where)
        else:  # checked at compile time; the runtime reads its arguments from the spec
            self.call_args[name] = value

    def check_size(self) -> None:
        """Refuse literal arguments too large for the environment variable that carries them."""
        size = len(json.dumps(self.call_args).encode())
        if size > CALL_ARGS_LIMIT_BYTES:
            raise InvalidDagError(
                f"literal arguments of task '{self.task.task_id}' are {size} bytes, over the "
                f"{CALL_ARGS_LIMIT_BYTES}-byte limit",
                "pass large data through a task result (XCom) or a file",
            )


def bind_call(
    task: BaseOperator, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Bindings:
    """Bind ``function(*args, **kwargs)`` of ``task`` by parameter name."""
    bindings = Bindings(task)
    try:
        parameters = parameters_of(function)
        arguments = parameters.bind(args, kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidDagError(
            f"the arguments of task '{task.task_id}' do not fit "
            f"{getattr(function, '__name__', 'its callable')}(): {exc}",
            "call the task with the parameters its function declares",
        ) from None
    for name, value in arguments.items():
        kind = parameters.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise InvalidDagError(
                    f"task '{task.task_id}' passes positional values into *{name}",
                    "declare named parameters and pass the values to them",
                )
        elif kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                bindings.bind(key, item)
        else:
            bindings.bind(name, value)
    if context.checking:
        bindings.check_size()
    return bindings
