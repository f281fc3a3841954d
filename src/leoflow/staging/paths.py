"""Where a task sees its run's staging space (``LEOFLOW_STAGING_DIR``).

In a pod, the run's claim is mounted at :data:`POD_STAGING_DIR`; in a process on the control
plane's machine (the subprocess executor), it is the run's folder below ``<home>/staging``.
Which one a try gets is decided by the executor that launched it, which says so in the try's
agent token (the ``executor`` claim), so that any replica answering the agent agrees.
"""

from __future__ import annotations

from pathlib import Path

from leoflow.logs.storage import path_component

POD_STAGING_DIR = "/staging"
"""Mount path of the run's staging claim in every task pod of the run."""

POD_EXECUTORS = frozenset({"kubernetes"})
"""Executors whose tries run in pods (their tokens carry the executor's name)."""


def staging_directory(root: Path, tenant: str, dag_id: str, run_id: str) -> Path:
    """The run's folder below ``root`` (each part made a safe path segment)."""
    return root / path_component(tenant) / path_component(dag_id) / path_component(run_id)


def task_staging_dir(
    executor: str | None, root: Path | None, *, tenant: str, dag_id: str, run_id: str
) -> str | None:
    """``LEOFLOW_STAGING_DIR`` of a try of a DAG with staging on.

    ``executor`` is the launching executor as recorded in the try's token (``None``: a
    process on this machine); ``root`` is ``<home>/staging`` (``None``: this process keeps no
    staging folders, so a process try gets none).
    """
    if executor in POD_EXECUTORS:
        return POD_STAGING_DIR
    if root is None:
        return None
    return str(staging_directory(root, tenant, dag_id, run_id))
