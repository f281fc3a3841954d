"""Binding a task callable's parameters: bound values first, then the Airflow context.

The compiler recorded every argument by parameter name (``call_args`` for literals,
``xcom_input`` for upstream results, ``op_args`` included), so binding is by name. A
parameter nobody bound receives the context value of the same name (``ti``, ``ds``,
``params`` …), and a ``**kwargs`` parameter receives the whole context, as Airflow's
``determine_kwargs`` does. A value bound at the call site always wins over the context.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any


class BindingError(TypeError):
    """The bound values do not fit the callable's signature; the message names the fix."""


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__qualname__', repr(function))}()"


def bind_arguments(
    function: Callable[..., Any], bound: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``function`` (``BindingError`` if they cannot fit)."""
    signature = inspect.signature(function)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    remaining = dict(bound)
    accepts_any_keyword = False
    positional_gap = False
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any_keyword = True
            continue
        if name in remaining:
            value = remaining.pop(name)
        elif name in context:
            value = context[name]
        elif parameter.default is not inspect.Parameter.empty:
            positional_gap = positional_gap or parameter.kind is inspect.Parameter.POSITIONAL_ONLY
            continue
        else:
            raise BindingError(
                f"parameter '{name}' of {_name(function)} gets no value: the compiled DAG binds "
                "nothing to it and it has no default. Fix: pass it where the task is called, "
                "or give it a default"
            )
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            if positional_gap:
                raise BindingError(
                    f"positional-only parameter '{name}' of {_name(function)} follows one "
                    "left at its default; make the parameters keyword-capable"
                )
            args.append(value)
        else:
            kwargs[name] = value
    if remaining:
        if not accepts_any_keyword:
            raise BindingError(
                f"{_name(function)} does not declare the bound parameter(s) "
                f"{', '.join(sorted(remaining))}; recompile the DAG after changing the function"
            )
        kwargs.update(remaining)
    if accepts_any_keyword:
        for key, value in context.items():
            if key not in kwargs and key not in signature.parameters:
                kwargs[key] = value
    return args, kwargs
