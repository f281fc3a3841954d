"""Runtime templates: one warm process per DAG version that imported the DAG file once.

Every try imports its DAG file again (as in Airflow), and a DAG file that defines a thousand
tasks costs milliseconds to import: a cost per try that grows with the DAG. For a DAG version
with many tasks, the subprocess executor starts a template once
(``leoflow_sdk.agent.runtime_template``: it imports the DAG module exactly as a runtime would,
and refuses when that import cannot stand for every try), asks it for a fresh runtime per try
and hands that runtime to the try's agent through the agent fork server. Every try still gets
its own processes, forked from the template, never from another try.

A template is keyed by the exact DAG version: the venv, the digest of the DAG source, its
module name and its project folder. It is started in the background on the first try of a
version (that try and any until it is ready import the DAG themselves), kept while it is used,
and closed when idle for ``IDLE_SECONDS`` or when more than ``MAX_TEMPLATES`` are alive
(least recently used first). A template that refuses (or fails) is remembered, and that
version's tries import the DAG themselves.

The template is the runtime's parent, not the agent: when an agent exits, the executor kills
its runtime if it still runs (what ``PR_SET_PDEATHSIG`` does for a runtime forked by its
agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leoflow.spec import DagSpec
from leoflow.telemetry import get_logger
from leoflow_sdk.agent import fork_server as protocol
from leoflow_sdk.agent import runtime_template as template_protocol

log = get_logger(__name__)

READY_TIMEOUT_SECONDS = 120.0
"""How long a template may take to import its DAG before it is given up."""
SPAWN_TIMEOUT_SECONDS = 5.0
IDLE_SECONDS = 300.0
MAX_TEMPLATES = 8


class TemplateError(RuntimeError):
    """The template cannot give a runtime; the message says why."""


@dataclass
class TemplateRuntime:
    """A runtime on standby forked by a template: its pid, a pidfd, the agent's pipe ends."""

    pid: int
    pidfd: int
    notice_fd: int
    fds: tuple[int, ...]
    """stdin (write end), stdout, stderr, notices and status (read ends)."""
    _pipes_open: bool = True
    _pidfd_open: bool = True

    def close_pipes(self) -> None:
        """Close this process's copies of the pipes (once handed to the agent, or unused)."""
        if self._pipes_open:
            self._pipes_open = False
            for fd in self.fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def release(self) -> None:
        """Forget the runtime: SIGKILL it if it still runs (through its pidfd, never a reused
        pid), close every descriptor. What ``PR_SET_PDEATHSIG`` does when an agent exits."""
        self.close_pipes()
        if self._pidfd_open:
            self._pidfd_open = False
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.close(self.pidfd)


@dataclass(frozen=True)
class TemplateKey:
    """The exact DAG version a template imported."""

    venv: str
    digest: str
    module: str
    dag_dir: str


class RuntimeTemplate:
    """One template process: start it (it imports the DAG), ask it for runtimes, close it."""

    def __init__(
        self, python: Path, env: Mapping[str, str], key: TemplateKey, source_file: Path
    ) -> None:
        self.python = python
        self.key = key
        self.source_file = source_file
        self._env = dict(env)
        self._process: asyncio.subprocess.Process | None = None
        self._socket: socket.socket | None = None
        self._ready: asyncio.Future[dict[str, str | None]] | None = None
        self._pending: dict[int, asyncio.Future[TemplateRuntime]] = {}
        self._ids = itertools.count(1)
        self._stderr_task: asyncio.Task[None] | None = None
        self.closed = False
        self.refusal: str | None = None
        self.last_used = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        """Whether runtimes can be asked for now."""
        ready = self._ready
        return (
            not self.closed
            and ready is not None
            and ready.done()
            and not ready.cancelled()
            and ready.exception() is None
        )

    def description(self) -> str:
        """``LEOFLOW_AGENT_RUNTIME_TEMPLATE`` for the agent of a try given one of its runtimes."""
        assert self._ready is not None and self.ready
        return json.dumps(
            {
                "module": self.key.module,
                "source_sha256": self.key.digest,
                "env_reads": self._ready.result(),
            }
        )

    async def start(self, within_seconds: float = READY_TIMEOUT_SECONDS) -> None:
        """Start the template and wait until it has imported the DAG (``TemplateError`` if it
        refused or failed: ``refusal`` says why)."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self._socket = ours
        self._ready = loop.create_future()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *template_protocol.template_argv(str(self.python), theirs.fileno()),
                pass_fds=[theirs.fileno()],
                env=self._env,
                cwd=self.key.dag_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self._lost(f"cannot start {self.python}: {exc}")
            raise TemplateError(self.refusal) from exc
        finally:
            theirs.close()
        loop.add_reader(ours.fileno(), self._on_readable)
        self._stderr_task = asyncio.create_task(self._relay_stderr(), name="runtime-template")
        load = {"module": self.key.module, "source_file": str(self.source_file)}
        ours.send(protocol.encode({"load": {**load, "dag_dir": self.key.dag_dir}}))
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), within_seconds)
        except TimeoutError:
            self._lost(f"did not import the DAG within {within_seconds:g} s")
            await self.close()
            raise TemplateError(self.refusal) from None
        except TemplateError:
            await self.close()
            raise

    async def spawn(self, within_seconds: float = SPAWN_TIMEOUT_SECONDS) -> TemplateRuntime:
        """A fresh runtime on standby."""
        if not self.ready or self._socket is None:
            raise TemplateError("the runtime template is not running")
        self.last_used = time.monotonic()
        spawn_id = next(self._ids)
        answer: asyncio.Future[TemplateRuntime] = asyncio.get_running_loop().create_future()
        self._pending[spawn_id] = answer
        try:
            self._socket.send(protocol.encode({"spawn": spawn_id}))
            return await asyncio.wait_for(answer, within_seconds)
        except OSError as exc:
            raise TemplateError(f"cannot reach the runtime template: {exc}") from exc
        except TimeoutError:
            raise TemplateError(f"no runtime within {within_seconds:g} s") from None
        finally:
            self._pending.pop(spawn_id, None)

    def _on_readable(self) -> None:
        assert self._socket is not None
        while self._socket is not None:
            try:
                data, fds, _, _ = socket.recv_fds(self._socket, protocol.MAX_MESSAGE_BYTES, 6)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._lost("the runtime template exited")
                return
            self._handle(protocol.decode(data), fds)

    def _handle(self, message: dict[str, object], fds: list[int]) -> None:
        if "spawned" in message:
            spawn_id = message["spawned"]
            answer = self._pending.get(spawn_id) if isinstance(spawn_id, int) else None
            pid, notice_fd = message.get("pid"), message.get("notice_fd")
            usable = answer is not None and not answer.done() and len(fds) == 6
            if usable and isinstance(pid, int) and isinstance(notice_fd, int):
                assert answer is not None
                pidfd, *pipes = fds
                answer.set_result(TemplateRuntime(pid, pidfd, notice_fd, tuple(pipes)))
                return
            for fd in fds:
                os.close(fd)
            if answer is not None and not answer.done():
                answer.set_exception(TemplateError(str(message.get("error") or "no runtime")))
        elif "ready" in message and self._ready is not None and not self._ready.done():
            reads = message.get("env_reads")
            if message["ready"] is True and isinstance(reads, dict):
                self._ready.set_result({str(k): v for k, v in reads.items()})
            else:
                self.refusal = str(message.get("error") or "refused")
                self._ready.set_exception(TemplateError(self.refusal))

    def _lost(self, why: str) -> None:
        """Nothing more can be asked of the template."""
        self.closed = True
        if self.refusal is None:
            self.refusal = why
        if self._socket is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TemplateError(why))
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(TemplateError(why))

    async def _relay_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                log.warning("runtime template", dag_module=self.key.module, line=line)

    async def exited(self) -> None:
        """Wait until the template process has exited (after its last runtime)."""
        if self._process is not None:
            await self._process.wait()
        if self._stderr_task is not None:
            await asyncio.gather(self._stderr_task, return_exceptions=True)

    async def close(self, within_seconds: float = 0.0) -> None:
        """Stop asking for runtimes; the template exits once the runtimes it forked have.

        ``within_seconds`` > 0 waits that long for it (then kills it: executor shutdown).
        """
        self._lost("closed")
        process = self._process
        if process is not None and process.returncode is None and within_seconds > 0:
            try:
                await asyncio.wait_for(process.wait(), within_seconds)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._stderr_task is not None and (process is None or process.returncode is not None):
            await asyncio.gather(self._stderr_task, return_exceptions=True)


class RuntimeTemplates:
    """The templates of one executor: which DAG versions get one, started and closed when."""

    def __init__(self, root: Path, *, min_tasks: int) -> None:
        self.root = root
        self.min_tasks = min_tasks
        self._templates: dict[TemplateKey, RuntimeTemplate] = {}
        self._refused: dict[TemplateKey, str] = {}
        self._starts: set[asyncio.Task[None]] = set()
        self._digests: dict[str, str] = {}

    def key_for(self, venv: str, spec: DagSpec, dag_dir: Path) -> TemplateKey | None:
        """The key of the template ``spec`` would get, ``None`` when it gets none (no Python
        source, or fewer tasks than ``min_tasks``: its import is cheap anyway)."""
        if not spec.source_module or not spec.source or len(spec.tasks) < self.min_tasks:
            return None
        digest = self._digests.get(spec.source)  # asked for every try: hashed once per source
        if digest is None:
            if len(self._digests) >= 4 * MAX_TEMPLATES:
                self._digests.clear()
            digest = self._digests[spec.source] = template_protocol.source_digest(spec.source)
        return TemplateKey(venv, digest, spec.source_module, str(dag_dir))

    def ready(
        self, key: TemplateKey, python: Path, env: Mapping[str, str], source: str
    ) -> RuntimeTemplate | None:
        """The ready template of ``key``, or ``None``: starts one in the background the first
        time a key is seen (not again after it refused)."""
        self._close_idle()
        template = self._templates.get(key)
        if template is not None:
            if template.ready:
                return template
            if template.closed:  # refused, failed or exited: that version does without
                del self._templates[key]
                self._refused[key] = template.refusal or "closed"
            return None
        if key in self._refused:
            return None
        template = RuntimeTemplate(python, env, key, self._write_source(key, source))
        self._templates[key] = template
        task = asyncio.create_task(self._start(template), name="runtime-template-start")
        self._starts.add(task)
        task.add_done_callback(self._starts.discard)
        return None

    def _write_source(self, key: TemplateKey, source: str) -> Path:
        name = "\0".join((key.venv, key.digest, key.module, key.dag_dir))
        folder = self.root / hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{key.module}.py"
        temporary = folder / f".{key.module}.py.tmp"
        temporary.write_text(source, encoding="utf-8")
        temporary.replace(path)
        return path

    async def _start(self, template: RuntimeTemplate) -> None:
        try:
            await template.start()
        except Exception as exc:  # refused, failed, or could not be asked: do without
            log.info(
                "no runtime template for this DAG version; its tries import the DAG file",
                dag_module=template.key.module,
                reason=str(exc),
            )
            self._refused[template.key] = str(exc)
            self._templates.pop(template.key, None)
            await template.close(within_seconds=5.0)
            self._remove_source(template)
            return
        log.info("runtime template ready", dag_module=template.key.module, venv=template.key.venv)

    def _remove_source(self, template: RuntimeTemplate) -> None:
        shutil.rmtree(template.source_file.parent, ignore_errors=True)

    def _close_idle(self) -> None:
        now = time.monotonic()
        live = [t for t in self._templates.values() if t.ready]
        live.sort(key=lambda t: t.last_used)
        excess = max(0, len(live) - MAX_TEMPLATES)
        for index, template in enumerate(live):
            if index < excess or now - template.last_used > IDLE_SECONDS:
                del self._templates[template.key]
                task = asyncio.create_task(self._retire(template), name="runtime-template-close")
                self._starts.add(task)
                task.add_done_callback(self._starts.discard)

    async def _retire(self, template: RuntimeTemplate) -> None:
        await template.close()
        await template.exited()  # its runtimes may still run (and read their source file)
        self._remove_source(template)

    async def close(self) -> None:
        """Close every template (waiting a little for each to exit)."""
        for task in list(self._starts):
            task.cancel()
        await asyncio.gather(*self._starts, return_exceptions=True)
        templates, self._templates = list(self._templates.values()), {}
        await asyncio.gather(*(t.close(within_seconds=5.0) for t in templates))
        for template in templates:
            self._remove_source(template)
