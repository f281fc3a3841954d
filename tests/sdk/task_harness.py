"""Helpers for SDK tests: compile a DAG, build the TaskSpec a server would send, run the
runtime or the agent as real processes.

``task_spec_for`` does what the control plane does at dispatch (the task's ``dag.json`` entry
as ``task_json``, run context, keyed XCom refs); it stands in for ``leoflow.agentapi`` here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from leoflow.compiler import compile_project
from leoflow.spec.dag_spec import DagSpec
from leoflow_sdk.agent import settings as agent_settings
from leoflow_sdk.agent.inputs import xcom_sources
from leoflow_sdk.agent.workdir import WorkDir, runtime_spec, task_environment, with_dag_source
from leoflow_sdk.protocol import agent_pb2

LOGICAL_DATE = dt.datetime(2024, 3, 5, 6, 0, tzinfo=dt.UTC)
RUN_ID = "scheduled__2024-03-05T06:00:00+00:00"

_TYPES = {
    "python": agent_pb2.TASK_TYPE_PYTHON,
    "bash": agent_pb2.TASK_TYPE_BASH,
    "http_api": agent_pb2.TASK_TYPE_HTTP_API,
    "empty": agent_pb2.TASK_TYPE_EMPTY,
}


def write_project(folder: Path, source: str, name: str = "dag.py") -> Path:
    """A project folder with the dedented DAG file; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def compile_dag(folder: Path) -> DagSpec:
    """The compiled ``dag.json`` of the project."""
    return compile_project(folder).spec


def _stamp(value: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def task_key(dag: DagSpec, task_id: str, try_number: int = 1) -> agent_pb2.TaskInstanceKey:
    """The identity the stand-in hands out at Register."""
    return agent_pb2.TaskInstanceKey(
        tenant="default",
        dag_id=dag.dag_id,
        run_id=RUN_ID,
        task_id=task_id,
        map_index=-1,
        try_number=try_number,
    )


def task_spec_for(
    dag: DagSpec,
    task_id: str,
    *,
    params: dict[str, Any] | None = None,
    conf: dict[str, Any] | None = None,
    logical_date: dt.datetime | None = LOGICAL_DATE,
    timeout_seconds: float = 0,
    include_source: bool = True,
    staging_dir: str = "",
) -> agent_pb2.TaskSpec:
    """The TaskSpec a control plane would send for ``task_id`` (see the module docstring)."""
    task = next(t for t in dag.tasks if t.task_id == task_id)
    bindings = {
        param: agent_pb2.XComInputBinding(
            upstream_task_ids=[p.task_id for p in pulls if p.key == "return_value"],
            refs=[
                agent_pb2.XComRef(task_id=p.task_id, key="" if p.key == "return_value" else p.key)
                for p in pulls
            ],
        )
        for param, pulls in task.xcom_pulls().items()
    }
    spec = agent_pb2.TaskSpec(
        task_type=_TYPES[task.type.value],
        entrypoint=task.entrypoint or "",
        env=task.env,
        call_args_json=json.dumps(task.call_args),
        xcom_input=bindings,
        execution_timeout_seconds=timeout_seconds or task.execution_timeout_seconds or 0,
        params_json=json.dumps({**dag.params, **(params or {})}),
        dag_source=dag.source if include_source else "",
        dag_file_path=f"{dag.source_module}.py" if dag.source_module else "dag.yaml",
        dag_module=dag.source_module or "",
        staging_dir=staging_dir,
        task_json=task.model_dump_json(exclude_none=True),
        dag_id=dag.dag_id,
        run_id=RUN_ID,
        conf_json=json.dumps(conf or {}),
        run_type="scheduled",
        try_number=1,
        max_tries=(task.retries or 0) + 1,
    )
    if logical_date is not None:
        spec.logical_date.CopyFrom(_stamp(logical_date))
        spec.data_interval_start.CopyFrom(_stamp(logical_date))
        spec.data_interval_end.CopyFrom(_stamp(logical_date + dt.timedelta(days=1)))
    return spec


@dataclass
class RuntimeRun:
    """A finished runtime process and what it left in its work folder."""

    returncode: int
    stdout: str
    stderr: str
    outcome: dict[str, Any] | None
    return_value: Any
    has_return_value: bool
    pushed: list[tuple[str, Any]]

    @property
    def output(self) -> str:
        """stdout and stderr together (what would reach the task log)."""
        return self.stdout + self.stderr


def run_runtime(
    dag: DagSpec,
    task_id: str,
    project: Path,
    work_root: Path,
    *,
    xcoms: dict[tuple[str, str], Any] | None = None,
    variables: dict[str, str] | None = None,
    connections: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    **spec_options: Any,
) -> RuntimeRun:
    """Run ``python -m leoflow_sdk.runtime`` for one task, prepared as the agent prepares it
    (same work folder, spec file and environment code), without an agent or a server."""
    spec = task_spec_for(dag, task_id, **spec_options)
    key = task_key(dag, task_id)
    task = json.loads(spec.task_json)
    bindings = xcom_sources(spec)
    work = WorkDir.create(str(work_root), key)
    runtime = runtime_spec(
        spec, key=key, task=task, bindings=bindings, work=work, dag_dir=str(project)
    )
    runtime = with_dag_source(runtime, spec, work)
    work.write_spec(runtime)
    stored = xcoms or {}
    texts: dict[str, str] = {}
    for param, sources in bindings.items():
        parts = [
            json.dumps(stored[(s.task_id, s.key)], separators=(",", ":"))
            if (s.task_id, s.key) in stored
            else "null"
            for s in sources
        ]
        texts[param] = parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"
    secrets_env = {f"AIRFLOW_VAR_{k.upper()}": v for k, v in (variables or {}).items()}
    secrets_env.update({f"AIRFLOW_CONN_{k.upper()}": v for k, v in (connections or {}).items()})
    base = {**os.environ, **(extra_env or {})}
    env = task_environment(
        base,
        task=task,
        context=runtime.run,
        spec=spec,
        work=work,
        xcom_env=work.place_xcom_inputs(texts),
        secrets_env=secrets_env,
        secrets_notice=None,
        dag_dir=str(project),
    )
    done = subprocess.run(
        [sys.executable, "-m", "leoflow_sdk.runtime"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    raw = work.read_return_value()
    return RuntimeRun(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        outcome=work.read_outcome(),
        return_value=json.loads(raw) if raw is not None else None,
        has_return_value=raw is not None,
        pushed=[(k, json.loads(v)) for k, v in work.pushed_xcoms()],
    )


@dataclass
class AgentRun:
    """A finished agent process."""

    returncode: int
    stdout: str
    stderr: str


def agent_env(address: str, dag_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment an executor would give the agent (plaintext, short deadlines)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEOFLOW_", "AIRFLOW_"))
    }
    env.update(
        {
            agent_settings.ADDRESS: address,
            agent_settings.TOKEN: "standin.token.value-7f3a",
            agent_settings.INSECURE: "true",
            agent_settings.DAG_DIR: str(dag_dir),
            agent_settings.KILL_GRACE: "2",
            agent_settings.RETRY_DEADLINE: "30",
            agent_settings.RPC_TIMEOUT: "2",
        }
    )
    env.update(overrides)
    return env


async def start_agent(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """``python -m leoflow_sdk.agent`` as a real child process."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leoflow_sdk.agent",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish_agent(process: asyncio.subprocess.Process, timeout: float = 60) -> AgentRun:
    """Wait for the agent to exit and collect its own output."""
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return AgentRun(process.returncode, stdout.decode(), stderr.decode())
