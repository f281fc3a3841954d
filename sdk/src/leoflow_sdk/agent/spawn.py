"""Starting the user process: ``posix_spawn`` in its own session, with three output pipes.

Standard library and ``os`` only, so the agent can start the runtime on standby before it
imports asyncio and gRPC (``__main__``), which takes the runtime's start-up off the critical
path of every task. An agent forked from a warm fork server (``fork_server``) forks its runtime
on standby instead (``fork_standby``): same pipes, same session, no interpreter start.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leoflow_sdk.runtime import contract

RUNTIME_MODULE = "leoflow_sdk.runtime"


def runtime_argv(python: str | None, *, standby: bool = False) -> list[str]:
    """``python -P -m leoflow_sdk.runtime [--standby]`` (``-P``: the runtime builds
    ``sys.path`` itself, with the DAG folder first)."""
    argv = [python or sys.executable, "-P", "-m", RUNTIME_MODULE]
    return [*argv, "--standby"] if standby else argv


def base_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment minus every ``LEOFLOW_*`` variable (its token, its settings,
    anything the executor leaked), with output unbuffered so lines reach the log live."""
    env = {k: v for k, v in environ.items() if not k.startswith(contract.RESERVED_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class SpawnedProcess:
    """A started process: its pid and the agent's ends of its pipes."""

    pid: int
    stdin: int | None
    """Write end of its stdin (standby only; otherwise stdin is /dev/null)."""
    stdout: int
    stderr: int
    notices: int
    notice_fd: int
    """The notice pipe's descriptor number in the child (``LEOFLOW_NOTICE_FD``)."""
    cwd: str | None = None
    """The working directory it was started in, when that is worth checking (a fork)."""
    status: int | None = None
    """Read end of a pipe on which the process's exit status arrives, for a runtime that is
    not this process's child (forked by a runtime template): ``{"code": n}``, or nothing when
    its template is gone."""


def spawn(argv: Sequence[str], env: Mapping[str, str], *, standby: bool = False) -> SpawnedProcess:
    """Start ``argv`` as the leader of a new session, in the agent's working directory."""
    notice_read, notice_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_write: int | None
    if standby:
        in_read, in_write = os.pipe()
    else:
        in_read, in_write = os.open(os.devnull, os.O_RDONLY), None
    # Besides 0-2, the only descriptor the child keeps is its end of the notice pipe.
    os.set_inheritable(notice_write, True)
    child_env = {**env, contract.NOTICE_FD: str(notice_write)}
    actions = [
        (os.POSIX_SPAWN_DUP2, in_read, 0),
        (os.POSIX_SPAWN_DUP2, out_write, 1),
        (os.POSIX_SPAWN_DUP2, err_write, 2),
    ]
    start = os.posix_spawn if os.sep in argv[0] else os.posix_spawnp
    try:
        pid = start(argv[0], list(argv), child_env, file_actions=actions, setsid=True)
    except BaseException:
        for fd in (notice_read, out_read, err_read, in_write):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (in_read, out_write, err_write, notice_write):
            os.close(fd)
    return SpawnedProcess(pid, in_write, out_read, err_read, notice_read, notice_write)


def _close_descriptors(keep: int) -> None:
    """Close every descriptor above 2 but ``keep`` (what ``posix_spawn`` does by exec)."""
    try:
        found = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # pragma: no cover - Linux has /proc
        found = list(range(3, os.sysconf("SC_OPEN_MAX")))
    for fd in found:
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def fork_standby() -> SpawnedProcess | None:
    """The runtime on standby as a fork of this process: the started process in the parent,
    ``None`` in the child, which must then run the runtime's standby loop.

    Only for a process with nothing task-specific in memory yet and a single thread (an agent
    just forked from the fork server, before it reads its environment). The child gets the
    pipes ``spawn(..., standby=True)`` would give it, no other descriptor, and its own session.
    """
    notice_read, notice_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_read, in_write = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        for fd in (notice_read, notice_write, out_read, out_write, err_read, err_write):
            os.close(fd)
        os.close(in_read)
        os.close(in_write)
        raise
    if pid == 0:
        os.dup2(in_read, 0)
        os.dup2(out_write, 1)
        os.dup2(err_write, 2)
        _close_descriptors(keep=notice_write)
        os.set_inheritable(notice_write, True)  # as spawn(): a bash task inherits it too
        os.setsid()
        return None
    for fd in (in_read, out_write, err_write, notice_write):
        os.close(fd)
    return SpawnedProcess(
        pid, in_write, out_read, err_read, notice_read, notice_write, cwd=os.getcwd()
    )
