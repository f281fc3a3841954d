"""Airflow 3.3.2's public REST contract (``v2-rest-api-generated.yaml``) and realistic data for
the resource routes: compiled DAG specs, runs the way the scheduler starts them, task instances
moved through their real state machine.

The contract is read from the ``apache-airflow-core`` wheel downloaded with ``pip download
--no-deps`` (never installed) and checked against the pinned sha256, once per machine.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import AsyncIterator, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from ruamel.yaml import YAML

from harness.web import UiContract
from leoflow.api.log_reader import FileLogReader
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import transition_dag_run
from leoflow.store.pool import Pool
from leoflow.store.task_instances import (
    TaskInstance,
    create_task_instances,
    list_task_instances,
    transition_task_instance,
)
from leoflow.web.assets import AIRFLOW_UI_VERSION, WHEEL_NAME, download_wheel, verify_wheel

PUBLIC_SPEC_MEMBER = "airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml"
SPEC_ENV = "LEOFLOW_TEST_AIRFLOW_SPEC"


def spec_cache_dir() -> Path:
    """Where the downloaded wheel's public spec is kept between sessions."""
    return Path.home() / ".cache" / "leoflow-tests" / "airflow-core" / AIRFLOW_UI_VERSION


def public_spec_path() -> Path:
    """The public spec YAML, downloaded (and verified) the first time."""
    override = os.environ.get(SPEC_ENV)
    if override:
        return Path(override)
    cache_dir = spec_cache_dir()
    target = cache_dir / "v2-rest-api-generated.yaml"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL_NAME
    if not wheel.is_file():
        wheel = download_wheel(cache_dir)
    verify_wheel(wheel)
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(PUBLIC_SPEC_MEMBER)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    wheel.unlink()
    return target


def _one_of_as_any_of(node: Any) -> Any:
    """The spec with every ``oneOf`` read as ``anyOf``.

    FastAPI writes a union of overlapping models as ``oneOf``: ``ClearTaskInstanceCollection
    Response`` items are ``TaskInstanceResponse`` *or* ``NewTaskResponse``, and every task
    instance matches both, so Airflow's own dry-run answers break the letter of its spec. What
    the spec means is "one of these shapes", which ``anyOf`` checks.
    """
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _one_of_as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_of_as_any_of(item) for item in node]
    return node


@cache
def public_contract() -> UiContract:
    """Airflow 3.3.2's public ``/api/v2`` contract (operations and response schemas)."""
    data = YAML(typ="safe", pure=True).load(public_spec_path().read_text(encoding="utf-8"))
    return UiContract(_one_of_as_any_of(data))


# --- compiled DAGs ----------------------------------------------------------------------------


def bash_spec(
    dag_id: str, edges: dict[str, Sequence[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A valid ``dag.json`` of bash tasks; ``edges`` maps each task to its upstream tasks."""
    graph = (
        edges
        if edges is not None
        else {"extract": [], "transform": ["extract"], "load": ["transform"]}
    )
    return {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "source": f"# the DAG file of {dag_id}\n",
        "source_module": dag_id.replace("-", "_"),
        "tasks": [
            {"task_id": task, "type": "bash", "entrypoint": f"echo {task}", "depends_on": list(up)}
            for task, up in graph.items()
        ],
        **extra,
    }


async def push(
    client: httpx.AsyncClient, headers: dict[str, str], spec: dict[str, Any]
) -> httpx.Response:
    """Register a compiled spec through the API."""
    return await client.post(f"/api/v2/dags/{spec['dag_id']}/versions", json=spec, headers=headers)


async def trigger(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    dag_id: str,
    run_id: str | None = None,
    **body: Any,
) -> dict[str, Any]:
    """Trigger a run through the API (``logical_date`` null unless given)."""
    payload: dict[str, Any] = {"logical_date": None, **body}
    if run_id is not None:
        payload["dag_run_id"] = run_id
    response = await client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- what the scheduler and agents would do -----------------------------------------------


async def start_run(pool: Pool, run_uuid: UUID, task_ids: Iterable[str]) -> list[TaskInstance]:
    """queued → running and its task instances created, as the scheduler starts a run."""
    started = await transition_dag_run(pool, run_uuid, RunState.RUNNING)
    assert started is not None
    return await create_task_instances(pool, run_uuid, list(task_ids))


_PATHS: dict[TaskState, tuple[TaskState, ...]] = {
    TaskState.SCHEDULED: (TaskState.SCHEDULED,),
    TaskState.QUEUED: (TaskState.SCHEDULED, TaskState.QUEUED),
    TaskState.RUNNING: (TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING),
    TaskState.SUCCESS: (
        TaskState.SCHEDULED,
        TaskState.QUEUED,
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ),
    TaskState.FAILED: (TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING, TaskState.FAILED),
    TaskState.UPSTREAM_FAILED: (TaskState.UPSTREAM_FAILED,),
    TaskState.SKIPPED: (TaskState.SKIPPED,),
}


async def drive(pool: Pool, run_uuid: UUID, states: dict[str, TaskState]) -> None:
    """Move task instances of a run (from ``none``) to ``states`` through legal system moves."""
    for ti in await list_task_instances(pool, run_uuid):
        target = states.get(ti.task_id)
        if target is None:
            continue
        for step in _PATHS[target]:
            result = await transition_task_instance(pool, ti.id, step, try_number=ti.try_number)
            assert result.applied, (ti.task_id, step, result)


# --- a client that checks every answer against the contract ----------------------------------


class ContractCheck:
    """Validates answers of ``/api/v2`` operations that Airflow documents as JSON."""

    def __init__(self, contract: UiContract) -> None:
        self.contract = contract
        self.checked: set[tuple[str, str, int]] = set()
        self._templates: list[tuple[int, str, re.Pattern[str], str]] = []
        for path, item in contract.spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$")
            for method in item:
                if method in {"get", "post", "put", "patch", "delete"}:
                    self._templates.append((path.count("{"), method.upper(), pattern, path))
        self._templates.sort(key=lambda entry: entry[0])

    def template(self, method: str, path: str) -> str | None:
        """The documented path template ``method path`` falls under (literals win)."""
        for _, verb, pattern, template in self._templates:
            if verb == method and pattern.match(path):
                return template
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raise unless a documented JSON answer matches its schema."""
        template = self.template(method, path)
        if template is None or "application/json" not in content_type:
            return
        operation = self.contract.spec["paths"][template][method.lower()]
        documented = operation["responses"].get(str(status))
        if documented is None:
            # Airflow itself answers some errors its spec does not list (400 for a bad
            # ``order_by``); they must still have its error shape.
            if status < 400:
                raise AssertionError(f"{method} {template} answered {status}, not documented")
            name = "HTTPValidationError" if status == 422 else "HTTPExceptionResponse"
            self.contract.validate(json.loads(body), self.contract.schema_named(name))
            self.checked.add((method, template, status))
            return
        media = (documented.get("content") or {}).get("application/json")
        if media is None:
            return
        self.contract.validate(json.loads(body), dict(media["schema"]))
        self.checked.add((method, template, status))


@cache
def contract_check() -> ContractCheck:
    """One checker per session (its ``checked`` set accumulates every validated answer)."""
    return ContractCheck(public_contract())


@pytest.fixture
async def client(api_app: FastAPI, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """``api_client``, but every documented JSON answer is validated against Airflow 3.3.2.

    Task logs are read from (and deleted under) this test's own folder, never the real home.
    """
    api_app.state.log_reader = FileLogReader(tmp_path / "logs")
    check = contract_check()

    async def validate(response: httpx.Response) -> None:
        await response.aread()
        check.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
        )

    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [validate]}
    ) as http:
        yield http


@pytest.fixture
async def admin(auth_headers: Any) -> dict[str, str]:
    """Headers of a fresh Admin of the default tenant."""
    headers: dict[str, str] = await auth_headers("Admin")
    return headers
