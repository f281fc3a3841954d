"""Lite's executor: each try is a child process running the agent in the DAG's own virtualenv.

``python -m leoflow_sdk.agent`` is started with the agent's environment (address, per-try
token, TLS material, identity) and nothing of the control plane's configuration: every
``LEOFLOW_*`` variable of this process (database URL, signing secret, encryption key) is
removed first. Up to ``subprocess_parallelism`` agents run at once; a launch waiting for a
slot or for its venv keeps its task instance ``queued`` and says so in the try's log.

There is **no isolation**: a task runs with this server's user, filesystem and network. That
is Lite's trade-off (one person, one machine) and the executor says it loudly at start-up.

On Linux an agent is forked from a warm fork server of its DAG venv (one per venv, started on
the first try that needs it; ``leoflow.executors.fork_server``) rather than spawned, which
saves each try an interpreter start and the gRPC imports; until the server is ready, or if it
fails, agents are spawned as before.

Agents run in their own process group, so stopping a try signals the agent and whatever it
started. The executor watches its agents: an agent that exits without reporting an outcome
fails its try at once (with the agent's last output in the task log), and an agent whose try
is over — cleared, marked, or failed by the heartbeat reaper because the agent hung — is
terminated after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from uuid import UUID

from leoflow.agentapi.server import AgentEndpoint
from leoflow.agentapi.tokens import AgentTokenIssuer
from leoflow.config import Settings
from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.executors.fork_server import ForkServer, ForkServerError
from leoflow.executors.runtime_templates import (
    RuntimeTemplates,
    TemplateError,
    TemplateKey,
    TemplateRuntime,
)
from leoflow.lite.venvs import Venv, VenvBuildError, VenvManager
from leoflow.logs import TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.spec import DagSpec, TaskType
from leoflow.staging import DirectoryStaging
from leoflow.states import TaskState
from leoflow.store.pool import Database
from leoflow.store.task_context import current_try_states, keep_queued
from leoflow.telemetry import current_log_format, get_logger, relay_agent_output
from leoflow.telemetry.metrics import SUBPROCESS_AGENTS, SUBPROCESS_SLOT_WAIT
from leoflow_sdk.agent import settings as agent_env
from leoflow_sdk.agent.supervisor import EXIT_OK

log = get_logger(__name__)

NO_ISOLATION_WARNING = (
    "subprocess executor: tasks run as child processes of this server, as its user, with its "
    "filesystem and network. There is NO ISOLATION between tasks or from the control plane. "
    "Run only DAGs you trust, or use the kubernetes executor."
)
KEEP_QUEUED_SECONDS = 30.0
WATCH_INTERVAL_SECONDS = 1.0
FORK_SERVER_RETRY_SECONDS = 30.0
"""After a fork server failed, agents of its venv are spawned for this long before a new one
is started; the wait doubles with each failure in a row (a venv whose leoflow-sdk has no fork
server fails every time), up to ``FORK_SERVER_RETRY_MAX_SECONDS``."""
FORK_SERVER_RETRY_MAX_SECONDS = 3600.0
_AGENT_OUTPUT_LINES = 40
_STRIPPED_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX")
_LIVE = frozenset({TaskState.QUEUED, TaskState.RUNNING})
_TemplateChoice = tuple[TemplateKey, str]
"""The runtime template a try could use, and its DAG source."""


def agent_base_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus everything that is the control plane's: ``LEOFLOW_*``
    settings (secrets among them) and the interpreter settings of the server's own venv."""
    env = dict(os.environ if source is None else source)
    for name in list(env):
        if name.upper().startswith("LEOFLOW_") or name in _STRIPPED_ENV:
            del env[name]
    return env


class AgentProcess(Protocol):
    """What the executor uses of an agent process, spawned or forked."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    async def wait(self) -> int | None: ...

    def send_signal(self, signal: int) -> None: ...


@dataclass
class _Agent:
    launch: TaskLaunch
    process: AgentProcess
    ref: TryLogRef
    work_dir: Path | None
    """The try's private folder (when it has no project folder), removed when it ends."""
    output: deque[str] = field(default_factory=lambda: deque(maxlen=_AGENT_OUTPUT_LINES))
    over_since: float | None = None
    terminated_at: float | None = None


def _correlation(agent: _Agent) -> dict[str, str | int]:
    """The try an agent's output line belongs to (for lines that do not say it themselves)."""
    ref = agent.ref
    return {
        "tenant": ref.tenant,
        "dag_id": ref.dag_id,
        "run_id": ref.run_id,
        "task_id": ref.task_id,
        "try_number": ref.try_number,
    }


class SubprocessExecutor:
    """Starts agents as child processes (Lite)."""

    name = "subprocess"

    def __init__(
        self,
        *,
        reporter: TaskReporter,
        db: Database,
        catalog: DagCatalog,
        logs: TaskLogs,
        venvs: VenvManager,
        tokens: AgentTokenIssuer,
        endpoint: Callable[[], AgentEndpoint],
        settings: Settings,
        dag_dir_for: Callable[[str], Path | None] | None = None,
        staging: DirectoryStaging | None = None,
    ) -> None:
        self._reporter = reporter
        self._db = db
        self.staging = staging or DirectoryStaging(
            db,
            Path(settings.home) / "staging",
            failed_retention_seconds=settings.staging_failed_retention_seconds,
        )
        self._catalog = catalog
        self._logs = logs
        self._venvs = venvs
        self._tokens = tokens
        self._endpoint = endpoint
        self._settings = settings
        self._dag_dir_for = dag_dir_for
        self.parallelism = settings.subprocess_parallelism
        self._kill_grace = settings.subprocess_kill_grace_seconds
        self._work_root = Path(settings.home) / "work"
        self._agents: dict[tuple[UUID, int], _Agent] = {}
        self._slots = asyncio.Condition()
        self._running = 0
        self._watchers: set[asyncio.Task[None]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._closing = False
        self._use_fork_servers = settings.subprocess_fork_server and sys.platform == "linux"
        self._fork_servers: dict[str, ForkServer] = {}
        self._fork_server_failed: dict[str, tuple[int, float]] = {}
        """venv key → (failures in a row, when the last one happened)."""
        self._fork_server_starts: set[asyncio.Task[None]] = set()
        self._use_templates = self._use_fork_servers and settings.subprocess_runtime_templates
        self._templates = RuntimeTemplates(
            self._work_root / "templates", min_tasks=settings.subprocess_runtime_template_min_tasks
        )
        log.warning(NO_ISOLATION_WARNING)

    # --- launching -------------------------------------------------------------------------

    async def submit(self, launch: TaskLaunch) -> None:
        if self._closing:
            raise ExecutorRefused("the subprocess executor is shutting down")
        tenant = await self._tokens.tenant_of(launch.run_uuid)
        ref = TryLogRef(
            tenant,
            launch.dag_id,
            launch.run_id,
            launch.task_id,
            launch.try_number,
            launch.map_index,
        )
        compiled = await self._catalog.get(launch.dag_version_id)
        await self.staging.prepare_launch(launch, tenant, compiled.spec.staging)
        venv = await self._venv(launch, ref, compiled.spec)
        await self._take_slot(launch, ref)
        try:
            token = await self._tokens.mint(launch, compiled.execution_timeout(launch.task_id))
            agent = await self._spawn(launch, ref, venv, token, compiled)
        except BaseException:
            await self._free_slot()
            raise
        self._agents[(launch.ti_id, launch.try_number)] = agent
        SUBPROCESS_AGENTS.set(len(self._agents))
        watcher = asyncio.create_task(self._watch(agent), name=f"agent-{launch.task_id}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile(), name="agent-reconciler")

    async def _venv(self, launch: TaskLaunch, ref: TryLogRef, spec: DagSpec) -> Venv:
        inputs = self._venvs.inputs_for(spec)
        ready = self._venvs.ready(inputs)
        if ready is not None:
            return ready
        pending: list[asyncio.Task[None]] = []

        def progress(line: str) -> None:
            pending.append(asyncio.ensure_future(self._logs.write(ref, f"[leoflow] venv: {line}")))

        await self._logs.write(
            ref,
            f"[leoflow] waiting for the DAG virtualenv ({inputs.describe()}); it is built once "
            "per set of dependencies",
        )
        build = asyncio.ensure_future(self._venvs.ensure(inputs, progress))
        try:
            while True:
                done, _ = await asyncio.wait({build}, timeout=KEEP_QUEUED_SECONDS)
                if done:
                    break
                await keep_queued(self._db, launch.ti_id, launch.try_number)
            return build.result()
        except VenvBuildError as exc:
            await self._logs.write(ref, f"[leoflow] {exc}", level="error")
            raise ExecutorRefused(f"cannot build the DAG virtualenv: {exc}") from exc
        finally:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _take_slot(self, launch: TaskLaunch, ref: TryLogRef) -> None:
        started = time.monotonic()
        said = False
        async with self._slots:
            while self._running >= self.parallelism:
                if not said:
                    said = True
                    await self._logs.write(
                        ref,
                        f"[leoflow] waiting for a free slot ({self.parallelism} tasks already "
                        "running; raise LEOFLOW_SUBPROCESS_PARALLELISM for more)",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slots.wait(), KEEP_QUEUED_SECONDS)
                if self._running >= self.parallelism:
                    await keep_queued(self._db, launch.ti_id, launch.try_number)
            self._running += 1
        SUBPROCESS_SLOT_WAIT.observe(time.monotonic() - started)

    async def _free_slot(self) -> None:
        async with self._slots:
            self._running -= 1
            self._slots.notify()

    @staticmethod
    def _venv_environment(venv: Venv) -> dict[str, str]:
        """What every process of ``venv`` gets: this one's minus the control plane's, with the
        venv's interpreter first (and all an interpreter reads at start, for a fork server)."""
        env = agent_base_environment()
        env["VIRTUAL_ENV"] = str(venv.path)
        env["PATH"] = f"{venv.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _environment(
        self, launch: TaskLaunch, ref: TryLogRef, venv: Venv, token: str, dag_dir: Path
    ) -> dict[str, str]:
        env = self._venv_environment(venv)
        env.update(self._endpoint().agent_environment())
        env[agent_env.TOKEN] = token
        env[agent_env.WORK_ROOT] = str(self._work_root)
        env[agent_env.KILL_GRACE] = f"{self._kill_grace:g}"
        env[agent_env.DAG_DIR] = str(dag_dir)
        env[agent_env.TI_TENANT] = ref.tenant
        env[agent_env.TI_DAG_ID] = launch.dag_id
        env[agent_env.TI_RUN_ID] = launch.run_id
        env[agent_env.TI_TASK_ID] = launch.task_id
        env[agent_env.TI_MAP_INDEX] = str(launch.map_index)
        env[agent_env.TI_TRY_NUMBER] = str(launch.try_number)
        if launch.traceparent:
            env[agent_env.TRACEPARENT] = launch.traceparent
        env[agent_env.LOG_FORMAT] = current_log_format()
        return env

    # --- fork servers ----------------------------------------------------------------------

    def _fork_server(self, venv: Venv) -> ForkServer | None:
        """The ready fork server of ``venv``, or ``None`` (then spawn): starts one in the
        background the first time a venv is seen, and again a while after one failed."""
        if not self._use_fork_servers or self._closing:
            return None
        server = self._fork_servers.get(venv.key)
        if server is not None:
            if server.ready:
                self._fork_server_failed.pop(venv.key, None)
                return server
            if not server.closed:
                return None  # still importing
            del self._fork_servers[venv.key]
            failures = self._fork_server_failed.get(venv.key, (0, 0.0))[0] + 1
            self._fork_server_failed[venv.key] = (failures, time.monotonic())
        failed = self._fork_server_failed.get(venv.key)
        if failed is not None:
            failures, at = failed
            wait = min(
                FORK_SERVER_RETRY_SECONDS * 2 ** (failures - 1), FORK_SERVER_RETRY_MAX_SECONDS
            )
            if time.monotonic() - at < wait:
                return None
        server = ForkServer(venv.python, self._venv_environment(venv), self._work_root)
        self._fork_servers[venv.key] = server
        task = asyncio.create_task(self._start_fork_server(venv, server), name="fork-server")
        self._fork_server_starts.add(task)
        task.add_done_callback(self._fork_server_starts.discard)
        return None

    async def _start_fork_server(self, venv: Venv, server: ForkServer) -> None:
        try:
            await server.start()
        except ForkServerError as exc:
            log.warning(
                "agent fork server unavailable; agents are spawned instead",
                venv=str(venv.path),
                error=str(exc),
            )

    async def _start_agent(
        self, venv: Venv, env: dict[str, str], dag_dir: Path, template: _TemplateChoice | None
    ) -> AgentProcess:
        server = self._fork_server(venv)
        if server is not None:
            runtime, env = await self._template_runtime(venv, env, template)
            try:
                agent = await server.spawn(env, str(dag_dir), runtime=runtime)
            except ForkServerError as exc:
                if runtime is not None:
                    runtime.release()
                log.warning("agent fork server failed; spawning the agent", error=str(exc))
                await server.close()
            except BaseException:
                if runtime is not None:
                    runtime.release()
                raise
            else:
                if runtime is not None:
                    runtime.close_pipes()  # the agent has them now
                    agent.template_runtime = runtime
                return agent
        try:
            return await asyncio.create_subprocess_exec(
                str(venv.python),
                "-m",
                "leoflow_sdk.agent",
                cwd=str(dag_dir),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorRefused(f"cannot start the agent ({venv.python}): {exc}") from exc

    async def _template_runtime(
        self, venv: Venv, env: dict[str, str], template: _TemplateChoice | None
    ) -> tuple[TemplateRuntime | None, dict[str, str]]:
        """A runtime from the try's DAG runtime template when one is ready (and the agent's
        environment describing it), else ``None`` and ``env`` unchanged."""
        if template is None:
            return None, env
        key, source = template
        ready = self._templates.ready(key, venv.python, self._venv_environment(venv), source)
        if ready is None:
            return None, env
        try:
            runtime = await ready.spawn()
        except TemplateError as exc:
            log.warning("runtime template failed; the try imports its DAG", error=str(exc))
            await ready.close()
            return None, env
        return runtime, {**env, agent_env.RUNTIME_TEMPLATE: ready.description()}

    def _template_choice(
        self, launch: TaskLaunch, compiled: CompiledDag, venv: Venv, dag_dir: Path
    ) -> _TemplateChoice | None:
        """Which runtime template the try could use: python tasks of a DAG with a project
        folder and at least ``subprocess_runtime_template_min_tasks`` tasks."""
        if not self._use_templates or self._closing:
            return None
        task = compiled.tasks.get(launch.task_id)
        if task is None or task.type is not TaskType.PYTHON:
            return None
        key = self._templates.key_for(venv.key, compiled.spec, dag_dir)
        return None if key is None else (key, compiled.spec.source or "")

    async def _spawn(
        self, launch: TaskLaunch, ref: TryLogRef, venv: Venv, token: str, compiled: CompiledDag
    ) -> _Agent:
        if not self._work_root.is_dir():  # the agents' work folders go here
            self._work_root.mkdir(parents=True, mode=0o700, exist_ok=True)
        project = self._dag_dir_for(launch.dag_id) if self._dag_dir_for else None
        private: Path | None = None
        if project is not None and project.is_dir():
            dag_dir = project
        else:  # no project folder: the try gets an empty one of its own
            private = dag_dir = self._work_root / f"{launch.ti_id}-{launch.try_number}"
            shutil.rmtree(private, ignore_errors=True)
            private.mkdir(mode=0o700)
        env = self._environment(launch, ref, venv, token, dag_dir)
        template = self._template_choice(launch, compiled, venv, dag_dir) if not private else None
        try:
            process = await self._start_agent(venv, env, dag_dir, template)
        except BaseException:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            raise
        return _Agent(launch, process, ref, private)

    # --- watching --------------------------------------------------------------------------

    async def _watch(self, agent: _Agent) -> None:
        process = agent.process
        try:
            assert process.stdout is not None
            async for raw in process.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    agent.output.append(line)
                    relay_agent_output(line, **_correlation(agent))
            code = await process.wait()
        finally:
            self._signal_group(agent, signal.SIGKILL)  # leftovers of a dead agent
            runtime = getattr(process, "template_runtime", None)
            if runtime is not None:  # its runtime dies with it, as one it forked would
                runtime.release()
            self._agents.pop((agent.launch.ti_id, agent.launch.try_number), None)
            SUBPROCESS_AGENTS.set(len(self._agents))
            await self._free_slot()
            if agent.work_dir is not None:
                shutil.rmtree(agent.work_dir, ignore_errors=True)
        if code == EXIT_OK:
            return  # the agent reported the try's success before it exited
        with contextlib.suppress(Exception):
            await self._after_exit(agent, code)

    async def _after_exit(self, agent: _Agent, code: int | None) -> None:
        """An agent that exits while its try is still queued or running did not deliver an
        outcome: fail the try now (it may retry) rather than wait for a reaper."""
        launch = agent.launch
        states = await current_try_states(self._db, [launch.ti_id])
        state, number = states.get(launch.ti_id, (None, None))
        if number != launch.try_number or state not in _LIVE or self._closing:
            return
        if code is None:
            how = "exited (its exit status was lost with the fork server that started it)"
        elif code < 0:
            how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        error = f"the agent process {how} before reporting an outcome"
        for line in agent.output:
            await self._logs.write(agent.ref, f"[leoflow] agent output: {line}", level="error")
        await self._logs.write(agent.ref, f"[leoflow] {error}", level="error")
        result = await self._reporter.report(
            launch.ti_id, launch.try_number, TaskState.FAILED, error=error
        )
        if result.applied:
            await self._logs.end(agent.ref)

    def _signal_group(self, agent: _Agent, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(agent.process.pid, sig)

    async def _reconcile(self) -> None:
        """Stop agents whose try is over (cleared, marked, reaped): SIGTERM after the grace
        period, SIGKILL after another."""
        while self._agents:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            try:
                agents = list(self._agents.values())
                states = await current_try_states(self._db, [a.launch.ti_id for a in agents])
            except Exception as exc:  # the database is down: try again next round
                log.warning("cannot check running agents", error=str(exc))
                continue
            now = time.monotonic()
            for agent in agents:
                state, number = states.get(agent.launch.ti_id, (None, None))
                live = number == agent.launch.try_number and state in _LIVE
                await self._enforce(agent, None if live else (state, number), now)

    async def _enforce(
        self, agent: _Agent, over: tuple[TaskState | None, int | None] | None, now: float
    ) -> None:
        if over is None:
            agent.over_since = None
            return
        if agent.over_since is None:
            agent.over_since = now
        if agent.terminated_at is None and now - agent.over_since >= self._kill_grace:
            state, number = over
            now_is = f"{state.value} at try {number}" if state is not None else "gone"
            log.warning(
                "stopping an agent whose try is over",
                task_id=agent.launch.task_id,
                try_number=agent.launch.try_number,
                task_instance=now_is,
            )
            agent.terminated_at = now
            self._signal_group(agent, signal.SIGTERM)
            with contextlib.suppress(Exception):
                await self._logs.write(
                    agent.ref,
                    f"[leoflow] stopping the agent of try {agent.launch.try_number}: the task "
                    f"instance is now {now_is}",
                    level="warning",
                )
        elif agent.terminated_at is not None and now - agent.terminated_at >= self._kill_grace:
            self._signal_group(agent, signal.SIGKILL)

    # --- stopping --------------------------------------------------------------------------

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        """Ask the agent to stop (it forwards SIGTERM to the task and reports); kill after
        the grace period."""
        agent = self._agents.get((ti_id, try_number))
        if agent is None:
            return
        with contextlib.suppress(ProcessLookupError):
            agent.process.send_signal(signal.SIGTERM)
        agent.terminated_at = time.monotonic()
        agent.over_since = agent.over_since or agent.terminated_at

    async def close(self) -> None:
        """SIGTERM every agent (each reports its try), wait for the grace period, then kill."""
        self._closing = True
        agents = list(self._agents.values())
        for agent in agents:
            with contextlib.suppress(ProcessLookupError):
                agent.process.send_signal(signal.SIGTERM)
        waits = [agent.process.wait() for agent in agents]
        if waits:
            _, still = await asyncio.wait(
                [asyncio.ensure_future(w) for w in waits], timeout=self._kill_grace + 5
            )
            if still:
                for agent in agents:
                    self._signal_group(agent, signal.SIGKILL)
        await asyncio.gather(*self._watchers, return_exceptions=True)
        if self._reconciler is not None:
            self._reconciler.cancel()
            await asyncio.gather(self._reconciler, return_exceptions=True)
        for task in list(self._fork_server_starts):
            task.cancel()
        await asyncio.gather(*self._fork_server_starts, return_exceptions=True)
        servers, self._fork_servers = list(self._fork_servers.values()), {}
        await asyncio.gather(*(server.close() for server in servers), return_exceptions=True)
        await self._templates.close()
