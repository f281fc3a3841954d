"""The runtime on standby: booted and warmed up before the try's environment exists.

The agent starts ``python -m leoflow_sdk.runtime --standby`` as the very first thing it does,
so the interpreter start and the shim import happen while the agent imports gRPC and talks to
the control plane, instead of after it. The process then blocks on stdin until the agent sends
the try's environment and task spec (``{"env": {...}, "spec": "..."}``; without ``spec`` the
runtime reads the task spec file), installs it as ``os.environ`` and runs the try
exactly as a freshly started runtime would. End of input without a message means the agent
did not need it: the process exits.

Nothing here imports user code: the DAG module is only known once the message arrives.

An agent forked from a warm fork server (``leoflow_sdk.agent.fork_server``) forks its runtime
and runs :func:`main` in the child; the fork server did the imports of :func:`warm_up` once.
"""

from __future__ import annotations

import json
import os
import sys

from leoflow_sdk.runtime.loader import prepare_sys_path, shim

MAIN_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
"""``sys.argv[0]`` of ``python -m leoflow_sdk.runtime``."""


def warm_up(dag_dir: str | None) -> None:
    """Import what every try needs (the shim as ``airflow``, the runtime's own modules), with
    ``dag_dir`` first on ``sys.path`` (``None``: not known yet, a fork server's warm-up)."""
    prepare_sys_path(dag_dir)
    for module in (
        "airflow",
        "airflow.sdk",
        "airflow.exceptions",
        "airflow._leoflow.runtime_lookup",
    ):
        shim(module)
    import leoflow_sdk.runtime.main
    import leoflow_sdk.runtime.python_task
    import leoflow_sdk.runtime.session  # noqa: F401


def main() -> int:
    """Warm up, wait for the environment, then run the try."""
    warm_up(os.getcwd())
    raw = sys.stdin.buffer.read()
    if not raw:
        return 0
    launched = json.loads(raw)
    environment = launched["env"]
    os.environ.clear()
    os.environ.update(environment)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    from leoflow_sdk.runtime.main import main as run_try

    return run_try(spec_text=launched.get("spec"))
