"""``leoflow.yaml``: how a DAG is built and which defaults and overrides its tasks get.

The file sits next to the DAG source. Its ``defaults`` and ``tasks`` overrides are baked into
``dag.json`` at compile time with the precedence *task override > DAG default > platform
default* (ADR 0017); the platform defaults are never written into the artifact. A key written
twice, an unknown key and an override for a task the DAG does not have are all compile errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic.json_schema import WithJsonSchema

from leoflow.spec.errors import (
    SpecError,
    did_you_mean,
    list_choices,
    looks_like_a_path,
    problems_from_validation_error,
)
from leoflow.spec.fields import (
    Count,
    DagId,
    EnvName,
    ImageRef,
    PositiveInt,
    PositiveSeconds,
    RelativePath,
    Repository,
    Seconds,
    SpecModel,
    StrictBool,
    TaskId,
)
from leoflow.spec.kubernetes import Execution, Resources, Staging
from leoflow.spec.task_spec import ExecutionMode, TaskEnv, TriggerRule, XcomSchema
from leoflow.spec.yaml_loader import load_yaml_document

DOCUMENT = "leoflow.yaml"
MIN_PYTHON_MINOR = 11
PYTHON_VERSION_PATTERN = r"^3\.[0-9]{1,2}$"
SYSTEM_PACKAGE_PATTERN = r"^[a-z0-9][a-z0-9+.-]*(?:=[A-Za-z0-9.+~:-]+)?$"


def _python_version(value: Any) -> Any:
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(
            f'python_version must be a quoted string like "3.11", got the number {value!r} '
            "(YAML reads an unquoted 3.10 as 3.1); add quotes"
        )
    if isinstance(value, str):
        if not re.fullmatch(PYTHON_VERSION_PATTERN, value):
            raise ValueError(f"python_version {value!r} is invalid: use 'MAJOR.MINOR' like '3.12'")
        if int(value.split(".")[1]) < MIN_PYTHON_MINOR:
            raise ValueError(
                f"python_version {value!r} is too old: leoflow-sdk needs "
                f"3.{MIN_PYTHON_MINOR} or newer"
            )
    return value


def _check_requirement(spec: str) -> str:
    text = spec.strip()
    if not text or "\n" in spec:
        raise ValueError(f"dependency {spec!r} must be one pip requirement on one line")
    if text.startswith("-"):
        raise ValueError(
            f"dependency {spec!r} is a pip option, not a requirement; list requirements such as "
            "'pandas>=2.2' only"
        )
    return spec


def _check_system_package(name: str) -> str:
    if not re.fullmatch(SYSTEM_PACKAGE_PATTERN, name):
        raise ValueError(
            f"system package {name!r} is invalid: use a distribution package name like "
            "'libpq5', optionally pinned as 'libpq5=15.4-0+deb12u1'"
        )
    return name


PythonVersion = Annotated[
    str,
    BeforeValidator(_python_version),
    WithJsonSchema({"type": "string", "pattern": PYTHON_VERSION_PATTERN}),
]
Requirement = Annotated[str, AfterValidator(_check_requirement)]
SystemPackage = Annotated[
    str,
    AfterValidator(_check_system_package),
    WithJsonSchema({"type": "string", "pattern": SYSTEM_PACKAGE_PATTERN}),
]


class BuildConfig(SpecModel):
    """How the DAG image is built (Pro); unset fields use the compiler's generated Dockerfile.

    ``builder`` names the container CLI (``docker``, ``podman`` or ``buildah``); unset means
    the first one found. ``args`` are passed as ``--build-arg NAME=value``.
    """

    dockerfile: RelativePath | None = None
    context: RelativePath = "."
    builder: Literal["docker", "podman", "buildah"] | None = None
    args: dict[EnvName, str] = Field(default_factory=dict)


class Defaults(SpecModel):
    """DAG-wide task defaults; ``resources`` is applied to every task that sets none.

    The retry and timeout values replace the DAG code's ``default_args`` of the same name.
    """

    retries: Count | None = None
    retry_delay_seconds: Seconds | None = None
    retry_exponential_backoff: StrictBool | None = None
    execution_timeout_seconds: PositiveSeconds | None = None
    resources: Resources | None = None


class TaskOverride(SpecModel):
    """Settings that replace what the DAG code says for one task (the highest precedence)."""

    retries: Count | None = None
    retry_delay_seconds: Seconds | None = None
    retry_exponential_backoff: StrictBool | None = None
    execution_timeout_seconds: PositiveSeconds | None = None
    trigger_rule: TriggerRule | None = None
    execution_mode: ExecutionMode | None = None
    env: TaskEnv | None = None
    resources: Resources | None = None
    execution: Execution | None = None
    xcom_schema: XcomSchema | None = None


class LeoflowYaml(SpecModel):
    """The ``leoflow.yaml`` of one DAG project: identity, build inputs, defaults, overrides."""

    dag_id: DagId
    description: str | None = None
    owner: str | None = None
    tags: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    python_version: PythonVersion | None = None
    dependencies: tuple[Requirement, ...] = ()
    system_packages: tuple[SystemPackage, ...] = ()
    dag_source: RelativePath = "dag.py"
    base_image: ImageRef | None = None
    build: BuildConfig | None = None
    registry: Repository | None = None
    defaults: Defaults | None = None
    staging: Staging | None = None
    xcom_ttl_seconds: PositiveInt | None = None
    tasks: dict[TaskId, TaskOverride] = Field(default_factory=dict)


def load_leoflow_yaml(path_or_text: str | os.PathLike[str]) -> LeoflowYaml:
    """Load and validate a ``leoflow.yaml``: a path (``os.PathLike``) is read, a ``str`` parsed.

    Duplicate keys, YAML syntax errors and model errors all raise ``SpecError``, with one line
    per problem giving its location and source line.
    """
    source: str | None = None
    if isinstance(path_or_text, os.PathLike):
        path = Path(path_or_text)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SpecError(
                [f"cannot read the file: {reason}"], document=DOCUMENT, source=source
            ) from None
    else:
        text = path_or_text
    doc = load_yaml_document(text, document=DOCUMENT, source=source)
    if not isinstance(doc.data, dict):
        kind = "an empty document" if doc.data is None else type(doc.data).__name__
        hint = ""
        if source is None and looks_like_a_path(text, (".yaml", ".yml")):
            hint = "; to read a file, pass a pathlib.Path instead of a str"
        raise SpecError(
            [f"the top level must be a mapping with at least dag_id, got {kind}{hint}"],
            document=DOCUMENT,
            source=source,
        )
    try:
        return LeoflowYaml.model_validate(doc.data)
    except ValidationError as exc:
        problems = problems_from_validation_error(
            exc, model=LeoflowYaml, data=doc.data, line_of=doc.line_of
        )
        raise SpecError(problems, document=DOCUMENT, source=source) from None


def check_task_overrides(project: LeoflowYaml, task_ids: Iterable[str]) -> None:
    """Refuse ``tasks:`` overrides that name a task the DAG does not define.

    Raises ``SpecError`` with one problem per unknown id, each listing the DAG's real ids.
    """
    known = list(task_ids)
    known_set = set(known)
    problems = [
        f"tasks: '{task_id}' is not a task of DAG '{project.dag_id}'"
        f"{did_you_mean(task_id, known)}; the DAG's task ids are: {list_choices(known)} "
        "(fix the key or remove the override)"
        for task_id in project.tasks
        if task_id not in known_set
    ]
    if problems:
        raise SpecError(problems, document=DOCUMENT)
