"""Agent benchmark: how long a task takes from "start the agent" to "user code runs".

Run it with ``.venv/bin/python bench/agent_overhead.py`` (``--help`` for options). The script
serves a minimal real AgentService (grpc.aio, in this process, on loopback) that answers
every call at once, then starts ``python -m leoflow_sdk.agent`` N times for a one-line
TaskFlow task, exactly as the Lite subprocess executor would (plaintext, the DAG source
shipped in the TaskSpec). The task returns ``time.monotonic_ns()`` taken on its first line;
CLOCK_MONOTONIC is shared by all processes on Linux, so the difference to the spawn time is
the overhead a task pays before its code runs.

Reported (ms, p50/p95/p99/max over the measured runs, after warm-up runs that fill the page
cache and the ``.pyc`` files):

* **to_user_code**: agent spawned → first line of the task function (the target: ≤ 50 ms);
* **agent_start**: agent spawned → ``Register`` received (interpreter + gRPC import);
* **prepare**: ``Register`` → ``ReportState(RUNNING)`` (spec, inputs, variables, connections);
* **runtime_start**: ``RUNNING`` → first line of the task function (runtime process, shim
  import, DAG module import, binding);
* **end_to_end**: agent spawned → terminal ``ReportState`` received;
* **cpu**: CPU time (user + system) of the agent and the runtime for the whole try. Wall-clock
  numbers swing with the machine's load; this one barely does, so compare it across machines.

``cpu`` is read from the kernel's clock-tick counters (10 ms each), so single tries show
multiples of 10; ``cpu_mean`` (all measured tries' CPU divided by their number) is the figure
to compare.

``--fork-server`` asks a warm fork server (``leoflow_sdk.agent.fork_server``, what Lite's
subprocess executor uses) for each agent instead of spawning it, through the executor's own
client (``leoflow.executors.fork_server``); "spawned" then means "asked for".

``--width N`` runs one task of a DAG file that defines N independent tasks (the Lite
benchmark's ``wideN`` shape) instead of a one-task DAG: what a try costs as its DAG file grows.
``--template`` (with ``--fork-server``) also starts a runtime template for the DAG
(``leoflow_sdk.agent.runtime_template``, what Lite does for large DAGs) and hands each agent a
runtime forked from it; its CPU is counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from leoflow.executors.fork_server import ForkServer
from leoflow.executors.runtime_templates import RuntimeTemplate, TemplateKey
from leoflow_sdk.agent import settings as agent_settings
from leoflow_sdk.agent.runtime_template import source_digest
from leoflow_sdk.protocol import agent_pb2, agent_pb2_grpc

DAG_SOURCE = textwrap.dedent(
    """
    import time
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def bench():
        @task
        def hello(x):
            return time.monotonic_ns()

        hello(1)

    bench()
    """
)
WIDE_DAG_SOURCE = textwrap.dedent(
    """
    import time
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def bench():
        @task
        def hello(x):
            return time.monotonic_ns()

        for index in range({width}):
            hello.override(task_id=f"hello_{{index:04d}}")(index)

    bench()
    """
)
ENTRYPOINT = "bench_dag:bench.hello"
TASK_JSON = {
    "task_id": "hello",
    "type": "python",
    "depends_on": [],
    "trigger_rule": "all_success",
    "entrypoint": ENTRYPOINT,
    "env": {},
    "append_env": True,
    "xcom_input": {},
    "call_args": {"x": 1},
    "multiple_outputs": False,
}
KEY = agent_pb2.TaskInstanceKey(
    tenant="default",
    dag_id="bench",
    run_id="manual__2024-01-01T00:00:00+00:00",
    task_id="hello",
    map_index=-1,
    try_number=1,
)
TOKEN = "bench-token"


def _task_json(width: int) -> dict[str, Any]:
    """The ``dag.json`` entry of the task that is run (the first one of a wide DAG)."""
    if width <= 1:
        return TASK_JSON
    return {**TASK_JSON, "task_id": "hello_0000", "call_args": {"x": 0}}


class BenchServicer(agent_pb2_grpc.AgentServiceServicer):
    """Answers every call at once and timestamps the milestones of the current try."""

    def __init__(self, width: int = 1) -> None:
        task = _task_json(width)
        self.key = agent_pb2.TaskInstanceKey()
        self.key.CopyFrom(KEY)
        self.key.task_id = task["task_id"]
        self.spec = agent_pb2.TaskSpec(
            task_type=agent_pb2.TASK_TYPE_PYTHON,
            entrypoint=ENTRYPOINT,
            call_args_json=json.dumps(task["call_args"]),
            params_json="{}",
            dag_source=DAG_SOURCE if width <= 1 else WIDE_DAG_SOURCE.format(width=width),
            dag_file_path="bench_dag.py",
            dag_module="bench_dag",
            task_json=json.dumps(task),
            dag_id="bench",
            run_id=KEY.run_id,
            run_type="manual",
            try_number=1,
            max_tries=1,
        )
        self.reset()

    def reset(self) -> None:
        """Forget the previous try's milestones."""
        self.marks: dict[str, int] = {}
        self.returned: int | None = None
        self.done = asyncio.Event()

    async def Register(self, request: Any, context: Any) -> agent_pb2.RegisterResponse:
        self.marks["register"] = time.monotonic_ns()
        return agent_pb2.RegisterResponse(task_instance=self.key, heartbeat_interval_seconds=10)

    async def GetTaskSpec(self, request: Any, context: Any) -> agent_pb2.GetTaskSpecResponse:
        return agent_pb2.GetTaskSpecResponse(spec=self.spec)

    async def FetchXCom(self, request: Any, context: Any) -> agent_pb2.FetchXComResponse:
        return agent_pb2.FetchXComResponse(found=False)

    async def DeferTask(self, request: Any, context: Any) -> agent_pb2.DeferTaskResponse:
        return agent_pb2.DeferTaskResponse(accepted=False)

    async def GetVariables(self, request: Any, context: Any) -> agent_pb2.GetVariablesResponse:
        return agent_pb2.GetVariablesResponse()

    async def GetConnections(self, request: Any, context: Any) -> agent_pb2.GetConnectionsResponse:
        return agent_pb2.GetConnectionsResponse()

    async def PushXCom(self, request: Any, context: Any) -> agent_pb2.PushXComResponse:
        if not request.key:
            self.returned = int(json.loads(request.value))
        return agent_pb2.PushXComResponse(accepted=True)

    async def StreamLogs(
        self, request_iterator: AsyncIterator[Any], context: Any
    ) -> agent_pb2.StreamLogsResponse:
        count = 0
        async for batch in request_iterator:
            count += len(batch.lines)
        return agent_pb2.StreamLogsResponse(lines_received=count, last_sequence=count)

    async def Heartbeat(self, request: Any, context: Any) -> agent_pb2.HeartbeatResponse:
        return agent_pb2.HeartbeatResponse()

    async def ReportState(self, request: Any, context: Any) -> agent_pb2.ReportStateResponse:
        if request.state == agent_pb2.TASK_STATE_RUNNING:
            self.marks["running"] = time.monotonic_ns()
        else:
            self.marks["final"] = time.monotonic_ns()
            self.marks["final_state"] = request.state
            self.done.set()
        return agent_pb2.ReportStateResponse(applied=True, current_state=request.state)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "mean": round(statistics.fmean(ordered), 1),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(pick(0.95), 1),
        "p99": round(pick(0.99), 1),
        "max": round(ordered[-1], 1),
    }


def _reaped_cpu(pid: int | None) -> float:
    """CPU seconds of the reaped children of ``pid`` (``None``: of this process)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _template_cpu(template: RuntimeTemplate | None) -> float:
    pid = template.pid if template is not None else None
    return _reaped_cpu(pid) if pid is not None else 0.0


async def _one_try(
    servicer: BenchServicer,
    env: dict[str, str],
    cwd: str,
    server: ForkServer | None,
    template: RuntimeTemplate | None = None,
) -> dict[str, float]:
    servicer.reset()
    before = _reaped_cpu(server.pid if server else None) + _template_cpu(template)
    spawned = time.monotonic_ns()
    if server is not None:
        runtime = await template.spawn() if template is not None else None
        if template is not None:
            env = {**env, agent_settings.RUNTIME_TEMPLATE: template.description()}
        forked = await server.spawn(env, cwd, runtime=runtime)
        if runtime is not None:
            runtime.close_pipes()
        output = await forked.stdout.read()
        returncode = await forked.wait()
        if runtime is not None:
            runtime.release()
        await asyncio.sleep(0.02)  # the server reaps it: let the clock-tick CPU counters move
    else:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "leoflow_sdk.agent",
            env=env,
            cwd=cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, output = await process.communicate()
        returncode = process.returncode
    after = _reaped_cpu(server.pid if server else None) + _template_cpu(template)
    cpu_seconds = after - before
    if returncode != 0 or servicer.returned is None:
        raise RuntimeError(f"agent exited with {returncode}: {output.decode()}")
    if servicer.marks.get("final_state") != agent_pb2.TASK_STATE_SUCCESS:
        raise RuntimeError("the benchmark task did not succeed")
    marks = servicer.marks
    ms = 1e-6
    return {
        "to_user_code": (servicer.returned - spawned) * ms,
        "agent_start": (marks["register"] - spawned) * ms,
        "prepare": (marks["running"] - marks["register"]) * ms,
        "runtime_start": (servicer.returned - marks["running"]) * ms,
        "end_to_end": (marks["final"] - spawned) * ms,
        "cpu": cpu_seconds * 1000,
    }


async def run(
    runs: int,
    warmup: int,
    *,
    standby: bool = True,
    fork_server: bool = False,
    width: int = 1,
    template: bool = False,
) -> dict[str, Any]:
    """Serve, run ``warmup`` + ``runs`` tries, and summarize the measured ones."""
    servicer = BenchServicer(width)
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="leoflow-bench-") as folder:
            env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
            env.update(
                {
                    "LEOFLOW_AGENT_ADDRESS": f"127.0.0.1:{port}",
                    "LEOFLOW_AGENT_TOKEN": TOKEN,
                    "LEOFLOW_AGENT_INSECURE": "true",
                    "LEOFLOW_DAG_DIR": folder,
                    "LEOFLOW_AGENT_WORK_ROOT": str(Path(folder) / "work"),
                    "LEOFLOW_AGENT_STANDBY": "true" if standby else "false",
                }
            )
            forks = warm = None
            base = {k: v for k, v in env.items() if not k.startswith("LEOFLOW_")}
            if fork_server:
                forks = ForkServer(Path(sys.executable), base, Path(folder))
                await forks.start()
            if fork_server and template:
                source = Path(folder) / "bench_dag.py"
                source.write_text(servicer.spec.dag_source, encoding="utf-8")
                key = TemplateKey("bench", source_digest(source.read_text()), "bench_dag", folder)
                warm = RuntimeTemplate(Path(sys.executable), base, key, source)
                await warm.start()
            try:
                samples = [
                    await _one_try(servicer, env, folder, forks, warm) for _ in range(warmup + runs)
                ]
            finally:
                if warm is not None:
                    await warm.close(within_seconds=5.0)
                if forks is not None:
                    await forks.close()
    finally:
        await server.stop(grace=None)
    measured = samples[warmup:]
    return {
        "machine": f"{os.cpu_count()} CPUs {platform.machine()}, {platform.platform()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "runs": runs,
        "warmup": warmup,
        "standby": standby,
        "fork_server": fork_server,
        "width": width,
        "template": template,
        "ms": {name: _percentiles([s[name] for s in measured]) for name in measured[0]},
    }


def _compile_sdk() -> None:
    """Byte-compile leoflow-sdk, as installing its wheel does: "warm" means no module is
    compiled at task start (this checkout may run with PYTHONDONTWRITEBYTECODE)."""
    import compileall

    import leoflow_sdk

    compileall.compile_dir(str(Path(leoflow_sdk.__file__).parent), quiet=1)


def main() -> None:
    """Parse options, run, print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--no-standby",
        action="store_true",
        help="start the runtime only when the try starts (LEOFLOW_AGENT_STANDBY=false)",
    )
    parser.add_argument(
        "--fork-server",
        action="store_true",
        help="ask a warm fork server for each agent (as Lite does) instead of spawning it",
    )
    parser.add_argument(
        "--width",
        type=int,
        default=1,
        help="run one task of a DAG file that defines this many independent tasks",
    )
    parser.add_argument(
        "--template",
        action="store_true",
        help="with --fork-server: fork each runtime from a runtime template of the DAG",
    )
    options = parser.parse_args()
    _compile_sdk()
    results = asyncio.run(
        run(
            options.runs,
            options.warmup,
            standby=not options.no_standby,
            fork_server=options.fork_server,
            width=options.width,
            template=options.template,
        )
    )
    text = json.dumps(results, indent=2)
    print(text)
    if options.output:
        options.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
