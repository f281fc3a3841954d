"""Agents forked from a warm fork server (``leoflow_sdk.agent.fork_server``), asked for through
the executor's client (``leoflow.executors.fork_server``), against the STAND-IN control plane
of ``standin_control_plane`` (a small real grpc.aio servicer in this test process).

Covered: every try gets its own agent and runtime processes; nothing of one try (environment,
token) reaches another or the task; SIGTERM stops a forked agent and its task; interpreter
settings the server cannot honour get a fresh interpreter; agents outlive a stopped server;
a server that cannot start is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.executors.fork_server import ForkedAgent, ForkServer, ForkServerError
from leoflow.spec.dag_spec import DagSpec

from .standin_control_plane import TOKEN, Script, ServedStandIn, StandInControlPlane, wait_for
from .task_harness import agent_env, compile_dag, task_key, task_spec_for, write_project

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork servers are Linux-only")

TASKS = """
import gc
import os
import time
from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2024, 1, 1))
def forks():
    @task
    def identity():
        token = "".join(["standin.token.", "value-7f3a"])  # built here: no container holds it
        with open("/proc/self/environ", "rb") as handle:
            initial = handle.read()
        needles = {token, token.encode()}  # os.environ keeps bytes

        def holds(values):
            return bool(needles & {v for v in values if isinstance(v, (str, bytes))})

        holders = [
            o for o in gc.get_objects()
            if isinstance(o, dict) and holds(o.values())
            or isinstance(o, (list, tuple)) and holds(o)
        ]
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "marker": os.environ.get("FORK_TEST_MARKER"),
            "token_in_memory": [type(o).__name__ for o in holders],
            "token_in_initial_environ": token.encode() in initial,
            "cwd": os.getcwd(),
        }

    @task
    def waiter(marker):
        print("waiting", flush=True)
        while not os.path.exists(marker):
            time.sleep(0.05)
        return "done"

    @task
    def hashing():
        return [os.environ.get("PYTHONHASHSEED"), hash("leoflow")]

    identity()
    waiter("/nonexistent")
    hashing()

forks()
"""


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> tuple[DagSpec, Path]:
    project = write_project(tmp_path_factory.mktemp("forks") / "project", TASKS)
    return compile_dag(project), project


def _base_environment(dag_dir: Path) -> dict[str, str]:
    """What the executor starts a server with: an agent's environment minus its settings."""
    env = agent_env("unused", dag_dir)
    return {k: v for k, v in env.items() if not k.startswith("LEOFLOW_")}


@pytest.fixture
async def server(flow: tuple[DagSpec, Path], tmp_path: Path) -> AsyncIterator[ForkServer]:
    forks = ForkServer(Path(sys.executable), _base_environment(flow[1]), tmp_path / "server")
    await forks.start()
    try:
        yield forks
    finally:
        await forks.close()


def _script(flow: tuple[DagSpec, Path], task_id: str, call_args: str | None = None) -> Script:
    dag, _ = flow
    spec = task_spec_for(dag, task_id)
    if call_args is not None:
        spec.call_args_json = call_args
    return Script(key=task_key(dag, task_id), spec=spec)


async def _serve(script: Script) -> tuple[StandInControlPlane, ServedStandIn]:
    plane = StandInControlPlane(script)
    served = ServedStandIn(plane)
    await served.start()
    return plane, served


async def _finish(agent: ForkedAgent, timeout: float = 60) -> tuple[int | None, str]:
    output = await asyncio.wait_for(agent.stdout.read(), timeout)
    return await asyncio.wait_for(agent.wait(), timeout), output.decode()


async def _run_try(
    server: ForkServer, flow: tuple[DagSpec, Path], task_id: str, tmp_path: Path, **env: str
) -> tuple[StandInControlPlane, ForkedAgent, int | None, str]:
    plane, served = await _serve(_script(flow, task_id))
    try:
        agent_environment = agent_env(
            served.address, flow[1], LEOFLOW_AGENT_WORK_ROOT=str(tmp_path / "work"), **env
        )
        agent = await server.spawn(agent_environment, str(flow[1]))
        code, output = await _finish(agent)
    finally:
        await served.stop()
    return plane, agent, code, output


async def test_each_try_gets_its_own_forked_agent_and_runtime(
    server: ForkServer, flow: Any, tmp_path: Path
) -> None:
    seen = []
    for _ in range(2):
        plane, agent, code, output = await _run_try(server, flow, "identity", tmp_path)
        assert code == 0, output
        assert plane.states() == ["running", "success"]
        task = json.loads(plane.pushed["return_value"])
        assert plane.registrations[0].pid == agent.pid  # the forked child is the agent
        assert task["ppid"] == agent.pid  # and its runtime is a child of that agent
        assert task["cwd"] == str(flow[1])
        seen.append((agent.pid, task["pid"]))
    pids = {pid for pair in seen for pid in pair}
    assert len(pids) == 4 and server.pid not in pids
    assert os.listdir(tmp_path / "work") == []  # each try's work folder is gone


async def test_nothing_of_one_try_reaches_another_or_the_task(
    server: ForkServer, flow: Any, tmp_path: Path
) -> None:
    plane, _, code, output = await _run_try(
        server, flow, "identity", tmp_path, FORK_TEST_MARKER="first"
    )
    assert code == 0, output
    first = json.loads(plane.pushed["return_value"])
    plane, _, code, output = await _run_try(server, flow, "identity", tmp_path)
    assert code == 0, output
    second = json.loads(plane.pushed["return_value"])
    assert first["marker"] == "first" and second["marker"] is None
    for task in (first, second):
        # The token came after the fork, to the agent only: the runtime (forked before) has
        # it neither in its memory nor in the environment its process started with.
        assert task["token_in_memory"] == []
        assert task["token_in_initial_environ"] is False
    assert plane.tokens == {TOKEN}


async def test_sigterm_stops_a_forked_agent_and_its_task(
    server: ForkServer, flow: Any, tmp_path: Path
) -> None:
    plane, served = await _serve(_script(flow, "waiter", f'{{"marker": "{tmp_path / "m"}"}}'))
    try:
        env = agent_env(served.address, flow[1], LEOFLOW_AGENT_WORK_ROOT=str(tmp_path / "w"))
        agent = await server.spawn(env, str(flow[1]))
        await wait_for(lambda: any(line.line == "waiting" for line in plane.lines), 15)
        started = next(line.line for line in plane.lines if "started python task" in line.line)
        task_pid = int(started.rsplit("pid ", 1)[1].rstrip(")"))
        agent.send_signal(signal.SIGTERM)
        code, output = await _finish(agent)
    finally:
        await served.stop()
    assert code == 1, output
    assert plane.states() == ["running", "failed"]
    assert "received SIGTERM" in plane.final_report().error_message
    await wait_for(lambda: not Path(f"/proc/{task_pid}").exists(), 10)
    with pytest.raises(ProcessLookupError):
        agent.send_signal(signal.SIGTERM)  # gone: never a process that reused its pid


async def test_interpreter_settings_get_a_fresh_agent(
    server: ForkServer, flow: Any, tmp_path: Path
) -> None:
    """``PYTHONHASHSEED`` acts at interpreter start, which a fork is past: the child execs a
    fresh agent (same pid), whose runtime then has the seed."""
    plane, agent, code, output = await _run_try(
        server, flow, "hashing", tmp_path, PYTHONHASHSEED="123"
    )
    assert code == 0, output
    assert plane.registrations[0].pid == agent.pid
    expected = subprocess.run(
        [sys.executable, "-c", "print(hash('leoflow'))"],
        env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert json.loads(plane.pushed["return_value"]) == ["123", int(expected)]


async def test_agents_outlive_a_stopped_fork_server(
    server: ForkServer, flow: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "go"
    plane, served = await _serve(_script(flow, "waiter", f'{{"marker": "{marker}"}}'))
    try:
        env = agent_env(served.address, flow[1], LEOFLOW_AGENT_WORK_ROOT=str(tmp_path / "w"))
        agent = await server.spawn(env, str(flow[1]))
        await wait_for(lambda: any(line.line == "waiting" for line in plane.lines), 15)
        await server.close()
        with pytest.raises(ForkServerError, match="not running"):
            await server.spawn(env, str(flow[1]))
        marker.write_text("go")
        code, output = await _finish(agent)
    finally:
        await served.stop()
    assert plane.states() == ["running", "success"], output
    assert code is None  # its exit status went with the server; the end is still seen


async def test_a_server_that_cannot_start_is_refused(tmp_path: Path) -> None:
    broken = ForkServer(Path("/bin/false"), {}, tmp_path)
    with pytest.raises(ForkServerError):
        await broken.start(within_seconds=10)
    assert not broken.ready
