"""One try from start to finish, as the agent runs it.

``Register`` → ``GetTaskSpec`` → XCom inputs, variables and connections (concurrently) →
``ReportState(RUNNING)`` → start the user process → stream its output, heartbeat, enforce the
execution timeout, honour ``should_terminate`` and SIGTERM → push ``ti.xcom_push`` values and
the return value → ``ReportState(outcome)``.

The terminal report is retried for the whole retry deadline, longer than a control-plane
restart takes, and the agent's own SIGTERM stops the task but not the report. Nothing the
agent logs contains a data value or a secret.

Exit codes: 0 the try succeeded or was skipped (and that was reported), 1 it failed (and that
was reported), 2 bad settings or a token for another try, 3 the control plane could not be
reached (or refused a call) so the outcome may be unreported, 4 the control plane stopped the
try (``should_terminate``, or a refused state report).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, TypeVar

from leoflow_sdk.agent.control_plane import (
    ControlPlane,
    ControlPlaneError,
    ControlPlaneRefused,
)
from leoflow_sdk.agent.heartbeat import Heartbeats
from leoflow_sdk.agent.inputs import InputError, fetch_secrets, fetch_xcom_inputs, xcom_sources
from leoflow_sdk.agent.log_shipper import AGENT, STDERR, STDOUT, LogShipper
from leoflow_sdk.agent.outcome import FAILED, SKIPPED, SUCCESS, StopRequest, TryResult, decide
from leoflow_sdk.agent.runtime_template import mismatch
from leoflow_sdk.agent.settings import AgentSettings, ExpectedIdentity
from leoflow_sdk.agent.spawn import runtime_argv, spawn
from leoflow_sdk.agent.task_process import TaskProcess
from leoflow_sdk.agent.telemetry import AgentLog, AgentTracer, parse_traceparent, set_default_log
from leoflow_sdk.agent.workdir import (
    WorkDir,
    runtime_spec,
    task_entry,
    task_environment,
    with_dag_source,
)
from leoflow_sdk.protocol import JSON_CONTENT_TYPE, agent_pb2, task_state_to_proto
from leoflow_sdk.runtime.contract import dump_json
from leoflow_sdk.runtime.spec_file import RuntimeSpec
from leoflow_sdk.runtime.spec_file import encode as encode_spec

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_SETTINGS = 2
EXIT_CONTROL_PLANE = 3
EXIT_STOPPED = 4

DEFAULT_HEARTBEAT_SECONDS = 10.0
OUTPUT_DRAIN_SECONDS = 5.0
"""How long the output may stay open after the process ended (leftover background jobs)."""

AGENT_VERSION = "0.1.0"
"""Reported in ``Register``; kept in step with the distribution by a test (reading the installed
metadata costs tens of milliseconds on every task start)."""

T = TypeVar("T")


class _Stopped(Exception):
    """A stop was requested before the user process started."""


class _StaleTry(Exception):
    """The control plane says this try is no longer current."""


def _key_text(key: agent_pb2.TaskInstanceKey) -> str:
    return f"{key.dag_id}/{key.run_id}/{key.task_id} try {key.try_number}"


def _expected_key(expected: ExpectedIdentity) -> agent_pb2.TaskInstanceKey | None:
    """The try the executor named in full (``LEOFLOW_TI_*``), or ``None``."""
    if (
        expected.tenant is None
        or expected.dag_id is None
        or expected.run_id is None
        or expected.task_id is None
        or expected.map_index is None
        or expected.try_number is None
    ):
        return None
    return agent_pb2.TaskInstanceKey(
        tenant=expected.tenant,
        dag_id=expected.dag_id,
        run_id=expected.run_id,
        task_id=expected.task_id,
        map_index=expected.map_index,
        try_number=expected.try_number,
    )


def _identity_mismatch(expected: ExpectedIdentity, key: agent_pb2.TaskInstanceKey) -> list[str]:
    pairs: list[tuple[str, Any, Any]] = [
        ("tenant", expected.tenant, key.tenant),
        ("dag_id", expected.dag_id, key.dag_id),
        ("run_id", expected.run_id, key.run_id),
        ("task_id", expected.task_id, key.task_id),
        ("map_index", expected.map_index, key.map_index),
        ("try_number", expected.try_number, key.try_number),
    ]
    return [f"{name} {want!r} != {got!r}" for name, want, got in pairs if want not in (None, got)]


class Agent:
    """Runs the one try its token is for."""

    def __init__(
        self,
        settings: AgentSettings,
        plane: ControlPlane,
        environ: dict[str, str] | None = None,
        *,
        standby: TaskProcess | None = None,
    ) -> None:
        self.settings = settings
        self._standby = standby
        self.plane = plane
        self.environ = dict(os.environ if environ is None else environ)
        self.key = agent_pb2.TaskInstanceKey()
        self.logs: LogShipper | None = None
        self._process: TaskProcess | None = None
        self._stop: StopRequest | None = None
        self._stop_event = asyncio.Event()
        self._last_stdout: str | None = None
        self._started_at: float | None = None
        self._began = time.monotonic()
        self._pushed = 0
        self._spec_call: asyncio.Future[agent_pb2.TaskSpec] | None = None
        self.tracer = AgentTracer(parse_traceparent(settings.traceparent))
        plane.tracer = self.tracer
        self.log = AgentLog(settings.log_format, tracer=self.tracer)
        expected = settings.expected
        self.log.bind(
            tenant=expected.tenant,
            dag_id=expected.dag_id,
            run_id=expected.run_id,
            task_id=expected.task_id,
            try_number=expected.try_number,
        )
        set_default_log(self.log)

    # -- messages -----------------------------------------------------------------------
    def say(self, message: str, level: str = "warning") -> None:
        """A line on the agent's own output (always; the control plane may be unreachable)."""
        self.log.event(level, message)

    def agent_line(self, message: str) -> None:
        """A line on the try's AGENT log stream (and stderr when there is no stream yet)."""
        if self.logs is None:
            self.say(message)
        else:
            self.logs.emit(AGENT, f"[leoflow] {message}")

    def _on_line(self, stream: int, text: str) -> None:
        if stream == STDOUT:
            self._last_stdout = text
        assert self.logs is not None
        self.logs.emit(stream, text)

    # -- stopping -----------------------------------------------------------------------
    def request_stop(self, kind: str, message: str) -> None:
        """Ask the try to stop (first reason wins); a second SIGTERM kills at once."""
        if self._stop is None:
            self._stop = StopRequest(kind, message)
            self._stop_event.set()
        elif kind == "signal" and self._process is not None:
            self._process.kill()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            name = signal.Signals(signum).name
            loop.add_signal_handler(
                signum,
                self.request_stop,
                "signal",
                f"the agent received {name} and stopped the task (the try was cancelled, or "
                "its pod or process is shutting down)",
            )

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T:
        work = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self._stop_event.wait())
        done, _ = await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            stopped.cancel()
            return work.result()
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        raise _Stopped

    # -- the try ------------------------------------------------------------------------
    async def run(self) -> int:
        """Run the try; the exit code of the agent process (module docstring)."""
        self._install_signal_handlers()
        # An executor that names the try in full lets the spec be asked for alongside
        # Register (one round trip less before the task starts); what Register answers still
        # decides, and a spec fetched for a try that does not match is never used.
        expected = _expected_key(self.settings.expected)
        if expected is not None:
            self._spec_call = asyncio.ensure_future(self._get_spec(expected))
        try:
            return await self._registered_run()
        finally:
            unused, self._spec_call = self._spec_call, None
            if unused is not None:  # never used (stopped, or another try): let it go quietly
                unused.cancel()
                with contextlib.suppress(BaseException):
                    await unused

    async def _get_spec(self, key: agent_pb2.TaskInstanceKey) -> agent_pb2.TaskSpec:
        response = await self.plane.call(
            "GetTaskSpec", agent_pb2.GetTaskSpecRequest(task_instance=key)
        )
        spec: agent_pb2.TaskSpec = response.spec
        return spec

    async def _registered_run(self) -> int:
        try:
            registered = await self._unless_stopped(
                self.plane.call(
                    "Register",
                    agent_pb2.RegisterRequest(
                        agent_version=AGENT_VERSION,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        python_version=".".join(map(str, sys.version_info[:3])),
                    ),
                )
            )
        except ControlPlaneError as exc:
            self.say(f"cannot run {self.settings.expected.describe()}: {exc}", "error")
            return EXIT_CONTROL_PLANE
        except _Stopped:
            self.say(f"stopped before registering: {self._stop_message()}")
            return EXIT_STOPPED
        self.key = registered.task_instance
        mismatch = _identity_mismatch(self.settings.expected, self.key)
        if mismatch:
            self.say(
                f"the token is for {_key_text(self.key)}, not the try this agent was started "
                f"for ({'; '.join(mismatch)}); refusing to run it",
                "error",
            )
            return EXIT_SETTINGS
        self.log.bind(
            tenant=self.key.tenant,
            dag_id=self.key.dag_id,
            run_id=self.key.run_id,
            task_id=self.key.task_id,
            try_number=self.key.try_number,
        )
        self.say("agent registered", "info")
        interval = registered.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
        self.logs = LogShipper(
            self.plane,
            self.key,
            flush_seconds=self.settings.log_flush_seconds,
            echo=self.settings.echo_logs,
        )
        self.logs.start()
        work: WorkDir | None = None
        try:
            work = WorkDir.create(self.settings.work_root, self.key)
            return await self._run_try(work, interval)
        except ControlPlaneError as exc:
            self.say(f"giving up on {_key_text(self.key)}: {exc}", "error")
            return EXIT_CONTROL_PLANE
        except _StaleTry as exc:
            self.agent_line(f"stopping: {exc}")
            await self.logs.close(self.settings.kill_grace_seconds + 1)
            return EXIT_STOPPED
        except Exception as exc:  # a defect in the agent must still end the try visibly
            self.say(f"internal error while running {_key_text(self.key)}: {exc!r}", "error")
            with contextlib.suppress(Exception):
                error = f"the agent failed: {type(exc).__name__}: {exc}"
                return await self._finish(TryResult(FAILED, error=error))
            return EXIT_CONTROL_PLANE
        finally:
            if self._process is not None and self._process.returncode is None:
                self._process.kill()
            self._discard_standby()
            if work is not None and not self.settings.keep_work_dir:
                work.remove()

    def _stop_message(self) -> str:
        return self._stop.message if self._stop else "stop requested"

    async def _run_try(self, work: WorkDir, heartbeat_interval: float) -> int:
        try:
            spec_call, self._spec_call = self._spec_call, None
            if spec_call is None:
                spec_call = asyncio.ensure_future(self._get_spec(self.key))
            spec = await self._unless_stopped(spec_call)
            task = task_entry(spec, self.key.task_id)
            argv, env, runtime = await self._unless_stopped(self._prepare(spec, task, work))
        except _Stopped:
            return await self._finish(TryResult(FAILED, error=self._stop_message()))
        except (InputError, ControlPlaneRefused, OSError, ValueError) as exc:
            return await self._finish(TryResult(FAILED, error=f"could not prepare the try: {exc}"))
        if self._stop is not None:
            return await self._finish(TryResult(FAILED, error=self._stop.message))
        await self._report_running()
        if task.get("type") == "empty":
            self._discard_standby()
            return await self._finish(TryResult(SUCCESS))
        execute = self.tracer.start(
            "agent.execute_user_code", **{"leoflow.task_type": task.get("type")}
        )
        try:
            self._process = await self._start_process(argv, env, task, spec, (work, runtime))
        except OSError as exc:
            execute.fail("could not start the task process")
            self.tracer.end(execute)
            return await self._finish(
                TryResult(FAILED, error=f"could not start the task process: {exc}")
            )
        self._started_at = time.monotonic()
        heartbeats = Heartbeats(
            self.plane,
            self.key,
            interval_seconds=heartbeat_interval,
            lost_after_seconds=self.settings.retry_deadline_seconds,
            on_terminate=lambda message: self.request_stop("server", message),
            on_lost=lambda message: self.request_stop(
                "lost", f"lost contact with the control plane ({message}); the task was stopped"
            ),
            on_error=self.agent_line,
        )
        heartbeats.start()
        try:
            exit_code, stop = await self._supervise(spec.execution_timeout_seconds or None)
        finally:
            await heartbeats.stop()
        if not await self._process.drain(OUTPUT_DRAIN_SECONDS):
            self.agent_line(
                "killed processes the task left behind (they kept its output open after it ended)"
            )
        execute.set("process.exit_code", exit_code)
        if stop is not None:
            execute.fail(f"stopped: {stop.kind}")
        elif exit_code != 0:
            execute.fail(f"exit code {exit_code}")
        self.tracer.end(execute)
        if stop is not None and stop.kind == "server":
            self.agent_line(f"{stop.message}; nothing more is reported for this try")
            await self._close_logs()
            return EXIT_STOPPED
        result = decide(
            task,
            exit_code=exit_code,
            outcome=work.read_outcome(),
            stop=stop,
            last_stdout_line=self._last_stdout,
            return_value=work.read_return_value(),
        )
        with self.tracer.span("agent.push_xcom") as push:
            pushed_before = self._pushed
            result = await self._push_outputs(result, work, task)
            push.set("leoflow.xcom.pushed", self._pushed - pushed_before)
            if self._pushed == pushed_before:
                push.discard()
            elif result.state == FAILED:
                push.fail("an XCom was rejected")
        return await self._finish(result)

    def _discard_standby(self) -> None:
        if self._standby is not None:
            self._standby.discard()
            self._standby = None

    async def _start_process(
        self,
        argv: list[str],
        env: dict[str, str],
        task: dict[str, Any],
        spec: agent_pb2.TaskSpec,
        prepared: tuple[WorkDir, RuntimeSpec],
    ) -> TaskProcess:
        """The runtime started on standby (handed its environment and task spec now), or a
        fresh one (which reads the task spec file, written for it).

        A task whose ``env`` sets ``PYTHON*`` variables gets a fresh interpreter: those act at
        interpreter start, which a standby process is already past. So does a try that the
        runtime template's runtime does not fit (another DAG version, an environment variable
        its import read set differently): rare, since the executor keys templates by version.
        """
        process, self._standby = self._standby, None
        python_env = any(str(name).startswith("PYTHON") for name in task.get("env") or {})
        if process is not None and (python_env or not process.is_alive()):
            process.discard()
            process = None
        if process is not None and process.from_template:
            problem = mismatch(
                self.settings.runtime_template,
                task_type=str(task.get("type")),
                task_env=task.get("env"),
                module=spec.dag_module,
                source=spec.dag_source,
                env=env,
            )
            if problem is not None:
                self.agent_line(f"not using the DAG's runtime template ({problem})")
                process.discard()
                process = None
        work, runtime = prepared
        if process is None or not process.from_template:
            runtime = with_dag_source(runtime, spec, work)  # a template runtime has its module
        if process is None:
            work.write_spec(runtime)
            process = TaskProcess(spawn(argv, env))
        # Said before any output is read, so it is the try's first line.
        self.agent_line(
            f"started {task.get('type')} task {self.key.task_id} "
            f"(try {self.key.try_number}, pid {process.pid})"
        )
        await process.attach(
            self._on_line, stdout_stream=STDOUT, stderr_stream=STDERR, notice_stream=AGENT
        )
        if process.on_standby:
            await process.launch(env, spec_text=encode_spec(runtime))
        return process

    async def _prepare(
        self, spec: agent_pb2.TaskSpec, task: dict[str, Any], work: WorkDir
    ) -> tuple[list[str], dict[str, str], RuntimeSpec]:
        bindings = xcom_sources(spec)
        xcoms, secrets = await asyncio.gather(
            self._fetch_xcoms(bindings, spec.xcom_max_size_bytes),
            fetch_secrets(self.plane, self.key),
        )
        runtime = runtime_spec(
            spec,
            key=self.key,
            task=task,
            bindings=bindings,
            work=work,
            dag_dir=self.settings.dag_dir,
        )
        notice = "; ".join(secrets.notices) or None
        if notice:
            self.agent_line(f"variables/connections not delivered: {notice}")
        env = task_environment(
            self.environ,
            task=task,
            context=runtime.run,
            spec=spec,
            work=work,
            xcom_env=work.place_xcom_inputs(xcoms),
            secrets_env=secrets.env,
            secrets_notice=notice,
            dag_dir=self.settings.dag_dir,
        )
        return runtime_argv(self.settings.python), env, runtime

    async def _fetch_xcoms(self, bindings: Any, max_size_bytes: int) -> Any:
        """The XCom inputs, in the ``agent.fetch_xcom`` span (when there are any)."""
        if not bindings:
            return await fetch_xcom_inputs(
                self.plane, self.key, bindings, max_size_bytes=max_size_bytes
            )
        sources = sum(len(found) for found in bindings.values())
        with self.tracer.span("agent.fetch_xcom", **{"leoflow.xcom.inputs": sources}):
            return await fetch_xcom_inputs(
                self.plane, self.key, bindings, max_size_bytes=max_size_bytes
            )

    async def _report_running(self) -> None:
        response = await self.plane.call(
            "ReportState",
            agent_pb2.ReportStateRequest(
                task_instance=self.key,
                try_number=self.key.try_number,
                state=task_state_to_proto("running"),
            ),
        )
        if not response.applied:
            reason = agent_pb2.RefusalReason.Name(response.reason)
            raise _StaleTry(
                f"the control plane refused to start the try ({reason}: {response.detail})"
            )

    async def _supervise(self, limit_seconds: float | None) -> tuple[int, StopRequest | None]:
        assert self._process is not None
        ended = asyncio.ensure_future(self._process.wait())
        stop_asked = asyncio.ensure_future(self._stop_event.wait())
        done, _ = await asyncio.wait(
            {ended, stop_asked}, timeout=limit_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        stop_asked.cancel()
        if ended in done:
            return ended.result(), None
        if self._stop is None:
            self.request_stop(
                "timeout",
                f"timed out after {limit_seconds:g} s (execution_timeout_seconds); "
                "the task was stopped",
            )
        assert self._stop is not None
        grace = self.settings.kill_grace_seconds
        self.agent_line(
            f"stopping the task (SIGTERM, SIGKILL after {grace:g} s): {self._stop.message}"
        )
        await self._process.stop(grace)
        return await ended, self._stop

    # -- results ------------------------------------------------------------------------
    async def _push(self, key: str, value: str) -> agent_pb2.PushXComResponse:
        self._pushed += 1
        data = value.encode("utf-8")
        response: agent_pb2.PushXComResponse = await self.plane.call(
            "PushXCom",
            agent_pb2.PushXComRequest(
                task_instance=self.key,
                key="" if key == "return_value" else key,
                value=data,
                content_type=JSON_CONTENT_TYPE,
                size_bytes=len(data),
            ),
        )
        if not response.accepted and response.reason == agent_pb2.XCOM_REJECTION_REASON_STALE_TRY:
            raise _StaleTry(f"XCom {key!r} refused: the try is no longer current")
        return response

    @staticmethod
    def _rejection(key: str, response: agent_pb2.PushXComResponse) -> str:
        reason = agent_pb2.XComRejectionReason.Name(response.reason)
        reason = reason.removeprefix("XCOM_REJECTION_REASON_").lower()
        detail = f": {response.detail}" if response.detail else ""
        return f"XCom {key!r} was rejected ({reason}){detail}"

    async def _push_outputs(
        self, result: TryResult, work: WorkDir, task: dict[str, Any]
    ) -> TryResult:
        if result.state == FAILED and result.exit_code is None:
            return result
        for key, value in work.pushed_xcoms():
            response = await self._push(key, value)
            if not response.accepted and result.state == SUCCESS:
                result = replace(result, state=FAILED, error=self._rejection(key, response))
        if result.state != SUCCESS or result.return_value is None:
            return result
        if task.get("type") == "bash":
            size = len(result.return_value.encode("utf-8"))
            self.agent_line(f"returned str ({size} B XCom): the last line on stdout")
        response = await self._push("return_value", result.return_value)
        if not response.accepted:
            too_large = response.reason == agent_pb2.XCOM_REJECTION_REASON_TOO_LARGE
            if result.optional_return_value and too_large:
                self.agent_line(self._rejection("return_value", response) + "; not stored")
                return result
            return replace(result, state=FAILED, error=self._rejection("return_value", response))
        if result.multiple_outputs:
            values = json.loads(result.return_value)
            for key, item in values.items():
                response = await self._push(key, dump_json(item))
                if not response.accepted:
                    return replace(result, state=FAILED, error=self._rejection(key, response))
        return result

    async def _close_logs(self) -> None:
        if self.logs is not None and not await self.logs.close(
            self.settings.retry_deadline_seconds
        ):
            self.say("some task log lines could not be delivered to the control plane")

    async def _finish(self, result: TryResult) -> int:
        elapsed = ""
        if self._started_at is not None:
            elapsed = f" in {time.monotonic() - self._started_at:.2f} s"
        if result.state == SUCCESS:
            self.agent_line(f"task succeeded{elapsed}")
        elif result.state == SKIPPED:
            self.agent_line(f"task skipped{elapsed}: {result.error}")
        else:
            self.agent_line(f"task failed{elapsed}: {result.error}")
        await self._close_logs()
        now = time.time_ns()
        request = agent_pb2.ReportStateRequest(
            task_instance=self.key,
            try_number=self.key.try_number,
            state=task_state_to_proto(result.state),
            error_message=result.error if result.state != SUCCESS else "",
        )
        if result.exit_code is not None:
            request.exit_code = result.exit_code
        request.end_time.seconds, request.end_time.nanos = divmod(now, 1_000_000_000)
        request.spans.extend(self.tracer.records())
        self.log.info(
            "agent finished the try",
            state=result.state,
            duration_seconds=round(time.monotonic() - self._began, 3),
        )
        response = await self.plane.call("ReportState", request)
        if not response.applied:
            reason = agent_pb2.RefusalReason.Name(response.reason)
            self.say(
                f"the control plane refused the final state {result.state} of "
                f"{_key_text(self.key)} ({reason}: {response.detail})",
                "error",
            )
            return EXIT_STOPPED
        return EXIT_OK if result.state in (SUCCESS, SKIPPED) else EXIT_TASK_FAILED
