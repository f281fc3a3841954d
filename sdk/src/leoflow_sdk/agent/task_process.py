"""The user process of one try: started, read line by line, stopped.

The process leads its own process group (a new session), so stopping the task reaches
everything it started (a shell pipeline, a pool of workers), not only its first process:
SIGTERM to the group, a grace period, then SIGKILL to the group. Its stdout and stderr are read
as they are written and handed over line by line; a third pipe carries the runtime's own
``[leoflow]`` notices. Lines longer than ``MAX_LINE_BYTES`` are split, and undecodable bytes
are replaced, so a binary or runaway output cannot stall the agent.

A process can be started *on standby* before the agent has even imported gRPC: a runtime that
boots and imports the shim while the agent talks to the control plane, then receives its
environment on stdin when the try starts (``launch``). Processes are started by ``spawn``
(before the event loop exists, for a standby); exits are watched through a pidfd.

A runtime forked by a runtime template (``runtime_template``) is not the agent's child: its
exit status arrives on a status pipe from the template instead, and the agent never reaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
from collections.abc import Callable, Mapping

from leoflow_sdk.agent.spawn import SpawnedProcess
from leoflow_sdk.runtime import contract

MAX_LINE_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024

STATUS_LOST = 1
"""The exit code used for a template's runtime whose status was lost with its template (the
try's outcome file still decides when the runtime wrote one)."""

LineSink = Callable[[int, str], None]
"""Receives ``(stream, line)``; ``stream`` is the log stream enum value."""


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").removesuffix("\r")


async def _pump(reader: asyncio.StreamReader, stream: int, sink: LineSink) -> None:
    pending = b""
    while chunk := await reader.read(_READ_CHUNK):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            sink(stream, _decode(line))
        while len(pending) > MAX_LINE_BYTES:
            sink(stream, _decode(pending[:MAX_LINE_BYTES]))
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        sink(stream, _decode(pending))


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES * 2)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader


def _exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class TaskProcess:
    """A started user process and the readers of its output."""

    def __init__(self, spawned: SpawnedProcess) -> None:
        self.pid = spawned.pid
        self._stdin = spawned.stdin
        self._fds = [spawned.stdout, spawned.stderr, spawned.notices]
        self._notice_fd = spawned.notice_fd
        self._status = spawned.status
        self.from_template = spawned.status is not None
        """Forked by a runtime template: not this process's child."""
        self._readers: list[asyncio.Task[None]] = []
        self._exit: asyncio.Future[int] | None = None
        self.returncode: int | None = None
        self.killed_by_agent = False

    @property
    def on_standby(self) -> bool:
        """Whether the process still waits for ``launch``."""
        return self._stdin is not None

    def is_alive(self) -> bool:
        """Whether the process has not exited yet (without reaping it)."""
        if self.returncode is not None:
            return False
        if self.from_template:  # the template writes the status (or closes) once it ended
            status = self._status
            return status is not None and not select.select([status], [], [], 0)[0]
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    async def attach(
        self, sink: LineSink, *, stdout_stream: int, stderr_stream: int, notice_stream: int
    ) -> None:
        """Start reading the output into ``sink`` and watching for the exit."""
        loop = asyncio.get_running_loop()
        streams = (stdout_stream, stderr_stream, notice_stream)
        for fd, stream in zip(self._fds, streams, strict=True):
            reader = await _pipe_reader(fd)
            self._readers.append(asyncio.create_task(_pump(reader, stream, sink)))
        self._exit = loop.create_future()
        if self._status is not None:
            self._watch_status(loop, self._status)
            return
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            waiting = loop.run_in_executor(None, _exit_code, self.pid)
            waiting.add_done_callback(lambda done: self._set_exit(done.result()))
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._set_exit(_exit_code(self.pid))

        loop.add_reader(pidfd, on_exit)

    def _watch_status(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """Learn the exit status of a template's runtime from its status pipe."""
        chunks: list[bytes] = []

        def on_readable() -> None:
            data = os.read(fd, 4096)
            if data:
                chunks.append(data)
                return
            loop.remove_reader(fd)
            os.close(fd)
            self._status = None
            try:
                code = json.loads(b"".join(chunks)).get("code")
            except (ValueError, AttributeError):
                code = None
            if isinstance(code, int):
                self._set_exit(code)
            else:  # the template is gone: wait for the process itself
                self._wait_status_lost(loop)

        loop.add_reader(fd, on_readable)

    def _wait_status_lost(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:
            self._set_exit(STATUS_LOST)
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._set_exit(STATUS_LOST)

        loop.add_reader(pidfd, on_exit)

    def _set_exit(self, code: int) -> None:
        self.returncode = code
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    async def launch(self, env: Mapping[str, str], spec_text: str | None = None) -> None:
        """Hand a standby process its environment (and the task spec, instead of the spec
        file): from now on it runs the try."""
        assert self._stdin is not None, "launch() is for processes spawned on standby"
        launched: dict[str, object] = {"env": {**env, contract.NOTICE_FD: str(self._notice_fd)}}
        if spec_text is not None:
            launched["spec"] = spec_text
        message = json.dumps(launched)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(self._stdin, "wb", buffering=0)
        )
        self._stdin = None
        transport.write(message.encode("utf-8"))
        transport.close()

    async def wait(self) -> int:
        """Wait for the process (not its output) to end."""
        assert self._exit is not None, "attach() first"
        return await asyncio.shield(self._exit)

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the whole process group (quietly if it is gone)."""
        if self.from_template and not self.is_alive():
            return  # reaped by its template: the pid may belong to someone else by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    async def stop(self, grace_seconds: float) -> None:
        """SIGTERM the group, then SIGKILL it if the process outlives ``grace_seconds``."""
        self.killed_by_agent = True
        self.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.wait(), grace_seconds)
        except TimeoutError:
            self.signal_group(signal.SIGKILL)
            await self.wait()

    def kill(self) -> None:
        """SIGKILL the group at once (a second stop request)."""
        self.killed_by_agent = True
        self.signal_group(signal.SIGKILL)

    def discard(self) -> None:
        """Kill and reap a process that will not run a try (an unused standby)."""
        self.kill()
        if self._stdin is not None:
            os.close(self._stdin)
            self._stdin = None
        if self._exit is None:
            for fd in self._fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if self._status is not None:  # its template reaps it
                os.close(self._status)
                self._status = None
                return
            with contextlib.suppress(ChildProcessError):
                self.returncode = _exit_code(self.pid)

    async def drain(self, within_seconds: float) -> bool:
        """Read the output to its end; ``False`` when leftover processes kept it open and were
        killed (a background job that outlived the task must not hold the try open)."""
        _, pending = await asyncio.wait(self._readers, timeout=within_seconds)
        if not pending:
            return True
        self.signal_group(signal.SIGKILL)
        _, pending = await asyncio.wait(pending, timeout=1.0)
        for reader in pending:
            reader.cancel()
        return False
