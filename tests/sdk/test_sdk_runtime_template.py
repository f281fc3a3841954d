"""Runtimes forked from a DAG version's runtime template (``leoflow_sdk.agent.runtime_template``),
handed to agents forked by the fork server, through the executor's own clients
(``leoflow.executors.runtime_templates``, ``leoflow.executors.fork_server``), against the
STAND-IN control plane (a small real grpc.aio servicer in this test process).

Covered: the DAG file is imported once (by the template) and each try still runs in its own
fresh process, where nothing another try changed is seen; a template refuses an import that
depends on the try (per-try variables, a thread left running); an agent whose try's
environment differs from what the import read starts a fresh runtime instead; the runtime's
exit status reaches the agent although the template is its parent; a runtime whose agent died
is killed by ``release()``; a task's SIGTERM stop reaches a template's runtime.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.executors.fork_server import ForkedAgent, ForkServer
from leoflow.executors.runtime_templates import RuntimeTemplate, TemplateError, TemplateKey
from leoflow.spec.dag_spec import DagSpec
from leoflow_sdk.agent import settings as agent_settings
from leoflow_sdk.agent.runtime_template import mismatch, source_digest
from leoflow_sdk.agent.settings import TemplateDescription

from .standin_control_plane import Script, ServedStandIn, StandInControlPlane, wait_for
from .task_harness import agent_env, compile_dag, task_key, task_spec_for, write_project

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="templates are Linux-only")

TASKS = """
import os
import time
from datetime import datetime
from airflow.sdk import dag, task

STATE = []
with open({imports!r}, "a") as log:
    log.write(f"{{os.getpid()}}\\n")
FLAG = os.environ.get("TEMPLATE_TEST_FLAG")

@dag(schedule=None, start_date=datetime(2024, 1, 1))
def templated():
    @task
    def grow():
        STATE.append(os.getpid())
        with open({imports!r}) as log:
            imports = log.read().split()
        return {{"state": STATE, "pid": os.getpid(), "ppid": os.getppid(), "imports": imports,
                "flag": FLAG, "cwd": os.getcwd()}}

    @task
    def crash():
        os._exit(7)

    @task
    def waiter(marker):
        print("waiting", flush=True)
        while not os.path.exists(marker):
            time.sleep(0.05)
        return "done"

    grow()
    crash()
    waiter("/nonexistent")

templated()
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still a process (not reaped yet)."""
    return os.path.exists(f"/proc/{pid}")


@pytest.fixture
def flow(tmp_path: Path) -> tuple[DagSpec, Path, Path]:
    imports = tmp_path / "imports.log"
    project = write_project(tmp_path / "project", TASKS.format(imports=str(imports)))
    return compile_dag(project), project, imports


def _base_environment(dag_dir: Path, **extra: str) -> dict[str, str]:
    env = agent_env("unused", dag_dir)
    return {**{k: v for k, v in env.items() if not k.startswith("LEOFLOW_")}, **extra}


async def _template(
    dag: DagSpec, project: Path, tmp_path: Path, source: str | None = None, **extra: str
) -> RuntimeTemplate:
    text = dag.source if source is None else source
    assert text is not None and dag.source_module
    folder = tmp_path / "template"
    folder.mkdir(exist_ok=True)
    path = folder / f"{dag.source_module}.py"
    path.write_text(text)
    key = TemplateKey("test", source_digest(text), dag.source_module, str(project))
    return RuntimeTemplate(Path(sys.executable), _base_environment(project, **extra), key, path)


@pytest.fixture
async def server(flow: tuple[DagSpec, Path, Path], tmp_path: Path) -> AsyncIterator[ForkServer]:
    forks = ForkServer(Path(sys.executable), _base_environment(flow[1]), tmp_path / "server")
    await forks.start()
    try:
        yield forks
    finally:
        await forks.close()


@pytest.fixture
async def template(
    flow: tuple[DagSpec, Path, Path], tmp_path: Path
) -> AsyncIterator[RuntimeTemplate]:
    warm = await _template(flow[0], flow[1], tmp_path, TEMPLATE_TEST_FLAG="template")
    await warm.start()
    try:
        yield warm
    finally:
        await warm.close(within_seconds=10)


async def _start(
    server: ForkServer,
    template: RuntimeTemplate,
    flow: tuple[DagSpec, Path, Path],
    task_id: str,
    tmp_path: Path,
    *,
    call_args: str | None = None,
    **env: str,
) -> tuple[StandInControlPlane, ServedStandIn, ForkedAgent, Any]:
    dag, project, _ = flow
    spec = task_spec_for(dag, task_id)
    if call_args is not None:
        spec.call_args_json = call_args
    plane = StandInControlPlane(Script(key=task_key(dag, task_id), spec=spec))
    served = ServedStandIn(plane)
    await served.start()
    runtime = await template.spawn()
    overrides = {
        "LEOFLOW_AGENT_WORK_ROOT": str(tmp_path / "work"),
        "TEMPLATE_TEST_FLAG": "template",
        agent_settings.RUNTIME_TEMPLATE: template.description(),
        **env,
    }
    environment = agent_env(served.address, project, **overrides)
    agent = await server.spawn(environment, str(project), runtime=runtime)
    runtime.close_pipes()
    return plane, served, agent, runtime


async def _run(
    server: ForkServer,
    template: RuntimeTemplate,
    flow: tuple[DagSpec, Path, Path],
    task_id: str,
    tmp_path: Path,
    **env: str,
) -> tuple[StandInControlPlane, ForkedAgent, int | None, str]:
    plane, served, agent, runtime = await _start(server, template, flow, task_id, tmp_path, **env)
    try:
        output = await asyncio.wait_for(agent.stdout.read(), 60)
        code = await asyncio.wait_for(agent.wait(), 60)
    finally:
        runtime.release()
        await served.stop()
    return plane, agent, code, output.decode()


async def test_the_dag_is_imported_once_and_every_try_starts_fresh(
    server: ForkServer, template: RuntimeTemplate, flow: Any, tmp_path: Path
) -> None:
    results = []
    for _ in range(3):
        plane, _, code, output = await _run(server, template, flow, "grow", tmp_path)
        assert code == 0, output
        assert plane.states() == ["running", "success"]
        assert "not using the DAG's runtime template" not in plane.log_text()
        results.append(json.loads(plane.pushed["return_value"]))
    # Imported twice in all: by the compiler, then once by the template for every try.
    assert all(r["imports"] == results[0]["imports"] for r in results)
    assert len(results[0]["imports"]) == 2 and results[0]["imports"][1] == str(template.pid)
    for result in results:
        assert result["ppid"] == template.pid  # forked by the template
        assert result["state"] == [result["pid"]]  # no other try's change is seen
        assert result["flag"] == "template"
        assert result["cwd"] == str(flow[1])
    assert len({r["pid"] for r in results}) == 3


async def test_an_agent_whose_try_differs_from_the_import_starts_a_fresh_runtime(
    server: ForkServer, template: RuntimeTemplate, flow: Any, tmp_path: Path
) -> None:
    plane, _, code, output = await _run(
        server, template, flow, "grow", tmp_path, TEMPLATE_TEST_FLAG="this try"
    )
    assert code == 0, output
    assert "not using the DAG's runtime template" in plane.log_text()
    assert "$TEMPLATE_TEST_FLAG" in plane.log_text()
    result = json.loads(plane.pushed["return_value"])
    assert result["flag"] == "this try"  # imported again, with the try's environment
    assert result["ppid"] != template.pid
    assert len(result["imports"]) == 3  # the compiler, the template, and this try


async def test_the_runtime_exit_status_reaches_the_agent(
    server: ForkServer, template: RuntimeTemplate, flow: Any, tmp_path: Path
) -> None:
    plane, _, code, output = await _run(server, template, flow, "crash", tmp_path)
    assert code == 1, output
    assert plane.states() == ["running", "failed"]
    assert "exited with code 7" in plane.final_report().error_message


async def test_sigterm_stops_a_template_runtime(
    server: ForkServer, template: RuntimeTemplate, flow: Any, tmp_path: Path
) -> None:
    marker = json.dumps({"marker": str(tmp_path / "never")})
    plane, served, agent, runtime = await _start(
        server, template, flow, "waiter", tmp_path, call_args=marker
    )
    try:
        await wait_for(lambda: any(line.line == "waiting" for line in plane.lines), 20)
        agent.send_signal(signal.SIGTERM)
        await asyncio.wait_for(agent.stdout.read(), 60)
        code = await asyncio.wait_for(agent.wait(), 60)
    finally:
        runtime.release()
        await served.stop()
    assert code == 1
    assert plane.states() == ["running", "failed"]
    assert "received SIGTERM" in plane.final_report().error_message
    await wait_for(lambda: not _alive(runtime.pid), 10)


async def test_a_runtime_whose_agent_died_is_killed_on_release(
    server: ForkServer, template: RuntimeTemplate, flow: Any, tmp_path: Path
) -> None:
    marker = json.dumps({"marker": str(tmp_path / "never")})
    plane, served, agent, runtime = await _start(
        server, template, flow, "waiter", tmp_path, call_args=marker
    )
    try:
        await wait_for(lambda: any(line.line == "waiting" for line in plane.lines), 20)
        agent.send_signal(signal.SIGKILL)
        await asyncio.wait_for(agent.wait(), 30)
        assert _alive(runtime.pid)  # not its agent's child: still running
        runtime.release()  # what the executor does when an agent ends
        await wait_for(lambda: not _alive(runtime.pid), 10)
    finally:
        runtime.release()
        await served.stop()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('X = os.environ.get("AIRFLOW_VAR_THRESHOLD")', "$AIRFLOW_VAR_THRESHOLD"),
        ("X = dict(os.environ)", "reads the whole environment"),
        ('os.environ["MADE_AT_IMPORT"] = "1"', "sets $MADE_AT_IMPORT"),
        ("threading.Thread(target=time.sleep, args=(30,), daemon=True).start()", "thread"),
        ("X = open(__file__)", "open"),
    ],
)
async def test_an_import_that_depends_on_the_try_gets_no_template(
    flow: Any, tmp_path: Path, line: str, reason: str
) -> None:
    dag, project, _ = flow
    assert dag.source is not None
    source = f"import os, threading, time\n{line}\n{dag.source}"
    refused = await _template(dag, project, tmp_path, source)
    with pytest.raises(TemplateError, match="its import") as failure:
        await refused.start(within_seconds=60)
    assert reason in str(failure.value)
    assert not refused.ready
    assert refused.refusal == str(failure.value)
    await refused.close(within_seconds=5)


def test_an_agent_uses_a_template_runtime_only_for_the_try_it_fits() -> None:
    source = "print('dag')\n"
    described = TemplateDescription("dag", source_digest(source), {"HOME": "/h", "UNSET": None})
    fits: dict[str, Any] = {
        "task_type": "python",
        "task_env": {},
        "module": "dag",
        "source": source,
        "env": {"HOME": "/h", "OTHER": "x"},
    }
    assert mismatch(described, **fits) is None
    changes: list[tuple[dict[str, Any], str]] = [
        ({"task_type": "bash"}, "a bash task"),
        ({"task_env": {"OMP_NUM_THREADS": "1"}}, "its own environment"),
        ({"module": "other"}, "the DAG module is 'other'"),
        ({"source": source + "# edited\n"}, "another version of the DAG file"),
        ({"env": {"HOME": "/elsewhere"}}, "reads $HOME at import"),
        ({"env": {"HOME": "/h", "UNSET": "now set"}}, "reads $UNSET at import"),
    ]
    for change, reason in changes:
        problem = mismatch(described, **{**fits, **change})
        assert problem is not None and reason in problem, change
    assert mismatch(None, **fits) is not None
