"""The environment contract between the agent and the user process (DESIGN §5), in one place.

The agent writes these variables and files; the runtime and the shim's run-time surface read
them. Both sides import the names from here, so a rename cannot leave one side behind. The
module imports only the standard library: the agent, the runtime and the shim all load it.

Public part (user code may read it, as Airflow users read ``AIRFLOW_VAR_*``):

* ``LEOFLOW_XCOM_<PARAM>``: the JSON of one bound parameter (fan-in = a JSON array in
  declaration order, a missing value = ``null``). A value too large for one environment
  variable is written to a file instead, and the variable holds ``@`` followed by its path
  (JSON text never starts with ``@``, so the two cannot be confused).
* ``LEOFLOW_CALL_ARGS_JSON``, ``LEOFLOW_RETURN_VALUE_PATH``, ``LEOFLOW_DAG_ID``,
  ``LEOFLOW_RUN_ID``, ``LEOFLOW_TASK_ID``, ``LEOFLOW_TRY_NUMBER``, ``LEOFLOW_LOGICAL_DATE``,
  ``LEOFLOW_PARAMS``, ``LEOFLOW_STAGING_DIR``, ``AIRFLOW_VAR_<KEY>``, ``AIRFLOW_CONN_<ID>``.

Between agent and runtime only (documented in ``docs/agent.md``): the task spec file, the
outcome file, the folder of XComs pushed by user code, the notice pipe, the per-try work
folder and the DAG folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

XCOM_PREFIX: Final = "LEOFLOW_XCOM_"
"""``LEOFLOW_XCOM_<PARAM>``: JSON of one bound parameter. No other name starts with this."""

XCOM_FILE_MARKER: Final = "@"
"""First character of an ``LEOFLOW_XCOM_<PARAM>`` value that names a file instead of JSON."""

CALL_ARGS_JSON: Final = "LEOFLOW_CALL_ARGS_JSON"
"""JSON object of the literal arguments bound at the call site (``call_args``)."""

RETURN_VALUE_PATH: Final = "LEOFLOW_RETURN_VALUE_PATH"
"""Where the runtime writes the return value as JSON; absent file = nothing returned."""

DAG_ID: Final = "LEOFLOW_DAG_ID"
RUN_ID: Final = "LEOFLOW_RUN_ID"
TASK_ID: Final = "LEOFLOW_TASK_ID"
TRY_NUMBER: Final = "LEOFLOW_TRY_NUMBER"
LOGICAL_DATE: Final = "LEOFLOW_LOGICAL_DATE"
"""ISO 8601 with offset; empty when the run has no logical date (Airflow 3 manual runs)."""
PARAMS: Final = "LEOFLOW_PARAMS"
"""JSON object of the run's resolved params."""
STAGING_DIR: Final = "LEOFLOW_STAGING_DIR"
"""The run's shared scratch folder; set only when the DAG enables staging."""

VAR_PREFIX: Final = "AIRFLOW_VAR_"
CONN_PREFIX: Final = "AIRFLOW_CONN_"

TASK_SPEC_PATH: Final = "LEOFLOW_TASK_SPEC_PATH"
"""JSON file: the task's ``dag.json`` entry plus the run context (see ``RuntimeSpec`` keys)."""

OUTCOME_PATH: Final = "LEOFLOW_OUTCOME_PATH"
"""JSON file the runtime writes before it exits: ``{"state", "error", "retryable"}``."""

PUSHED_XCOM_DIR: Final = "LEOFLOW_PUSHED_XCOM_DIR"
"""Folder of ``ti.xcom_push`` calls (one JSON file each, in call order); the agent pushes
them after the process exits, because user code has no channel to the control plane."""

NOTICE_FD: Final = "LEOFLOW_NOTICE_FD"
"""File descriptor of a pipe for the runtime's own ``[leoflow]`` lines, which the agent ships
on the AGENT log stream so they never mix with (or become the last line of) user output."""

WORK_DIR: Final = "LEOFLOW_WORK_DIR"
"""The per-try private folder (DAG source, spec, outcome, XCom files); removed after the try."""

DAG_DIR: Final = "LEOFLOW_DAG_DIR"
"""The DAG's project folder (sibling modules, relative ``cwd``); the image sets it (Pro)."""

SECRETS_NOTICE: Final = "LEOFLOW_SECRETS_NOTICE"
"""Why variables or connections were not delivered (no value), so a failing ``Variable.get``
can say so instead of a bare "does not exist"."""

RESERVED_PREFIX: Final = "LEOFLOW_"

OUTCOME_SUCCESS: Final = "success"
OUTCOME_FAILED: Final = "failed"
OUTCOME_SKIPPED: Final = "skipped"

ENV_VALUE_LIMIT_BYTES: Final = 64 * 1024
"""Largest XCom input kept in the environment. Linux refuses one variable over 128 KiB and the
whole environment over a few MiB; larger values travel as files (see ``XCOM_FILE_MARKER``)."""

ENV_TOTAL_XCOM_BUDGET_BYTES: Final = 512 * 1024
"""Total XCom input bytes kept in the environment; the rest go to files."""


def xcom_env_name(param: str) -> str:
    """``LEOFLOW_XCOM_<PARAM>`` for a bound parameter (upper-cased, as DESIGN §5 writes it)."""
    return XCOM_PREFIX + param.upper()


def variable_env_name(key: str) -> str:
    """``AIRFLOW_VAR_<KEY>``: Airflow's environment-variable name for a Variable."""
    return VAR_PREFIX + key.upper()


def connection_env_name(conn_id: str) -> str:
    """``AIRFLOW_CONN_<ID>``: Airflow's environment-variable name for a Connection."""
    return CONN_PREFIX + conn_id.upper()


def read_xcom_input(environ: Mapping[str, str], param: str) -> str | None:
    """The JSON text of one bound parameter, following a file reference; ``None`` if unset."""
    raw = environ.get(xcom_env_name(param))
    if raw is None:
        return None
    if raw.startswith(XCOM_FILE_MARKER):
        with open(raw[len(XCOM_FILE_MARKER) :], encoding="utf-8") as handle:
            return handle.read()
    return raw


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` so that a reader never sees half a file (write aside, then rename)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def dump_json(value: Any) -> str:
    """Compact JSON as stored in XCom; ``TypeError``/``ValueError`` for non-JSON values."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
