"""One task of a compiled DAG (``dag.json`` ``tasks[]``).

The rules that depend on the task ``type`` live here, in one table: each type says which
fields it requires and which it refuses. A field a type cannot honour (``execution_mode`` on a
python task, ``entrypoint`` on an ``empty`` task) is an error, never silently ignored: the
artifact must mean exactly what it says.
"""

from __future__ import annotations

import keyword
from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from leoflow.spec.errors import PROBLEMS_ERROR_TYPE
from leoflow.spec.fields import (
    MIN_ONE_ITEM,
    Count,
    EnvName,
    PositiveSeconds,
    PyIdentifier,
    Seconds,
    SpecModel,
    StrictBool,
    TaskId,
    non_empty,
)
from leoflow.spec.kubernetes import Execution, Resources
from leoflow.spec.xcom import JsonSchema, XcomPull, XcomUpstreams, pull_of, schema_allows

RESERVED_ENV_PREFIX = "LEOFLOW_"
"""Environment names the agent sets for the runtime (DESIGN §5); tasks may not override them."""


class TaskType(StrEnum):
    """What a task runs."""

    PYTHON = "python"
    """A Python callable named by ``entrypoint`` (``module:callable``)."""
    BASH = "bash"
    """A shell command: ``entrypoint`` is its text, or ``command_callable`` computes it."""
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


def _check_exit_codes(codes: tuple[int, ...]) -> tuple[int, ...]:
    bad = [code for code in codes if not 0 <= code <= 255]
    if bad:
        raise ValueError(f"exit codes must be within 0-255, got {bad}")
    if len(set(codes)) != len(codes):
        raise ValueError("skip_on_exit_code lists a code twice; list each code once")
    return codes


def _check_cwd(cwd: str) -> str:
    if not cwd.strip() or "\0" in cwd:
        raise ValueError("cwd must be a folder path; remove cwd to use the default working folder")
    return cwd


TaskEnv = Annotated[dict[EnvName, str], AfterValidator(_check_env)]
"""Extra environment variables of a task; ``LEOFLOW_*`` names are reserved."""

XcomSchema = JsonSchema
"""A JSON Schema object that a task's return value must satisfy before it is stored."""

SkipExitCodes = Annotated[
    tuple[Annotated[int, Field(strict=True)], ...], AfterValidator(_check_exit_codes)
]
"""Exit codes of a bash command that end the task ``skipped`` instead of ``failed``."""

BASH_DEFAULT_SKIP_EXIT_CODES = (99,)
"""What an unset ``skip_on_exit_code`` means for a bash task (BashOperator's default)."""

_ALWAYS_ALLOWED = frozenset({"task_id", "type", "depends_on", "trigger_rule", "doc_md"})
_IN_OWN_PROCESS = "tasks run in their own pod or process"
_NOT_ALLOWED: dict[TaskType, dict[str, str]] = {
    TaskType.PYTHON: {
        "http_request": "http_request is only for http_api tasks",
        "execution_mode": f"execution_mode is only for http_api tasks (python {_IN_OWN_PROCESS})",
        "command_callable": "command_callable is only for bash tasks (@task.bash); a python "
        "task names its callable in entrypoint",
        "cwd": "cwd is only for bash tasks",
        "append_env": "append_env is only for bash tasks (a python task's env is always added "
        "to the inherited environment)",
        "skip_on_exit_code": "skip_on_exit_code is only for bash tasks",
    },
    TaskType.BASH: {
        "http_request": "http_request is only for http_api tasks",
        "execution_mode": f"execution_mode is only for http_api tasks (bash {_IN_OWN_PROCESS})",
        "multiple_outputs": "multiple_outputs is only for python tasks (a bash task pushes one "
        "string, the last line it prints)",
    },
    TaskType.HTTP_API: {
        "entrypoint": "an http_api task runs no code; describe the call in http_request",
        "command_callable": "an http_api task runs no code; describe the call in http_request",
        "call_args": "call_args binds Python call arguments; an http_api task has none",
        "xcom_input": "http_api tasks cannot receive XCom inputs yet",
        "multiple_outputs": "multiple_outputs is only for python tasks",
        "cwd": "cwd is only for bash tasks",
        "append_env": "append_env is only for bash tasks",
        "skip_on_exit_code": "skip_on_exit_code is only for bash tasks",
    },
}
_INLINE_NOT_ALLOWED = {
    "env": "an inline http_api task runs inside the control plane and has no environment",
    "resources": "an inline http_api task runs inside the control plane and has no pod",
    "execution": "an inline http_api task runs inside the control plane and has no pod",
}


def _valid_entrypoint(text: str) -> bool:
    module, sep, attr = text.partition(":")
    if not sep:
        return False
    parts = [*module.split("."), *attr.split(".")]
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)


class TaskSpec(SpecModel):
    """One task: what it runs, what it waits for, and how it is retried and placed.

    ``retries``, ``retry_delay_seconds``, ``retry_exponential_backoff`` and
    ``execution_timeout_seconds`` left unset fall back to the DAG's ``default_args`` and then to
    the platform defaults at dispatch (ADR 0017). ``xcom_input`` binds a parameter to XComs of
    upstream tasks: a one-element list is delivered as a plain value, a longer list as a fan-in
    array in declaration order; an element is an upstream ``task_id`` (its return value) or
    ``{"task_id", "key"}`` (one keyed XCom of a ``multiple_outputs`` task). Every upstream named
    there must also be listed in ``depends_on``. ``docs/dag-json.md`` describes every field.
    """

    task_id: TaskId
    type: TaskType
    depends_on: tuple[TaskId, ...] = ()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retries: Count | None = None
    retry_delay_seconds: Seconds | None = None
    retry_exponential_backoff: StrictBool | None = None
    execution_timeout_seconds: PositiveSeconds | None = None
    execution_mode: ExecutionMode | None = Field(
        default=None, description="http_api only; unset = the platform's default"
    )
    entrypoint: str | None = Field(
        default=None, description="python: 'module:callable'; bash: the command (a template)"
    )
    command_callable: str | None = Field(
        default=None,
        description="bash only, instead of entrypoint: 'module:callable' returning the command",
    )
    http_request: HttpRequest | None = None
    cwd: Annotated[str, AfterValidator(_check_cwd)] | None = Field(
        default=None, description="bash only: the folder the command runs in"
    )
    env: TaskEnv = Field(default_factory=dict)
    append_env: StrictBool = Field(
        default=True,
        description="bash only: false = the command gets only env and Leoflow's variables",
    )
    skip_on_exit_code: SkipExitCodes | None = Field(
        default=None, description="bash only: exit codes that mean skipped; unset = [99]"
    )
    resources: Resources | None = None
    execution: Execution | None = None
    xcom_input: dict[PyIdentifier, XcomUpstreams] = Field(default_factory=dict)
    call_args: dict[PyIdentifier, JsonValue] = Field(default_factory=dict)
    multiple_outputs: StrictBool = Field(
        default=False,
        description="python only: the returned dict is also pushed key by key",
    )
    xcom_schema: XcomSchema | None = None
    doc_md: str | None = Field(default=None, description="Markdown documentation for the UI")

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

    def _is_set(self, name: str) -> bool:
        default = type(self).model_fields[name].get_default(call_default_factory=True)
        return bool(getattr(self, name) != default)

    def _type_problems(self) -> list[str]:
        if self.type is TaskType.EMPTY:
            return [
                f"{name} is not allowed on an empty task (the scheduler completes it without "
                "running anything); remove it"
                for name in type(self).model_fields
                if name not in _ALWAYS_ALLOWED and self._is_set(name)
            ]
        refused = dict(_NOT_ALLOWED[self.type])
        if self.type is TaskType.HTTP_API and self.execution_mode is ExecutionMode.INLINE:
            refused.update(_INLINE_NOT_ALLOWED)
        if self.type is TaskType.BASH and self.command_callable is None:
            refused["call_args"] = (
                "call_args binds the arguments of command_callable; a bash task with a fixed "
                "command in entrypoint has none"
            )
        problems = [
            f"{reason}; remove {name}" for name, reason in refused.items() if self._is_set(name)
        ]
        problems.extend(self._required_problems())
        return problems

    def _required_problems(self) -> list[str]:
        if self.type is TaskType.PYTHON:
            return self._python_problems()
        if self.type is TaskType.BASH:
            return self._bash_problems()
        if self.type is TaskType.HTTP_API and self.http_request is None:
            return ["an http_api task needs http_request {method, url, ...}; add it"]
        return []

    def _python_problems(self) -> list[str]:
        problems: list[str] = []
        if self.entrypoint is None or not _valid_entrypoint(self.entrypoint):
            problems.append(
                f"entrypoint {self.entrypoint!r} is not 'module:callable'; a python task "
                "needs an entrypoint like 'my_pkg.etl:extract' (dotted module, colon, "
                "dotted callable)"
            )
        if (
            self.multiple_outputs
            and self.xcom_schema is not None
            and not schema_allows(self.xcom_schema, "object")
        ):
            problems.append(
                "xcom_schema does not allow an object, but with multiple_outputs the task "
                "returns a dict; allow type 'object' or set multiple_outputs to false"
            )
        return problems

    def _bash_problems(self) -> list[str]:
        if self.command_callable is not None:
            if self.entrypoint is not None:
                return [
                    "entrypoint and command_callable are mutually exclusive (entrypoint is a "
                    "fixed command, command_callable computes it at run time); keep one"
                ]
            if not _valid_entrypoint(self.command_callable):
                return [
                    f"command_callable {self.command_callable!r} is not 'module:callable'; "
                    "name the function that returns the command, like 'my_pkg.cmds:build'"
                ]
            return []
        if self.entrypoint is None or not self.entrypoint.strip():
            return [
                "a bash task needs the command to run in entrypoint (or command_callable "
                "'module:callable' naming a function that returns it)"
            ]
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
        for param, pulls in self.xcom_pulls().items():
            if len(set(pulls)) != len(pulls):
                problems.append(
                    f"xcom_input '{param}' reads the same XCom twice; list each upstream "
                    "(or task_id and key) once"
                )
            if param in self.call_args:
                problems.append(
                    f"parameter '{param}' is bound by both xcom_input and call_args; keep one"
                )
        return problems

    def xcom_pulls(self) -> dict[str, tuple[XcomPull, ...]]:
        """Per bound parameter, the XComs to fetch (task_id and key), in declaration order."""
        return {
            param: tuple(pull_of(source) for source in sources)
            for param, sources in self.xcom_input.items()
        }

    @property
    def effective_skip_on_exit_code(self) -> tuple[int, ...]:
        """Exit codes that end a bash task ``skipped`` (unset means BashOperator's ``[99]``)."""
        if self.type is not TaskType.BASH:
            return ()
        if self.skip_on_exit_code is None:
            return BASH_DEFAULT_SKIP_EXIT_CODES
        return self.skip_on_exit_code
