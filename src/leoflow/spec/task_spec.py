"""One task of a compiled DAG (``dag.json`` ``tasks[]``).

The rules that depend on the task ``type`` live here, in one table: each type says which
fields it requires and which it refuses. A field a type cannot honour (``execution_mode`` on a
python task, ``entrypoint`` on an ``empty`` task) is an error, never silently ignored: the
artifact must mean exactly what it says.
"""

from __future__ import annotations

import keyword
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from leoflow.spec.errors import PROBLEMS_ERROR_TYPE
from leoflow.spec.fields import (
    MIN_ONE_ITEM,
    Count,
    EnvName,
    JsonObject,
    PositiveSeconds,
    PyIdentifier,
    Seconds,
    SpecModel,
    TaskId,
    non_empty,
)
from leoflow.spec.kubernetes import Execution, Resources

RESERVED_ENV_PREFIX = "LEOFLOW_"
"""Environment names the agent sets for the runtime (DESIGN §5); tasks may not override them."""


class TaskType(StrEnum):
    """What a task runs."""

    PYTHON = "python"
    """A Python callable named by ``entrypoint`` (``module:callable``)."""
    BASH = "bash"
    """A shell command (``entrypoint`` is the command text)."""
    HTTP_API = "http_api"
    """One HTTP request described by ``http_request``."""
    EMPTY = "empty"
    """Nothing: the scheduler completes it without dispatching anything."""


class TriggerRule(StrEnum):
    """When a task may run given the states of its direct upstream tasks (Airflow's rules)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


class ExecutionMode(StrEnum):
    """Where an ``http_api`` task runs: inside the control plane, or in its own pod/process."""

    INLINE = "inline"
    POD = "pod"


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url {url!r} must be an absolute http:// or https:// URL")
    return url


def _check_header_name(name: str) -> str:
    allowed = set("!#$%&'*+-.^_`|~")
    if not name or not all(c.isascii() and (c.isalnum() or c in allowed) for c in name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    return name


def _check_status_codes(codes: tuple[int, ...]) -> tuple[int, ...]:
    bad = [code for code in codes if not 100 <= code <= 599]
    if bad:
        raise ValueError(f"HTTP status codes must be within 100-599, got {bad}")
    if len(set(codes)) != len(codes):
        raise ValueError("success_status_codes lists a code twice; list each code once")
    return codes


class HttpRequest(SpecModel):
    """The request an ``http_api`` task makes; the task succeeds on a listed status code.

    ``body`` is sent as-is when it is a string and JSON-encoded otherwise.
    ``success_status_codes`` unset means any 2xx; ``timeout_seconds`` unset means the
    platform default.
    """

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: Annotated[str, AfterValidator(_check_url)]
    headers: dict[Annotated[str, AfterValidator(_check_header_name)], str] = Field(
        default_factory=dict
    )
    body: JsonValue = None
    timeout_seconds: PositiveSeconds | None = None
    success_status_codes: (
        Annotated[
            tuple[Annotated[int, Field(strict=True)], ...],
            non_empty("success_status_codes must list at least one code (or be left unset)"),
            MIN_ONE_ITEM,
            AfterValidator(_check_status_codes),
        ]
        | None
    ) = None


def _check_env(env: dict[str, str]) -> dict[str, str]:
    reserved = sorted(name for name in env if name.upper().startswith(RESERVED_ENV_PREFIX))
    if reserved:
        raise ValueError(
            f"env {', '.join(reserved)}: names starting with {RESERVED_ENV_PREFIX} are set by "
            "Leoflow for the task runtime; rename the variable"
        )
    return env


def _check_xcom_schema(schema: dict[str, JsonValue]) -> dict[str, JsonValue]:
    types = {"null", "boolean", "object", "array", "number", "string", "integer"}
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    if "type" in schema and not all(isinstance(n, str) and n in types for n in names):
        raise ValueError(
            f"xcom_schema 'type' {declared!r} is not a JSON Schema type; use one or a list of "
            f"{', '.join(sorted(types))}"
        )
    return schema


TaskEnv = Annotated[dict[EnvName, str], AfterValidator(_check_env)]
"""Extra environment variables of a task; ``LEOFLOW_*`` names are reserved."""

XcomSchema = Annotated[JsonObject, AfterValidator(_check_xcom_schema)]
"""A JSON Schema object that a task's return value must satisfy before it is stored."""

XcomUpstreams = Annotated[
    tuple[TaskId, ...],
    non_empty("an xcom_input parameter must name at least one upstream task_id"),
    MIN_ONE_ITEM,
]

_ALWAYS_ALLOWED = frozenset({"task_id", "type", "depends_on", "trigger_rule"})
_NOT_ALLOWED: dict[TaskType, dict[str, str]] = {
    TaskType.PYTHON: {
        "http_request": "http_request is only for http_api tasks",
        "execution_mode": "execution_mode is only for http_api tasks (python tasks run in "
        "their own pod or process)",
    },
    TaskType.BASH: {
        "http_request": "http_request is only for http_api tasks",
        "execution_mode": "execution_mode is only for http_api tasks (bash tasks run in "
        "their own pod or process)",
        "call_args": "call_args binds Python call arguments; a bash task has none",
    },
    TaskType.HTTP_API: {
        "entrypoint": "an http_api task runs no code; describe the call in http_request",
        "call_args": "call_args binds Python call arguments; an http_api task has none",
        "xcom_input": "http_api tasks cannot receive XCom inputs yet",
    },
}
_INLINE_NOT_ALLOWED = {
    "env": "an inline http_api task runs inside the control plane and has no environment",
    "resources": "an inline http_api task runs inside the control plane and has no pod",
    "execution": "an inline http_api task runs inside the control plane and has no pod",
}


def _is_set(value: Any) -> bool:
    return value is not None and value not in ({}, ())


def _valid_entrypoint(text: str) -> bool:
    module, sep, attr = text.partition(":")
    if not sep:
        return False
    parts = [*module.split("."), *attr.split(".")]
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)


class TaskSpec(SpecModel):
    """One task: what it runs, what it waits for, and how it is retried and placed.

    ``retries``, ``retry_delay_seconds`` and ``execution_timeout_seconds`` left unset fall back
    to the DAG's ``default_args`` and then to the platform defaults at dispatch (ADR 0017).
    ``xcom_input`` binds a parameter to the return value of upstream tasks: a one-element list
    is delivered as a plain value, a longer list as a fan-in array in declaration order. Every
    upstream named there must also be listed in ``depends_on``.
    """

    task_id: TaskId
    type: TaskType
    depends_on: tuple[TaskId, ...] = ()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retries: Count | None = None
    retry_delay_seconds: Seconds | None = None
    execution_timeout_seconds: PositiveSeconds | None = None
    execution_mode: ExecutionMode | None = Field(
        default=None, description="http_api only; unset = the platform's default"
    )
    entrypoint: str | None = Field(
        default=None, description="python: 'module:callable'; bash: the command"
    )
    http_request: HttpRequest | None = None
    env: TaskEnv = Field(default_factory=dict)
    resources: Resources | None = None
    execution: Execution | None = None
    xcom_input: dict[PyIdentifier, XcomUpstreams] = Field(default_factory=dict)
    call_args: dict[PyIdentifier, JsonValue] = Field(default_factory=dict)
    xcom_schema: XcomSchema | None = None

    @model_validator(mode="after")
    def _check_task(self) -> Self:
        problems = [
            *self._type_problems(),
            *self._dependency_problems(),
            *self._binding_problems(),
        ]
        if problems:
            raise PydanticCustomError(
                PROBLEMS_ERROR_TYPE,
                "{summary}",
                {"summary": "; ".join(problems), "problems": problems},
            )
        return self

    def _type_problems(self) -> list[str]:
        if self.type is TaskType.EMPTY:
            return [
                f"{name} is not allowed on an empty task (the scheduler completes it without "
                "running anything); remove it"
                for name in type(self).model_fields
                if name not in _ALWAYS_ALLOWED and _is_set(getattr(self, name))
            ]
        refused = dict(_NOT_ALLOWED[self.type])
        if self.type is TaskType.HTTP_API and self.execution_mode is ExecutionMode.INLINE:
            refused.update(_INLINE_NOT_ALLOWED)
        problems = [
            f"{reason}; remove {name}"
            for name, reason in refused.items()
            if _is_set(getattr(self, name))
        ]
        problems.extend(self._required_problems())
        return problems

    def _required_problems(self) -> list[str]:
        if self.type is TaskType.PYTHON and (
            self.entrypoint is None or not _valid_entrypoint(self.entrypoint)
        ):
            return [
                f"entrypoint {self.entrypoint!r} is not 'module:callable'; a python task "
                "needs an entrypoint like 'my_pkg.etl:extract' (dotted module, colon, "
                "dotted callable)"
            ]
        if self.type is TaskType.BASH and (self.entrypoint is None or not self.entrypoint.strip()):
            return ["a bash task needs the command to run in entrypoint"]
        if self.type is TaskType.HTTP_API and self.http_request is None:
            return ["an http_api task needs http_request {method, url, ...}; add it"]
        return []

    def _dependency_problems(self) -> list[str]:
        problems: list[str] = []
        if self.task_id in self.depends_on:
            problems.append(f"task '{self.task_id}' depends on itself; remove it from depends_on")
        seen: set[str] = set()
        for upstream in self.depends_on:
            if upstream in seen:
                problems.append(f"depends_on lists '{upstream}' twice; list each upstream once")
            seen.add(upstream)
        return problems

    def _binding_problems(self) -> list[str]:
        problems: list[str] = []
        for param, upstreams in self.xcom_input.items():
            if len(set(upstreams)) != len(upstreams):
                problems.append(
                    f"xcom_input '{param}' lists the same upstream twice; list each task once"
                )
            if param in self.call_args:
                problems.append(
                    f"parameter '{param}' is bound by both xcom_input and call_args; keep one"
                )
        return problems
