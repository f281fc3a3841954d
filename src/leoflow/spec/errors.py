"""``SpecError``: every way a ``dag.json`` or ``leoflow.yaml`` can be wrong, as readable lines.

Compile errors are read by people (in CI logs, in the Lite editor), so a spec problem is never
a raw pydantic dump: each problem is one line that says *where* (``tasks[2] (load).retries``,
plus the YAML line when there is one), *what* is wrong and, where it can be known, *the fix*.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

PROBLEMS_ERROR_TYPE = "spec_problems"
"""Error type raised by cross-field validators; its ``ctx["problems"]`` holds complete lines."""

Loc = tuple[int | str, ...]
LineLocator = Callable[[Loc], int | None]


def is_union_tag(part: int | str) -> bool:
    """Whether a location part is the tag of a tagged union member (``<ref>``), not a key.

    Tagged unions put the chosen member's tag into error locations; the tags are written in
    angle brackets (never a valid key, parameter or task id) so they can be left out of what a
    person reads.
    """
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


class SpecError(ValueError):
    """A spec document is invalid; ``problems`` holds one human-readable line per problem.

    It is a ``ValueError`` so callers that only care "is this input bad" need no import, while
    callers that render errors (CLI, API, the Lite editor) can list ``problems`` one by one.
    """

    def __init__(
        self, problems: Sequence[str], *, document: str = "spec", source: str | None = None
    ) -> None:
        self.problems: list[str] = list(problems)
        self.document = document
        self.source = source
        where = f"{document} ({source})" if source else document
        if len(self.problems) == 1:
            message = f"invalid {where}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"invalid {where}: {len(self.problems)} problems:\n{lines}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Compilation runs in a subprocess; the error must survive pickling intact.
        return (_rebuild_spec_error, (self.problems, self.document, self.source))


def _rebuild_spec_error(problems: list[str], document: str, source: str | None) -> SpecError:
    return SpecError(problems, document=document, source=source)


def looks_like_a_path(text: str, suffixes: tuple[str, ...]) -> bool:
    """Whether document text is more likely a file name (for a "pass a Path" hint)."""
    return "\n" not in text and text.strip().lower().endswith(suffixes)


def list_choices(choices: Iterable[str], *, limit: int = 50) -> str:
    """``a, b, c`` (at most ``limit`` names, then ``… and N more``) for "known ids" hints."""
    names = list(choices)
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" … and {len(names) - limit} more"
    return shown or "(none)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def problems_from_validation_error(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    data: Any = None,
    line_of: LineLocator | None = None,
) -> list[str]:
    """Turn a pydantic ``ValidationError`` into one readable line per problem.

    ``model`` is the root model (used to list the allowed keys next to an unknown key), ``data``
    the raw input (used to name tasks by id in locations) and ``line_of`` an optional mapping
    from a location to a 1-based source line (YAML documents).
    """
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        where = format_loc(loc, data)
        line = line_of(loc) if line_of is not None else None
        if line is not None:
            where = f"{where} (line {line})" if where else f"line {line}"
        for message in _messages(error, model):
            problems.append(f"{where}: {message}" if where else message)
    return problems


def _messages(error: ErrorDetails, model: type[BaseModel]) -> list[str]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == PROBLEMS_ERROR_TYPE:
        ctx = error.get("ctx") or {}
        return [str(problem) for problem in ctx.get("problems", ())]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = allowed_keys(model, loc[:-1])
        if allowed is None:
            return [f"unknown key '{key}'; remove it"]
        return [
            f"unknown key '{key}'{did_you_mean(key, allowed)}; "
            f"allowed keys here: {', '.join(allowed)}"
        ]
    if kind == "missing":
        return ["required key is missing; add it"]
    if kind == "timezone_aware":
        return [
            "the date-time needs a UTC offset, e.g. '2024-01-01T00:00:00Z' or "
            "'2024-01-01T00:00:00+02:00'"
        ]
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.endswith("_type") or kind in _SHOW_INPUT:
        message += f", got {_show(error.get('input'))}"
    return [message]


_SHOW_INPUT = frozenset({"literal_error", "enum", "greater_than", "greater_than_equal"})


def _show(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return type(value).__name__
    text = json.dumps(value) if value is None or isinstance(value, bool) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_loc(loc: Loc, data: Any = None) -> str:
    """``tasks[1] (load).http_request.url`` from a pydantic location.

    When ``data`` is the raw document, list items that carry a ``task_id`` are named by it, so
    a problem in a 40-task DAG points at the task a person recognises.
    """
    out = ""
    node = data
    for part in loc:
        if is_union_tag(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("task_id"), str):
                out += f" ({node['task_id']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The field names of the model found at ``loc`` under ``model``, or ``None``."""
    current: list[Any] = [model]
    for part in loc:
        if is_union_tag(part):
            continue
        current = [nxt for tp in current for nxt in _descend(tp, part)]
        if not current:
            return None
    for tp in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return list(tp.model_fields)
    return None


def _flatten(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [inner for arg in typing.get_args(tp) for inner in _flatten(arg)]
    return [tp]


def _descend(tp: Any, part: int | str) -> list[Any]:
    found: list[Any] = []
    for option in _flatten(tp):
        if isinstance(option, type) and issubclass(option, BaseModel):
            field = option.model_fields.get(str(part))
            if field is not None:
                found.extend(_flatten(field.annotation))
            continue
        origin = typing.get_origin(option)
        args = typing.get_args(option)
        if origin in (list, tuple, Sequence) and isinstance(part, int) and args:
            found.extend(_flatten(args[0]))
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            found.extend(_flatten(args[1]))
    return found
