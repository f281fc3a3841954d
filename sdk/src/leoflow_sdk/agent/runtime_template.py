"""A warm runtime for one DAG version: the DAG file imported once, one fresh runtime per try.

Every try imports its DAG file again, as Airflow's task processes do, and a DAG file that defines
a thousand tasks costs milliseconds to import: a cost per try that grows with the size of the
DAG. An executor that runs many tries of one DAG version (Lite) can start this template once
per version instead (``python -P -m leoflow_sdk.agent.runtime_template FD``). It imports what a
runtime needs, then the DAG module, exactly as a try's runtime would (same module name, the DAG
folder first on ``sys.path`` and as the working directory, the shim rebuilding a DAG the
compiler checked), and then forks one runtime per try. The runtime waits on standby for its
environment from the try's agent and runs the try; it exits when the try ends.

What a try can see of the others, and of the template:

* **Nothing of another try.** Each runtime is a fork of the template, never of another try: a
  module-level value a task changes is changed in that try's process only.
* **The import's work, done once.** Top-level code of the DAG file (and of what it imports) ran
  once, in the template, with the template's environment: the DAG venv's, without any try's
  variables, connections, token or ``LEOFLOW_*`` values. Values it computed (a timestamp, a
  random number from a library that does not reseed after ``fork``, a file's content) are the
  template's. Python's ``random`` reseeds itself in each runtime.
* **Refused when unsafe.** A DAG file whose import reads the environment per try
  (``LEOFLOW_*``, ``AIRFLOW_VAR_*``, ``AIRFLOW_CONN_*``, ``AIRFLOW_CTX_*``, or all of it at once),
  changes the environment, starts a thread or leaves a file or socket open gets no template:
  the ``ready`` answer says why, and its tries import the DAG file themselves as before. The
  other variables the import read are reported with their values; the agent of each try
  checks that its own environment has the same values, and starts a fresh runtime otherwise.
* **No secret ever.** The template is started with the environment the agents' fork server
  gets (no token, no ``LEOFLOW_*``) and never receives anything from a try.

The template is not the parent of the try's agent, so it relays each runtime's exit status on a
private pipe whose read end goes to the agent, and keeps running while runtimes it forked are
alive (it dies with the executor, ``PR_SET_PDEATHSIG``; a runtime whose template is gone runs on
and its agent learns only that it ended). Stopping a runtime whose agent died is the
executor's job (it knows both).

Protocol, on a ``SOCK_SEQPACKET`` unix socket inherited as descriptor ``FD`` (one JSON object per
datagram, as the fork server's):

* executor → template, once: ``{"load": {"module", "source_file", "dag_dir"}}``;
* template → executor: ``{"ready": true, "pid", "env_reads": {name: value or null}}``, or
  ``{"ready": false, "error"}`` (then it exits);
* executor → template: ``{"spawn": id}``;
* template → executor: ``{"spawned": id, "pid", "notice_fd"}`` with descriptors ``[pidfd,
  stdin (write end), stdout, stderr, notices, status (read ends)]``, or ``{"spawned": id,
  "error"}``;
* template → executor, when a runtime exits: ``{"exited": pid, "code"}``.

End of file on the socket stops the template once its runtimes have exited.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.util
import os
import selectors
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from leoflow_sdk.agent.fork_server import (
    MAX_MESSAGE_BYTES,
    _thread_count,
    decode,
    encode,
    exit_forked,
)
from leoflow_sdk.agent.settings import TemplateDescription

MODULE = "leoflow_sdk.agent.runtime_template"

PER_TRY_PREFIXES = ("LEOFLOW_", "AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW_CTX_")
"""Environment variables whose values belong to one try: an import that reads them cannot be
done once for every try."""


def template_argv(python: str, fd: int) -> list[str]:
    """The command that starts a template talking on inherited descriptor ``fd``."""
    return [python, "-P", "-m", MODULE, str(fd)]


class TemplateRefused(Exception):
    """The DAG module cannot be imported once for every try; the message says why."""


@dataclass
class EnvironmentRecord:
    """What an import did with ``os.environ``."""

    reads: dict[str, str | None] = field(default_factory=dict)
    """Each variable read, with the value seen first (``None``: unset)."""
    problems: list[str] = field(default_factory=list)
    """What makes the import depend on one try: iterating or changing the environment."""


class _RecordingEnviron(os._Environ[str]):
    """``os.environ`` while the template imports the DAG: records into ``_leoflow_record``."""

    _leoflow_record: EnvironmentRecord

    def __getitem__(self, key: str) -> str:
        try:
            value: str = super().__getitem__(key)
        except KeyError:
            self._leoflow_record.reads.setdefault(key, None)
            raise
        self._leoflow_record.reads.setdefault(key, value)
        return value

    def __iter__(self) -> Iterator[str]:
        self._leoflow_record.problems.append("reads the whole environment")
        return super().__iter__()

    def __setitem__(self, key: str, value: str) -> None:
        self._leoflow_record.problems.append(f"sets ${key}")
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._leoflow_record.problems.append(f"removes ${key}")
        super().__delitem__(key)


@contextlib.contextmanager
def recording_environment() -> Iterator[EnvironmentRecord]:
    """Make ``os.environ`` record reads and writes for the duration of the block."""
    environ = os.environ
    original = type(environ)
    record = EnvironmentRecord()
    environ.__dict__["_leoflow_record"] = record
    environ.__class__ = _RecordingEnviron
    try:
        yield record
    finally:
        environ.__class__ = original
        del environ.__dict__["_leoflow_record"]


def mismatch(
    description: TemplateDescription | None,
    *,
    task_type: str,
    task_env: Mapping[str, Any] | None,
    module: str,
    source: str,
    env: Mapping[str, str],
) -> str | None:
    """Why a template's runtime cannot run this try (``None``: it can).

    It fits a python task of the DAG source it imported, under the same module name, when
    every variable its import read has the same value in the try's environment. A task with
    its own ``env`` never fits: libraries read their settings (``OMP_NUM_THREADS`` …) from the
    C environment when imported, which no record of ``os.environ`` can see.
    """
    if description is None:
        return "the executor did not describe the template"
    if task_type != "python":
        return f"a {task_type} task"
    if task_env:
        return "the task sets its own environment variables"
    if module != description.module:
        return f"the DAG module is {module!r}, the template imported {description.module!r}"
    if source_digest(source) != description.source_sha256:
        return "the template imported another version of the DAG file"
    for name, value in description.env_reads.items():
        if env.get(name) != value:
            return f"the DAG file reads ${name} at import, which this try sets differently"
    return None


def source_digest(source: str) -> str:
    """The digest a template description names its DAG source by."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _open_descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def load(module: str, source_file: str, dag_dir: str) -> dict[str, str | None]:
    """Import the DAG module as a try's runtime would; the variables the import read.

    Raises ``TemplateRefused`` when the import cannot stand for every try (module docstring).
    """
    from leoflow_sdk.runtime import standby
    from leoflow_sdk.runtime.loader import shim

    os.chdir(dag_dir)
    standby.warm_up(dag_dir)
    shim("airflow._leoflow.context").rebuilding()
    found = importlib.util.spec_from_file_location(module, source_file)
    if found is None or found.loader is None:
        raise TemplateRefused(f"cannot load the DAG source {source_file}")
    before = _open_descriptors()
    imported = importlib.util.module_from_spec(found)
    sys.modules[module] = imported
    with recording_environment() as recorder:
        found.loader.exec_module(imported)
    problems = list(dict.fromkeys(recorder.problems))
    per_try = sorted(k for k in recorder.reads if k.startswith(PER_TRY_PREFIXES))
    problems += [f"reads ${name}, which each try sets" for name in per_try]
    if (threads := _thread_count()) != 1:
        problems.append(f"leaves {threads - 1} thread(s) running")
    if _open_descriptors() - before:
        problems.append("leaves a file or socket open")
    if problems:
        raise TemplateRefused("its import " + "; ".join(problems))
    return dict(recorder.reads)


@dataclass
class _Runtime:
    """A forked runtime, as the template keeps track of it until it has reaped it."""

    pid: int
    status: int
    """Write end of the status pipe (the agent holds the read end)."""


@dataclass
class RuntimeChild:
    """What a forked child runs: one try's runtime on standby."""

    stdin: int
    stdout: int
    stderr: int
    notice: int

    def run(self) -> int:
        """Become the runtime on standby, as a spawned ``--standby`` runtime would."""
        from leoflow_sdk.agent.spawn import _close_descriptors
        from leoflow_sdk.runtime import standby

        os.setsid()
        os.dup2(self.stdin, 0)
        os.dup2(self.stdout, 1)
        os.dup2(self.stderr, 2)
        _close_descriptors(keep=self.notice)
        os.set_inheritable(self.notice, True)
        sys.argv = [standby.MAIN_FILE, "--standby"]
        return standby.main()


@dataclass
class Template:
    """The template's loop: forks runtimes on request, reaps them, relays their exit status."""

    control: socket.socket
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    _runtimes: dict[int, _Runtime] = field(default_factory=dict)
    """pidfd → a runtime not reaped yet."""

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [encode(message)], fds or [])

    def serve(self) -> RuntimeChild | None:
        """Serve until the executor is gone and every runtime has exited (``None``), or
        return in a forked child."""
        self._selector.register(self.control, selectors.EVENT_READ)
        listening = True
        try:
            while listening or self._runtimes:
                for key, _ in self._selector.select():
                    if key.fileobj is not self.control:
                        self._reap(key.fd)
                        continue
                    data = self._receive()
                    if not data:
                        listening = False
                        self._selector.unregister(self.control)
                        continue
                    child = self._spawn(decode(data))
                    if child is not None:
                        return child
        finally:
            self._selector.close()
            for pidfd, runtime in self._runtimes.items():
                os.close(pidfd)
                os.close(runtime.status)
            self._runtimes.clear()
            self.control.close()
        return None

    def _receive(self) -> bytes:
        try:
            return self.control.recv(MAX_MESSAGE_BYTES)
        except (ConnectionResetError, OSError):
            return b""

    def _spawn(self, request: dict[str, Any]) -> RuntimeChild | None:
        spawn_id = request.get("spawn")
        if (threads := _thread_count()) != 1:
            self.send({"spawned": spawn_id, "error": f"the template has {threads} threads"})
            return None
        pipes = [os.pipe() for _ in range(5)]  # stdin, stdout, stderr, notices, status
        try:
            pid = os.fork()
        except OSError as exc:
            for read_end, write_end in pipes:
                os.close(read_end)
                os.close(write_end)
            self.send({"spawned": spawn_id, "error": f"fork failed: {exc.strerror}"})
            return None
        (stdin_r, stdin_w), (out_r, out_w), (err_r, err_w), (note_r, note_w), status = pipes
        if pid == 0:
            os.close(status[0])
            os.close(status[1])
            return RuntimeChild(stdin_r, out_w, err_w, note_w)
        for fd in (stdin_r, out_w, err_w, note_w):
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self._runtimes[pidfd] = _Runtime(pid, status[1])
        self._selector.register(pidfd, selectors.EVENT_READ)
        handed = [pidfd, stdin_w, out_r, err_r, note_r, status[0]]
        try:
            self.send({"spawned": spawn_id, "pid": pid, "notice_fd": note_w}, handed)
        finally:
            for fd in handed[1:]:
                os.close(fd)
        return None

    def _reap(self, pidfd: int) -> None:
        runtime = self._runtimes.pop(pidfd)
        self._selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(runtime.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):  # the agent may be gone already
            os.write(runtime.status, encode({"code": code}))
        os.close(runtime.status)
        with contextlib.suppress(OSError):
            self.send({"exited": runtime.pid, "code": code})


def _load_request(control: socket.socket) -> dict[str, str] | None:
    data = control.recv(MAX_MESSAGE_BYTES)
    request = decode(data).get("load")
    if not isinstance(request, dict):
        return None
    fields = ("module", "source_file", "dag_dir")
    if not all(isinstance(request.get(name), str) and request[name] for name in fields):
        return None
    return {name: str(request[name]) for name in fields}


def main(argv: list[str] | None = None) -> int:
    """Load the DAG, announce readiness, serve; in a forked child, run the try's runtime."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print(f"usage: python -P -m {MODULE} FD", file=sys.stderr)
        return 2
    from leoflow_sdk.runtime.lifeline import die_with_parent

    die_with_parent(os.getppid())
    control = socket.socket(fileno=int(args[0]))
    control.setblocking(True)
    template = Template(control)
    request = _load_request(control)
    if request is None:
        template.send({"ready": False, "error": "expected a load request"})
        return 2
    try:
        env_reads = load(request["module"], request["source_file"], request["dag_dir"])
    except TemplateRefused as exc:
        template.send({"ready": False, "error": str(exc)})
        return 1
    except BaseException as exc:  # whatever the DAG file raises
        failed = f"the import failed: {type(exc).__name__}: {exc}"
        template.send({"ready": False, "error": failed})
        return 1
    gc.freeze()  # the imported DAG lives as long as the template: keep collections off it
    template.send({"ready": True, "pid": os.getpid(), "env_reads": env_reads})
    child = template.serve()
    if child is None:
        return 0
    exit_forked(child.run)


if __name__ == "__main__":
    sys.exit(main())
