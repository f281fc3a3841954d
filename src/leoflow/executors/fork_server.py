"""The control plane's side of the agent fork servers (``leoflow_sdk.agent.fork_server``).

Spawning ``python -m leoflow_sdk.agent`` costs every try an interpreter start and the gRPC and
protobuf imports, then the same again for its runtime: about 300 ms of CPU on a 2-vCPU machine,
which made short tasks wait on start-up and capped throughput at a few tasks per second. A fork
server is started once per DAG virtualenv; it has done those imports and forks one fresh,
single-use agent per try (the agent forks its runtime the same way), so both start in a few
milliseconds. Each try still has its own processes, which exit when it ends.

:class:`ForkServer` talks to one server over a ``SOCK_SEQPACKET`` socket pair: it asks for an
agent with a working directory and two pipes (output, and a private one on which it then writes
the agent's environment, token included, so the server never sees it), gets back the pid and a
pidfd, and learns each agent's exit status. :class:`ForkedAgent` offers the executor what it
uses of ``asyncio.subprocess.Process``. Anything going wrong raises :class:`ForkServerError`,
and the executor then spawns the agent the plain way.

A server dies with the control plane (the socket closes; it also has ``PR_SET_PDEATHSIG``).
Agents it forked run on, as spawned ones do: a control plane coming back finds them reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from leoflow.executors.runtime_templates import TemplateRuntime
from leoflow.telemetry import get_logger
from leoflow_sdk.agent import fork_server as protocol

log = get_logger(__name__)

READY_TIMEOUT_SECONDS = 60.0
"""How long a server may take to import everything before it is given up."""

SPAWN_TIMEOUT_SECONDS = 5.0
"""How long a fork may take to be answered before the try is spawned the plain way."""

UNKNOWN_EXIT = None
"""``ForkedAgent.wait()`` when the exit status is lost (its server stopped before the agent)."""


class ForkServerError(RuntimeError):
    """The fork server cannot start this agent; the message says why."""


class ForkedAgent:
    """An agent forked by a fork server, as the executor watches and stops it."""

    def __init__(self, pid: int, pidfd: int, stdout: asyncio.StreamReader) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self.template_runtime: TemplateRuntime | None = None
        """The runtime a runtime template forked for this agent (killed when the agent ends)."""
        self._pidfd: int | None = pidfd
        self._exit: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int | None:
        """Its exit code (negative: the signal that killed it), ``None`` when unknowable."""
        return await asyncio.shield(self._exit)

    def send_signal(self, signum: int) -> None:
        """Signal the agent through its pidfd (never a process that reused its pid)."""
        if self._pidfd is None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, signum)

    def exited(self, code: int | None) -> None:
        """The server (or the pidfd) says the agent is gone."""
        if self._pidfd is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self._exit.done():
            self.returncode = code
            self._exit.set_result(code)

    def watch_pidfd(self) -> None:
        """The server is gone: learn the exit from the pidfd instead (status unknown)."""
        if self._pidfd is not None and not self._exit.done():
            loop = asyncio.get_running_loop()
            loop.add_reader(self._pidfd, self.exited, UNKNOWN_EXIT)


def _nonblocking_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    return ours, theirs


class ForkServer:
    """One fork server process: start, ask for agents, stop."""

    def __init__(self, python: Path, env: Mapping[str, str], cwd: Path) -> None:
        self.python = python
        self._env = dict(env)
        self._cwd = cwd
        self._process: asyncio.subprocess.Process | None = None
        self._socket: socket.socket | None = None
        self._ready: asyncio.Future[int] | None = None
        self._pending: dict[int, asyncio.Future[tuple[int, int]]] = {}
        self._agents: dict[int, ForkedAgent] = {}
        self._early_exits: dict[int, int | None] = {}
        """Exits reported before their agent's handle was made (killed within microseconds)."""
        self._ids = itertools.count(1)
        self._stderr_task: asyncio.Task[None] | None = None
        self.closed = False
        self.started_at = time.monotonic()

    @property
    def ready(self) -> bool:
        """Whether agents can be asked for now."""
        ready = self._ready
        return (
            not self.closed
            and ready is not None
            and ready.done()
            and not ready.cancelled()
            and ready.exception() is None
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, within_seconds: float = READY_TIMEOUT_SECONDS) -> None:
        """Start the server and wait until it has done its imports."""
        loop = asyncio.get_running_loop()
        ours, theirs = _nonblocking_pair()
        self._socket = ours
        self._ready = loop.create_future()
        try:
            self._cwd.mkdir(parents=True, exist_ok=True)
            self._process = await asyncio.create_subprocess_exec(
                *protocol.server_argv(str(self.python), theirs.fileno()),
                pass_fds=[theirs.fileno()],
                env=self._env,
                cwd=str(self._cwd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self._lost()
            raise ForkServerError(f"cannot start {self.python}: {exc}") from exc
        finally:
            theirs.close()
        loop.add_reader(ours.fileno(), self._on_readable)
        self._stderr_task = asyncio.create_task(self._relay_stderr(), name="fork-server-stderr")
        try:
            pid = await asyncio.wait_for(asyncio.shield(self._ready), within_seconds)
        except TimeoutError:
            await self.close()
            raise ForkServerError(f"not ready after {within_seconds:g} s") from None
        except ForkServerError:
            await self.close()
            raise
        log.info("agent fork server ready", python=str(self.python), pid=pid)

    async def spawn(
        self,
        env: Mapping[str, str],
        cwd: str,
        within_seconds: float = SPAWN_TIMEOUT_SECONDS,
        *,
        runtime: TemplateRuntime | None = None,
    ) -> ForkedAgent:
        """A new agent running with ``env`` in ``cwd`` (its output on ``stdout``).

        ``runtime``: a runtime on standby from the DAG's runtime template, which the agent
        uses instead of forking its own (the caller keeps and later closes its handles).
        """
        if not self.ready or self._socket is None:
            raise ForkServerError("the fork server is not running")
        loop = asyncio.get_running_loop()
        spawn_id = next(self._ids)
        answer: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._pending[spawn_id] = answer
        env_read, env_write = os.pipe()
        out_read, out_write = os.pipe()
        request: dict[str, object] = {"spawn": spawn_id, "cwd": cwd}
        handed = [env_read, out_write]
        if runtime is not None:
            request["runtime"] = {"pid": runtime.pid, "notice_fd": runtime.notice_fd}
            handed += runtime.fds
        try:
            message = protocol.encode(request)
            socket.send_fds(self._socket, [message], handed)
        except OSError as exc:
            self._pending.pop(spawn_id, None)
            for fd in (env_write, out_read):
                os.close(fd)
            raise ForkServerError(f"cannot reach the fork server: {exc}") from exc
        finally:
            os.close(env_read)
            os.close(out_write)
        try:
            pid, pidfd = await asyncio.wait_for(answer, within_seconds)
        except BaseException as exc:
            self._pending.pop(spawn_id, None)
            os.close(env_write)  # a late child reads no environment and exits
            os.close(out_read)
            if isinstance(exc, TimeoutError):
                raise ForkServerError(f"no answer within {within_seconds:g} s") from None
            raise
        agent = ForkedAgent(pid, pidfd, await _pipe_reader(out_read))
        if pid in self._early_exits:
            agent.exited(self._early_exits.pop(pid))
        elif self.closed:
            agent.watch_pidfd()
        else:
            self._agents[pid] = agent
        await _write_all(env_write, protocol.encode({"env": dict(env)}))
        return agent

    def _on_readable(self) -> None:
        assert self._socket is not None
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self._socket, protocol.MAX_MESSAGE_BYTES, 1)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._lost()
                return
            self._handle(protocol.decode(data), fds)

    def _handle(self, message: dict[str, object], fds: list[int]) -> None:
        if "exited" in message:
            pid, code = message["exited"], message.get("code")
            if not isinstance(pid, int):
                return
            status = code if isinstance(code, int) else UNKNOWN_EXIT
            agent = self._agents.pop(pid, None)
            if agent is not None:
                agent.exited(status)
            else:
                self._early_exits[pid] = status
                while len(self._early_exits) > 1000:  # abandoned spawns: forget the oldest
                    self._early_exits.pop(next(iter(self._early_exits)))
        elif "spawned" in message:
            spawn_id = message["spawned"]
            answer = self._pending.pop(spawn_id, None) if isinstance(spawn_id, int) else None
            pid = message.get("pid")
            if answer is None or answer.done():
                for fd in fds:
                    os.close(fd)
            elif isinstance(pid, int) and len(fds) == 1:
                answer.set_result((pid, fds[0]))
            else:
                for fd in fds:
                    os.close(fd)
                answer.set_exception(ForkServerError(str(message.get("error") or "no pid")))
        elif "ready" in message and self._ready is not None and not self._ready.done():
            if message["ready"] is True and isinstance(message.get("pid"), int):
                self._ready.set_result(int(message["pid"]))  # type: ignore[call-overload]
            else:
                self._ready.set_exception(ForkServerError(str(message.get("error"))))

    def _lost(self) -> None:
        """The server is gone (or was closed): nothing more can be asked of it."""
        self.closed = True
        if self._socket is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ForkServerError("the fork server exited"))
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ForkServerError("the fork server exited"))
        self._pending.clear()
        for agent in self._agents.values():
            agent.watch_pidfd()
        self._agents.clear()

    async def _relay_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                log.warning("agent fork server", python=str(self.python), line=line)

    async def close(self, within_seconds: float = 5.0) -> None:
        """Stop the server (agents it forked run on) and wait for it to exit."""
        self._lost()
        process = self._process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), within_seconds)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._stderr_task is not None:
            await asyncio.gather(self._stderr_task, return_exceptions=True)


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader


async def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to a pipe and close it, without blocking the loop on a full pipe."""
    loop = asyncio.get_running_loop()
    pipe = os.fdopen(fd, "wb", buffering=0)
    try:
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)
    except BaseException:
        pipe.close()
        raise
    transport.write(data)
    transport.close()  # flushes what is buffered, then closes: the child reads EOF
