"""What the shim derives from a task's Python function, worked out once per function.

A DAG file commonly calls one ``@task`` function (or passes one ``python_callable``) hundreds
of times. Its signature, its ``module:callable`` entrypoint, its docstring and whether its
return annotation asks for ``multiple_outputs`` do not change between those calls, and working
them out again (``inspect.signature``, ``typing.get_type_hints``) was most of the cost of each
task definition. They are kept here per function object, for as long as the function lives.
Only successes are kept: a function whose facts raise (a bound method, a callable without a
signature) raises again at each task, naming that task.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PLAIN_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class Parameters:
    """A function's signature, plus its parameter names when binding them is trivial."""

    signature: inspect.Signature
    positional: tuple[str, ...] | None
    """Names that take positional values, or ``None`` when the signature has ``*args``,
    ``**kwargs`` or positional-only parameters (then ``bind_partial`` binds)."""
    names: tuple[str, ...]

    @classmethod
    def of(cls, signature: inspect.Signature) -> Parameters:
        """The facts of ``signature``."""
        parameters = signature.parameters.values()
        positional = None
        if all(p.kind in _PLAIN_KINDS for p in parameters):
            positional = tuple(p.name for p in parameters if p.kind is _PLAIN_KINDS[0])
        return cls(signature, positional, tuple(signature.parameters))

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``signature.bind_partial(*args, **kwargs).arguments``: the same names, same order.

        A signature with only ordinary parameters (the usual task function) is bound directly;
        any other signature, and any call that does not fit, goes through ``bind_partial``
        (which raises ``TypeError`` with Python's own message).
        """
        positional = self.positional
        if positional is not None and len(args) <= len(positional):
            arguments = dict(zip(positional, args, strict=False))
            if not kwargs:
                return arguments
            if all(name in self.names and name not in arguments for name in kwargs):
                for name in self.names[len(args) :]:
                    if name in kwargs:
                        arguments[name] = kwargs[name]
                return arguments
        return dict(self.signature.bind_partial(*args, **kwargs).arguments)


_PARAMETERS: weakref.WeakKeyDictionary[Any, Parameters] = weakref.WeakKeyDictionary()
_FACTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def parameters_of(function: Callable[..., Any]) -> Parameters:
    """The parameters of ``function`` (``inspect.signature``), worked out once per function."""
    try:
        return _PARAMETERS[function]
    except (KeyError, TypeError):
        pass
    found = Parameters.of(inspect.signature(function))
    with contextlib.suppress(TypeError):  # not weak-referenceable (a builtin): each time
        _PARAMETERS[function] = found
    return found


def remembered(function: Callable[..., Any], name: str, compute: Callable[[], Any]) -> Any:
    """The fact ``name`` of ``function``: ``compute()`` the first time, then the same value."""
    try:
        facts = _FACTS[function]
    except KeyError:
        facts = {}
        try:
            _FACTS[function] = facts
        except TypeError:
            return compute()
    except TypeError:
        return compute()
    if name not in facts:
        facts[name] = compute()
    return facts[name]
