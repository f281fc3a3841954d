"""The agent as a real process against a STAND-IN control plane (a small real grpc.aio
AgentService servicer in this test process, ``standin_control_plane``). The real AgentService
is tested end to end with real agents in ``tests/e2e``.

Covered: the happy path with XCom fetch and push, live log streaming, the execution timeout,
SIGTERM forwarding, ``should_terminate``, retries while the control plane is down, the token
staying out of the task's reach, bash exit codes, and values never reaching the logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from leoflow.spec.dag_spec import DagSpec
from leoflow_sdk.agent.supervisor import AGENT_VERSION
from leoflow_sdk.protocol import agent_pb2, task_state_from_proto

from .standin_control_plane import TOKEN, Script, ServedStandIn, StandInControlPlane, wait_for
from .task_harness import (
    agent_env,
    compile_dag,
    finish_agent,
    start_agent,
    task_key,
    task_spec_for,
    write_project,
)

SECRET = "agent-secret-sentinel-5be2"

TASKS = """
import os
import sys
import time
from datetime import datetime
from airflow.sdk import dag, task, Variable
from airflow.operators.bash import BashOperator

@dag(schedule="@daily", start_date=datetime(2024, 1, 1), params={"x": 7})
def flow():
    @task
    def extract():
        return {"a": 1}

    @task(multiple_outputs=True)
    def split(rows, parts, ti=None):
        ti.xcom_push(key="note", value="pushed by code")
        return {"head": rows, "count": len(parts), "parts": parts}

    @task
    def ticker(marker):
        print("tick 1", flush=True)
        deadline = time.time() + 30
        while not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.05)
        print("tick 2", flush=True)
        return "done"

    @task
    def sleeper(marker):
        try:
            print("sleeping", flush=True)
            time.sleep(60)
        finally:
            with open(marker, "w") as handle:
                handle.write("cleaned up")

    @task
    def environment():
        leaked = [k for k, v in os.environ.items() if "standin.token" in v]
        with open("/proc/self/environ", "rb") as handle:
            raw = handle.read()
        return {
            "agent_vars": sorted(
                k for k in os.environ if k.startswith(("LEOFLOW_AGENT", "LEOFLOW_TI"))
            ),
            "leaked": leaked,
            "in_proc": b"standin.token" in raw,
            "contract": sorted(k for k in os.environ if k.startswith("LEOFLOW_") and k in {
                "LEOFLOW_DAG_ID", "LEOFLOW_RUN_ID", "LEOFLOW_TASK_ID", "LEOFLOW_TRY_NUMBER",
                "LEOFLOW_LOGICAL_DATE", "LEOFLOW_PARAMS", "LEOFLOW_CALL_ARGS_JSON",
                "LEOFLOW_RETURN_VALUE_PATH"}),
        }

    @task
    def secretive(token):
        return {"echo": token, "var": Variable.get("api_key")}

    @task
    def needs_variable():
        return Variable.get("api_key")

    @task
    def big():
        return "x" * 5000

    @task
    def gather(values):
        return len(values)

    @task
    def hashing():
        return [os.environ.get("PYTHONHASHSEED"), hash("leoflow")]

    rows = extract()
    split(rows, parts=[1, 2, 3])
    ticker("/nonexistent")
    sleeper("/nonexistent")
    environment()
    secretive(extract())
    needs_variable()
    big()
    gather([extract(), extract()])
    hashing()
    BashOperator(task_id="skip", bash_command="echo going; exit 99")
    BashOperator(task_id="fail", bash_command="echo bad >&2; exit 3")
    BashOperator(task_id="last_line", bash_command="echo first; echo {{ params.x }}")

flow()
"""


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> tuple[DagSpec, Path]:
    project = write_project(tmp_path_factory.mktemp("flow") / "project", TASKS)
    return compile_dag(project), project


def _script(flow: tuple[DagSpec, Path], task_id: str, **options: Any) -> Script:
    dag, _ = flow
    spec_options = {k: options.pop(k) for k in ("timeout_seconds", "params") if k in options}
    spec = task_spec_for(dag, task_id, **spec_options)
    call_args = options.pop("call_args", None)
    if call_args is not None:
        spec.call_args_json = call_args
    return Script(key=task_key(dag, task_id), spec=spec, **options)


async def _serve(script: Script) -> tuple[StandInControlPlane, ServedStandIn]:
    plane = StandInControlPlane(script)
    served = ServedStandIn(plane)
    await served.start()
    return plane, served


@pytest.mark.parametrize("standby", ["true", "false"])
async def test_happy_path_fetches_inputs_pushes_outputs_and_reports(
    flow: Any, tmp_path: Path, standby: str
) -> None:
    script = _script(flow, "split", xcoms={("extract", "return_value"): b'{"a":1}'})
    plane, served = await _serve(script)
    try:
        env = agent_env(
            served.address,
            flow[1],
            LEOFLOW_AGENT_WORK_ROOT=str(tmp_path),
            LEOFLOW_AGENT_STANDBY=standby,
        )
        run = await finish_agent(await start_agent(env, flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert plane.states() == ["running", "success"]
    assert plane.fetched == [("extract", "return_value")]
    assert plane.pushed == {
        "note": b'"pushed by code"',
        "return_value": b'{"head":{"a":1},"count":3,"parts":[1,2,3]}',
        "head": b'{"a":1}',
        "count": b"3",
        "parts": b"[1,2,3]",
    }
    registration = plane.registrations[0]
    assert registration.agent_version == AGENT_VERSION
    assert registration.pid > 0 and registration.hostname
    final = plane.final_report()
    assert final.try_number == 1 and final.exit_code == 0 and final.error_message == ""
    assert final.HasField("end_time")
    log = plane.log_text()
    assert "[leoflow] started python task split (try 1" in log
    assert "[leoflow] returned dict (42 B XCom)" in log
    assert "[leoflow] task succeeded in" in log
    sequences = [line.sequence for line in plane.lines]
    assert sorted(sequences) == list(range(1, len(sequences) + 1))
    assert os.listdir(tmp_path) == []  # the per-try work folder is gone


async def test_logs_are_streamed_while_the_task_runs(flow: Any, tmp_path: Path) -> None:
    marker = tmp_path / "go"
    script = _script(flow, "ticker", call_args=f'{{"marker": "{marker}"}}')
    plane, served = await _serve(script)
    try:
        agent = await start_agent(agent_env(served.address, flow[1]), flow[1])
        await wait_for(lambda: any(line.line == "tick 1" for line in plane.lines), 15)
        assert plane.states() == ["running"]  # the task is still running
        assert not any(line.line == "tick 2" for line in plane.lines)
        marker.write_text("go")
        run = await finish_agent(agent)
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert plane.states() == ["running", "success"]
    assert plane.pushed["return_value"] == b'"done"'


async def test_execution_timeout_stops_the_task_and_reports_failed(
    flow: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "cleaned"
    script = _script(flow, "sleeper", timeout_seconds=1, call_args=f'{{"marker": "{marker}"}}')
    plane, served = await _serve(script)
    started = time.monotonic()
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 1, run.stderr
    assert time.monotonic() - started < 15
    final = plane.final_report()
    assert task_state_from_proto(final.state) == "failed"
    assert final.error_message.startswith("timed out after 1 s (execution_timeout_seconds)")
    assert marker.read_text() == "cleaned up"  # SIGTERM let the task's finally run
    assert "stopping the task (SIGTERM, SIGKILL after 2 s)" in plane.log_text()


async def test_sigterm_to_the_agent_is_forwarded_and_still_reported(
    flow: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "cleaned"
    script = _script(flow, "sleeper", call_args=f'{{"marker": "{marker}"}}')
    plane, served = await _serve(script)
    try:
        agent = await start_agent(agent_env(served.address, flow[1]), flow[1])
        await wait_for(lambda: any(line.line == "sleeping" for line in plane.lines), 15)
        agent.send_signal(signal.SIGTERM)
        run = await finish_agent(agent, timeout=20)
    finally:
        await served.stop()
    assert run.returncode == 1, run.stderr
    assert plane.states() == ["running", "failed"]
    assert "the agent received SIGTERM" in plane.final_report().error_message
    assert marker.read_text() == "cleaned up"


async def test_should_terminate_stops_the_task_and_reports_nothing_more(
    flow: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "cleaned"
    script = _script(
        flow,
        "sleeper",
        call_args=f'{{"marker": "{marker}"}}',
        terminate_after_heartbeats=2,
    )
    plane, served = await _serve(script)
    started = time.monotonic()
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 4, run.stderr
    assert time.monotonic() - started < 15
    assert plane.states() == ["running"]
    assert "the control plane asked to stop (cleared): cleared by a test" in plane.log_text()
    assert marker.exists()


async def test_control_plane_down_at_start_is_retried_until_it_is_up(flow: Any) -> None:
    script = _script(flow, "extract")
    plane = StandInControlPlane(script)
    served = ServedStandIn(plane)
    agent = await start_agent(agent_env(served.address, flow[1]), flow[1])
    await asyncio.sleep(3)  # longer than one call attempt (2 s in these tests)
    assert agent.returncode is None
    await served.start()
    try:
        run = await finish_agent(agent)
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert "Register: control plane unavailable" in run.stdout
    assert plane.states() == ["running", "success"]


async def test_final_report_survives_a_control_plane_restart(flow: Any, tmp_path: Path) -> None:
    marker = tmp_path / "go"
    script = _script(flow, "ticker", call_args=f'{{"marker": "{marker}"}}')
    plane, served = await _serve(script)
    agent = await start_agent(agent_env(served.address, flow[1]), flow[1])
    try:
        await wait_for(lambda: any(line.line == "tick 1" for line in plane.lines), 15)
        await served.stop()  # the control plane restarts while the task runs...
        marker.write_text("go")  # ...and the task ends during the outage
        await asyncio.sleep(2.5)
        assert agent.returncode is None  # the agent keeps retrying its report
        await served.start()
        run = await finish_agent(agent)
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert plane.states() == ["running", "success"]
    assert plane.pushed["return_value"] == b'"done"'
    assert "tick 2" in plane.log_text()


async def test_control_plane_that_never_comes_back_fails_clearly(flow: Any) -> None:
    served = ServedStandIn(StandInControlPlane(_script(flow, "extract")))
    env = agent_env(served.address, flow[1], LEOFLOW_AGENT_RETRY_DEADLINE_SECONDS="2")
    run = await finish_agent(await start_agent(env, flow[1]))
    assert run.returncode == 3
    assert "control plane unreachable for 2 s" in run.stdout


async def test_the_token_never_reaches_the_task(flow: Any) -> None:
    plane, served = await _serve(_script(flow, "environment"))
    try:
        env = agent_env(
            served.address, flow[1], LEOFLOW_TI_DAG_ID="flow", LEOFLOW_TI_TASK_ID="environment"
        )
        env["LEOFLOW_DATABASE_URL"] = "postgresql://cp:password@db/leoflow"
        run = await finish_agent(await start_agent(env, flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert plane.tokens == {TOKEN}  # every call carried it...
    value = json.loads(plane.pushed["return_value"])
    assert value["agent_vars"] == []  # ...but the task's environment does not
    assert value["leaked"] == [] and value["in_proc"] is False
    assert value["contract"] == sorted(
        [
            "LEOFLOW_CALL_ARGS_JSON",
            "LEOFLOW_DAG_ID",
            "LEOFLOW_LOGICAL_DATE",
            "LEOFLOW_PARAMS",
            "LEOFLOW_RETURN_VALUE_PATH",
            "LEOFLOW_RUN_ID",
            "LEOFLOW_TASK_ID",
            "LEOFLOW_TRY_NUMBER",
        ]
    )
    assert TOKEN not in plane.log_text()


async def test_values_and_secrets_never_reach_the_logs(flow: Any) -> None:
    script = _script(
        flow,
        "secretive",
        xcoms={("extract__1", "return_value"): f'"{SECRET}"'.encode()},
        variables={"api_key": f"var-{SECRET}"},
        connections=[
            agent_pb2.Connection(conn_id="db", conn_type="postgres", password=SECRET, port=5432)
        ],
    )
    plane, served = await _serve(script)
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    assert SECRET in plane.pushed["return_value"].decode()
    log = plane.log_text()
    assert "[leoflow] input 'token': str" in log and "[leoflow] returned dict" in log
    for text in (log, run.stdout, run.stderr):
        assert SECRET not in text


async def test_refused_secrets_leave_an_explanation(flow: Any) -> None:
    script = _script(flow, "needs_variable", variables={"api_key": "v"}, refuse_secrets=True)
    plane, served = await _serve(script)
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 1
    error = plane.final_report().error_message
    assert "Variable api_key does not exist" in error
    assert "served only over TLS" in error


@pytest.mark.parametrize(
    ("task_id", "state", "error", "pushed"),
    [
        ("skip", "skipped", "bash command exited with code 99 (skip_on_exit_code)", {}),
        ("fail", "failed", "bash command exited with code 3", {}),
        ("last_line", "success", "", {"return_value": b'"7"'}),
    ],
)
async def test_bash_exit_codes_and_last_line(
    flow: Any, task_id: str, state: str, error: str, pushed: dict[str, bytes]
) -> None:
    plane, served = await _serve(_script(flow, task_id))
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert plane.states() == ["running", state], run.stderr
    assert plane.final_report().error_message == error
    assert plane.pushed == pushed
    assert run.returncode == (1 if state == "failed" else 0)


async def test_a_rejected_return_value_fails_the_try(flow: Any) -> None:
    plane, served = await _serve(_script(flow, "big", xcom_limit_bytes=1000))
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 1
    assert plane.final_report().error_message == (
        "XCom 'return_value' was rejected (too_large): 5002 B is over the 1000 B limit"
    )


async def test_a_fan_in_over_the_xcom_limit_fails_before_the_task_starts(flow: Any) -> None:
    value = b'"' + b"y" * 800 + b'"'
    script = _script(
        flow,
        "gather",
        xcoms={("extract__2", "return_value"): value, ("extract__3", "return_value"): value},
    )
    script.spec.xcom_max_size_bytes = 1000
    plane, served = await _serve(script)
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 1
    assert plane.states() == ["failed"]
    error = plane.final_report().error_message
    assert "the fan-in of parameter 'values' (2 XComs) is 1607 B" in error
    assert "over the 1000 B XCom limit (too_large)" in error


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            return any(line.startswith("State:\tZ") for line in handle)
    except FileNotFoundError:
        return True


async def test_a_killed_agent_takes_its_task_process_with_it(flow: Any, tmp_path: Path) -> None:
    script = _script(flow, "sleeper", call_args=f'{{"marker": "{tmp_path / "m"}"}}')
    plane, served = await _serve(script)
    try:
        # A killed agent cannot remove its work folder: keep it inside the test's folder.
        env = agent_env(served.address, flow[1], LEOFLOW_AGENT_WORK_ROOT=str(tmp_path))
        agent = await start_agent(env, flow[1])
        await wait_for(lambda: any(line.line == "sleeping" for line in plane.lines), 15)
        started = next(line.line for line in plane.lines if "started python task" in line.line)
        pid = int(started.rsplit("pid ", 1)[1].rstrip(")"))
        agent.kill()
        await agent.wait()
        await wait_for(lambda: _gone(pid), 10)
    finally:
        await served.stop()


async def test_python_variables_in_task_env_get_a_fresh_interpreter(flow: Any) -> None:
    """``PYTHON*`` variables act at interpreter start, which the standby runtime is past."""
    script = _script(flow, "hashing")
    task = json.loads(script.spec.task_json)
    task["env"] = {"PYTHONHASHSEED": "123"}
    script.spec.task_json = json.dumps(task)
    plane, served = await _serve(script)
    try:
        run = await finish_agent(await start_agent(agent_env(served.address, flow[1]), flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 0, run.stderr
    expected = subprocess.run(
        [sys.executable, "-c", "print(hash('leoflow'))"],
        env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert json.loads(plane.pushed["return_value"]) == ["123", int(expected)]


async def test_a_token_for_another_try_is_refused(flow: Any) -> None:
    plane, served = await _serve(_script(flow, "extract"))
    try:
        env = agent_env(served.address, flow[1], LEOFLOW_TI_TASK_ID="someone_else")
        run = await finish_agent(await start_agent(env, flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 2
    assert "task_id 'someone_else' != 'extract'" in run.stdout
    assert plane.reports == []


async def test_missing_settings_fail_with_the_variable_name(flow: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    run = await finish_agent(await start_agent(env, flow[1]))
    assert run.returncode == 2
    assert "LEOFLOW_AGENT_ADDRESS is not set" in run.stdout


def _named_in_full(flow: Any, task_id: str, **overrides: str) -> dict[str, str]:
    """The ``LEOFLOW_TI_*`` identity an executor sets, naming the try in full."""
    key = task_key(flow[0], task_id)
    named = {
        "LEOFLOW_TI_TENANT": key.tenant,
        "LEOFLOW_TI_DAG_ID": key.dag_id,
        "LEOFLOW_TI_RUN_ID": key.run_id,
        "LEOFLOW_TI_TASK_ID": key.task_id,
        "LEOFLOW_TI_MAP_INDEX": str(key.map_index),
        "LEOFLOW_TI_TRY_NUMBER": str(key.try_number),
    }
    return {**named, **overrides}


async def test_a_try_named_in_full_runs_with_its_spec_asked_alongside_register(
    flow: Any, tmp_path: Path
) -> None:
    plane, served = await _serve(_script(flow, "extract"))
    try:
        env = agent_env(
            served.address,
            flow[1],
            LEOFLOW_AGENT_WORK_ROOT=str(tmp_path),
            **_named_in_full(flow, "extract"),
        )
        run = await finish_agent(await start_agent(env, flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    assert plane.states() == ["running", "success"]
    assert json.loads(plane.pushed["return_value"]) == {"a": 1}


async def test_a_try_named_in_full_for_another_try_is_refused(flow: Any) -> None:
    plane, served = await _serve(_script(flow, "extract"))
    try:
        env = agent_env(
            served.address, flow[1], **_named_in_full(flow, "extract", LEOFLOW_TI_TRY_NUMBER="2")
        )
        run = await finish_agent(await start_agent(env, flow[1]))
    finally:
        await served.stop()
    assert run.returncode == 2
    assert "try_number 2 != 1" in run.stdout
    assert plane.reports == [] and plane.pushed == {}
    assert "Task exception was never retrieved" not in run.stderr
