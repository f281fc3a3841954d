"""Running a bash task: compute and render the command, then become ``bash -c``.

The runtime replaces itself with bash (``execve``) instead of starting a child: the agent's
child process *is* the command, so its exit code, its signals and its output need no relay,
and the process costs nothing once bash runs. The command, ``env`` values and ``cwd`` are
rendered with the Airflow context first (BashOperator's templated fields); a ``@task.bash``
function (``command_callable``) is called before that to produce the command. The agent turns
the exit code into the outcome (``skip_on_exit_code``) and pushes the last line printed on
stdout as the return value.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
from typing import Any

from leoflow_sdk.runtime import contract
from leoflow_sdk.runtime.binding import bind_arguments
from leoflow_sdk.runtime.loader import find_dag_objects, resolve_callable, shim
from leoflow_sdk.runtime.notices import notice
from leoflow_sdk.runtime.session import TaskSession
from leoflow_sdk.runtime.templating import render


class BashTaskError(RuntimeError):
    """The command cannot be started (bad command value, missing folder)."""


def _airflow_context_env(session: TaskSession) -> dict[str, str]:
    """``AIRFLOW_CTX_*`` variables BashOperator exports to its command."""
    run = session.spec.run
    values = {
        "AIRFLOW_CTX_DAG_ID": run.dag_id,
        "AIRFLOW_CTX_TASK_ID": run.task_id,
        "AIRFLOW_CTX_DAG_RUN_ID": run.run_id,
        "AIRFLOW_CTX_TRY_NUMBER": str(run.try_number),
    }
    if run.logical_date is not None:
        values["AIRFLOW_CTX_LOGICAL_DATE"] = run.logical_date.isoformat()
    return values


def _command(session: TaskSession) -> tuple[str, dict[str, Any]]:
    task = session.spec.task
    task_context = shim("airflow._leoflow.task_context")
    callable_name = task.get("command_callable")
    if callable_name:
        function = resolve_callable(session.spec, str(callable_name))
        dag, task_object = find_dag_objects(session.spec)
        context = session.build_context(task_object, dag)
        args, kwargs = bind_arguments(function, session.bound_values(context), context)
        task_context.set_current_context(context)
        # What the function prints goes to stderr, so that stdout's last line stays the
        # command's own (it becomes the return value).
        with contextlib.redirect_stdout(sys.stderr):
            command = function(*args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise BashTaskError(
                f"the @task.bash function of task '{session.task_id}' must return the command "
                f"as a non-empty string, but it returned {type(command).__name__}"
                + (" (empty)" if isinstance(command, str) else "")
            )
        return command, context
    command = task.get("entrypoint")
    if not isinstance(command, str) or not command.strip():
        raise BashTaskError(f"bash task '{session.task_id}' has no command in its spec")
    # A fixed command does not need the DAG file: import it only if a template asks for
    # {{ task }} or {{ dag }}.
    objects = functools.cache(lambda: find_dag_objects(session.spec))
    lazy = task_context.lazy
    context = session.build_context(lazy(lambda: objects()[1]), lazy(lambda: objects()[0]))
    task_context.set_current_context(context)
    return command, context


def _working_folder(session: TaskSession, cwd: str | None) -> str | None:
    if cwd is None:
        return None
    base = session.spec.dag_dir or os.getcwd()
    folder = os.path.normpath(os.path.join(base, os.path.expanduser(cwd)))
    if not os.path.isdir(folder):
        raise BashTaskError(
            f"cwd of task '{session.task_id}' is not a folder: {cwd!r} (resolved to {folder}); "
            "create it or fix cwd"
        )
    return folder


def run_bash_task(session: TaskSession) -> None:
    """Render the command and replace this process with ``bash -c <command>``."""
    task = session.spec.task
    command, context = _command(session)
    where = f"task '{session.task_id}'"
    command = render(command, context, f"bash_command of {where}")
    extra_env = {
        name: render(str(value), context, f"env {name} of {where}")
        for name, value in (task.get("env") or {}).items()
    }
    cwd = task.get("cwd")
    folder = _working_folder(session, render(cwd, context, f"cwd of {where}") if cwd else None)
    if task.get("append_env", True):
        env = dict(session.environ)
    else:
        env = {k: v for k, v in session.environ.items() if k.startswith(contract.RESERVED_PREFIX)}
    env.update(_airflow_context_env(session))
    env.update(extra_env)
    env.pop(contract.NOTICE_FD, None)
    bash = shutil.which("bash", path=session.environ.get("PATH")) or "/bin/bash"
    notice(f"running the bash command ({len(command)} characters) with {bash}")
    sys.stdout.flush()
    sys.stderr.flush()
    if folder is not None:
        os.chdir(folder)
    os.execve(bash, ["bash", "-c", command], env)
