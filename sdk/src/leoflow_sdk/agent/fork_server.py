"""A warm agent template for one Python environment: one fresh, single-use agent per try.

A spawned agent pays for an interpreter start and the asyncio, gRPC and protobuf imports before
its first call, and its runtime on standby as much again: on a 2-vCPU machine about 300 ms of CPU
per try, most of a short task. An executor that launches many tries into the same environment
(Lite: one per DAG virtualenv) starts this server once instead (``python -P -m
leoflow_sdk.agent.fork_server FD``). It imports what an agent and a runtime need, then waits. For
each try it forks a child that becomes that try's agent, and the agent forks its runtime on
standby from the same warm state, so both are ready in a few milliseconds. Every try still gets
its own processes, which exit when the try ends.

Why a forked agent is as clean as a spawned one:

* **The server never holds task data.** A request names only the working directory and hands
  over two descriptors: the agent's output pipe and a private pipe on which the executor writes
  the agent's environment (its token among it). The child reads that pipe after the fork, so no
  try's token ever exists in the server's memory, nor in any later child.
* **The runtime is forked before the agent reads its environment**, so user code never shares
  memory with the token either (``gc.get_objects()`` in a task finds no agent settings). A
  runtime handed over from a runtime template was forked by the template, which never holds
  anything of a try, and the agent never holds the DAG's code.
* **Nothing that does not survive a fork exists at fork time.** The server is single-threaded
  (checked before every fork) and never creates a gRPC channel or an event loop: the agent
  creates its channel after the fork, so gRPC's fork support (``GRPC_ENABLE_FORK_SUPPORT``) is
  neither needed nor relied on.
* A child closes the server's descriptors and leads its own session, as a spawned agent does.
* Interpreter-level settings (``PYTHON*``, ``LD_*``, glibc tunables) act at interpreter start,
  which a fork is past: a child whose environment differs from the server's there execs a
  fresh ``python -m leoflow_sdk.agent`` (same pid) instead.

Known differences from a spawned process: ``sys.modules`` already holds the agent's and the
runtime's modules, and the tries of one server share its ``str`` hash seed (as the workers of a
forking server do).

Protocol, on a ``SOCK_SEQPACKET`` unix socket inherited as descriptor ``FD`` (one JSON object per
datagram):

* server → executor, once warm: ``{"ready": true, "pid": …}`` (or ``{"ready": false, "error"}``);
* executor → server: ``{"spawn": id, "cwd": path}`` with descriptors ``[environment pipe (read
  end), output pipe (write end)]``; the executor then writes ``{"env": {...}}`` to the
  environment pipe and closes it. A request may add ``"runtime": {"pid", "notice_fd"}`` and
  five more descriptors (``[stdin (write end), stdout, stderr, notices, status (read ends)]``):
  a runtime on standby forked by the try's DAG's runtime template
  (``leoflow_sdk.agent.runtime_template``), which the agent then uses instead of forking one;
* server → executor: ``{"spawned": id, "pid": pid}`` with the child's pidfd, or ``{"spawned": id,
  "error": …}``;
* server → executor, when a child exits: ``{"exited": pid, "code": exit code}``
  (negative: killed by that signal).

End of file on the socket (the executor closed it or died) stops the server; its children run on.
The server also dies with its parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import selectors
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

MODULE = "leoflow_sdk.agent.fork_server"
MAX_MESSAGE_BYTES = 64 * 1024
"""Largest datagram either side sends (requests and answers are a few dozen bytes)."""

INTERPRETER_PREFIXES = ("PYTHON", "LD_", "GLIBC_TUNABLES", "MALLOC_")
"""Environment variables that act when an interpreter starts, so a fork cannot honour them."""


def server_argv(python: str, fd: int) -> list[str]:
    """The command that starts a fork server talking on inherited descriptor ``fd``."""
    return [python, "-P", "-m", MODULE, str(fd)]


def encode(message: Mapping[str, Any]) -> bytes:
    """One datagram of the protocol."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def decode(data: bytes) -> dict[str, Any]:
    """The message of one datagram (an empty dict for anything that is not an object)."""
    try:
        message = json.loads(data)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def interpreter_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that only a fresh interpreter can honour."""
    return {k: v for k, v in environ.items() if k.startswith(INTERPRETER_PREFIXES)}


def warm_up() -> None:
    """Import everything an agent and a runtime on standby import, and nothing task-specific.

    Modules only; no channel, event loop, thread or open file is created (a fork would copy
    them into every try).
    """
    import asyncio  # noqa: F401
    import ctypes  # noqa: F401 - the runtime's lifeline (PR_SET_PDEATHSIG)

    import grpc
    import grpc.aio  # noqa: F401

    import leoflow_sdk.agent.__main__
    import leoflow_sdk.agent.control_plane
    import leoflow_sdk.agent.supervisor  # noqa: F401
    from leoflow_sdk.runtime import standby

    standby.warm_up(None)


def exit_forked(run: Callable[[], int]) -> NoReturn:
    """Run a forked child's work and end the process as interpreter shutdown would, minus
    tearing down the heap it shares with the server.

    A normal exit deallocates every object the server imported, which writes to every page of
    it (copy-on-write) and cost more than the try itself. What user code can observe of a
    shutdown is kept: non-daemon threads are waited for, ``atexit`` handlers run, standard
    streams are flushed; an uncaught exception prints its traceback and exits 1, and
    ``SystemExit`` exits with its code, as ``python`` does.
    """
    try:
        code: object = run()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined] # what Py_FinalizeEx does first
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code & 0xFF)


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - Linux only
        import threading

        return threading.active_count()


@dataclass(frozen=True)
class TemplateRuntime:
    """A runtime on standby forked by a runtime template for this try (not this agent's child:
    its exit status arrives on ``status``)."""

    pid: int
    notice_fd: int
    stdin: int
    stdout: int
    stderr: int
    notices: int
    status: int

    @classmethod
    def from_request(cls, described: Any, fds: list[int]) -> TemplateRuntime | None:
        """The runtime a spawn request hands over, ``None`` when it is malformed."""
        if not isinstance(described, dict) or len(fds) != 5:
            return None
        pid, notice_fd = described.get("pid"), described.get("notice_fd")
        if not isinstance(pid, int) or not isinstance(notice_fd, int):
            return None
        return cls(pid, notice_fd, *fds)


@dataclass
class AgentChild:
    """What a forked child runs: one try's agent (and, forked from it, the runtime)."""

    cwd: str
    env_fd: int
    out_fd: int
    interpreter: dict[str, str]
    runtime: TemplateRuntime | None = None

    def run(self) -> int:
        """Become the agent; the exit code of this process."""
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(self.out_fd, 1)
        os.dup2(self.out_fd, 2)
        os.close(devnull)
        os.close(self.out_fd)
        agent_pid = os.getpid()
        try:
            os.chdir(self.cwd)
        except OSError as exc:
            print(f"leoflow agent: cannot enter {self.cwd}: {exc.strerror}", file=sys.stderr)
            return 2
        from leoflow_sdk.agent.spawn import SpawnedProcess, fork_standby

        if self.runtime is not None:
            given = self.runtime
            standby: SpawnedProcess | None = SpawnedProcess(
                given.pid,
                given.stdin,
                given.stdout,
                given.stderr,
                given.notices,
                given.notice_fd,
                cwd=os.getcwd(),
                status=given.status,
            )
        else:
            standby = fork_standby()
        if standby is None:  # this process is the runtime (every other descriptor is closed)
            return _run_runtime(agent_pid)
        environ = self._read_environment()
        if environ is None or interpreter_settings(environ) != self.interpreter:
            from leoflow_sdk.agent.task_process import TaskProcess

            TaskProcess(standby).discard()
            if environ is None:
                print("leoflow agent: no environment was received", file=sys.stderr)
                return 2
            argv = [sys.executable, "-m", "leoflow_sdk.agent"]
            os.execve(sys.executable, argv, environ)
        os.environ.clear()
        os.environ.update(environ)
        from leoflow_sdk.agent.__main__ import main

        return main(forked_standby=standby)

    def _read_environment(self) -> dict[str, str] | None:
        chunks = []
        try:
            while chunk := os.read(self.env_fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self.env_fd)
        env = decode(b"".join(chunks)).get("env")
        if not isinstance(env, dict):
            return None
        return {str(k): str(v) for k, v in env.items()}


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _run_runtime(agent_pid: int) -> int:
    """The runtime on standby, as ``python -P -m leoflow_sdk.runtime --standby`` would run."""
    from leoflow_sdk.runtime import standby
    from leoflow_sdk.runtime.lifeline import die_with_parent

    die_with_parent(agent_pid)
    sys.argv = [standby.MAIN_FILE, "--standby"]
    return standby.main()


class ForkServer:
    """The server loop: forks agents on request and reports their exits."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.interpreter = interpreter_settings(os.environ)
        self._selector = selectors.DefaultSelector()
        self._children: dict[int, int] = {}
        """pidfd → pid of every child not reaped yet."""

    def send(self, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [encode(message)], fds or [])

    def serve(self) -> AgentChild | None:
        """Serve until the executor is gone (``None``), or return in a forked child."""
        self._selector.register(self.control, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.fileobj is not self.control:
                        self._reap(key.fd)
                        continue
                    data, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE_BYTES, 7)
                    if not data:
                        return None
                    child = self._spawn(decode(data), fds)
                    if child is not None:
                        return child
        except (BrokenPipeError, ConnectionResetError):
            return None
        finally:
            self._selector.close()
            for pidfd in self._children:
                os.close(pidfd)
            self._children.clear()
            self.control.close()

    def _spawn(self, request: dict[str, Any], fds: list[int]) -> AgentChild | None:
        spawn_id = request.get("spawn")
        cwd = request.get("cwd")
        runtime = None
        if "runtime" in request:
            runtime = TemplateRuntime.from_request(request["runtime"], fds[2:])
        problem = None
        if len(fds) != (2 if runtime is None else 7) or not isinstance(cwd, str):
            problem = "a spawn request needs a cwd and two descriptors (seven with a runtime)"
        elif (threads := _thread_count()) != 1:
            problem = f"the fork server has {threads} threads; forking it is not safe"
        if problem is not None:
            _close_all(fds)
            self.send({"spawned": spawn_id, "error": problem})
            return None
        env_fd, out_fd = fds[:2]
        try:
            pid = os.fork()
        except OSError as exc:
            _close_all(fds)
            self.send({"spawned": spawn_id, "error": f"fork failed: {exc.strerror}"})
            return None
        if pid == 0:
            assert isinstance(cwd, str)
            return AgentChild(cwd, env_fd, out_fd, self.interpreter, runtime)
        _close_all(fds)
        pidfd = os.pidfd_open(pid)
        self._children[pidfd] = pid
        self._selector.register(pidfd, selectors.EVENT_READ)
        self.send({"spawned": spawn_id, "pid": pid}, [pidfd])
        return None

    def _reap(self, pidfd: int) -> None:
        pid = self._children.pop(pidfd)
        self._selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def main(argv: list[str] | None = None) -> int:
    """Warm up, announce readiness, serve; in a forked child, run the try."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print(f"usage: python -P -m {MODULE} FD", file=sys.stderr)
        return 2
    from leoflow_sdk.runtime.lifeline import die_with_parent

    die_with_parent(os.getppid())
    control = socket.socket(fileno=int(args[0]))
    control.setblocking(True)
    server = ForkServer(control)
    try:
        warm_up()
    except Exception as exc:  # a broken environment: the executor spawns agents instead
        server.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    threads = _thread_count()
    if threads != 1:
        server.send({"ready": False, "error": f"{threads} threads after the imports"})
        return 1
    # Objects that exist now live as long as the server: keep the collector off them, so a
    # child's collections do not touch (and copy) every page of the server's heap.
    gc.freeze()
    server.send({"ready": True, "pid": os.getpid()})
    child = server.serve()
    if child is None:
        return 0
    exit_forked(child.run)


if __name__ == "__main__":
    sys.exit(main())
