"""The runtime's entry point: run one try and leave its outcome for the agent.

Outcome (``LEOFLOW_OUTCOME_PATH``): ``{"state": "success" | "failed" | "skipped", "error",
"retryable", "optional_return_value"}``, written before the process exits. A bash task
replaces this process with bash, so it writes an outcome only when it fails before that; the
agent then reads bash's exit code instead. A process that dies without an outcome (killed,
``os._exit``) is a failure the agent describes from the exit status.

Exit codes: 0 success or skipped, 1 the task failed, 2 the runtime was started without the
agent's environment.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from dataclasses import asdict, dataclass
from types import FrameType, TracebackType
from typing import Any, NoReturn

from leoflow_sdk.runtime import contract, spec_file
from leoflow_sdk.runtime.loader import prepare_sys_path, shim

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Outcome:
    """What the try came to, as the agent reads it."""

    state: str
    error: str | None = None
    retryable: bool = True
    optional_return_value: bool = False


def _summary(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


def classify(exc: BaseException, exceptions: Any) -> Outcome:
    """The outcome an exception raised by the task means (Airflow's rules)."""
    if isinstance(exc, exceptions.AirflowSkipException):
        return Outcome(contract.OUTCOME_SKIPPED, error=str(exc) or None)
    if isinstance(exc, exceptions.AirflowFailException):
        return Outcome(contract.OUTCOME_FAILED, error=_summary(exc), retryable=False)
    if isinstance(exc, exceptions.AirflowTaskTerminated):
        return Outcome(contract.OUTCOME_FAILED, error="the task was terminated (SIGTERM)")
    if isinstance(exc, SystemExit):
        return Outcome(contract.OUTCOME_FAILED, error=f"the task called sys.exit({exc.code!r})")
    return Outcome(contract.OUTCOME_FAILED, error=_summary(exc))


def _user_traceback(tb: TracebackType | None) -> TracebackType | None:
    # The runtime's own frames say nothing to the task's author: start at their code.
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_RUNTIME_DIR):
        tb = tb.tb_next
    return tb


def _print_failure(exc: BaseException) -> None:
    traceback.print_exception(type(exc), exc, _user_traceback(exc.__traceback__), file=sys.stderr)
    sys.stderr.flush()


def _install_sigterm(terminated: type[BaseException]) -> None:
    def on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
        raise terminated("the task was asked to stop (SIGTERM)")

    signal.signal(signal.SIGTERM, on_sigterm)


def _write_outcome(outcome: Outcome) -> None:
    path = os.environ.get(contract.OUTCOME_PATH)
    if path:
        contract.write_text_atomic(path, contract.dump_json(asdict(outcome)))


def _run(spec: spec_file.RuntimeSpec) -> Outcome:
    from leoflow_sdk.runtime.session import TaskSession

    session = TaskSession(spec, os.environ)
    kind = spec.task_type
    if kind == "python":
        from leoflow_sdk.runtime.python_task import run_python_task

        run_python_task(session)
    elif kind == "bash":
        from leoflow_sdk.runtime.bash_task import run_bash_task

        run_bash_task(session)  # returns only if exec failed, which raises
    elif kind == "http_api":
        from leoflow_sdk.runtime.http_task import run_http_task

        run_http_task(session)
        return Outcome(contract.OUTCOME_SUCCESS, optional_return_value=True)
    elif kind != "empty":
        raise ValueError(f"the runtime cannot run a task of type {kind!r}")
    return Outcome(contract.OUTCOME_SUCCESS)


def _read_spec(spec_text: str | None) -> spec_file.RuntimeSpec | None:
    """The try's task spec: ``spec_text`` (handed over on standby) or the spec file."""
    spec_path = os.environ.get(contract.TASK_SPEC_PATH)
    if spec_text is None and not spec_path:
        print(
            f"leoflow runtime: {contract.TASK_SPEC_PATH} is not set; the runtime is started by "
            "the agent (python -m leoflow_sdk.agent), not by hand",
            file=sys.stderr,
        )
        return None
    where = spec_path if spec_text is None else "handed over by the agent"
    try:
        if spec_text is None:
            assert spec_path is not None
            with open(spec_path, encoding="utf-8") as handle:
                spec_text = handle.read()
        return spec_file.decode(spec_text)
    except (OSError, ValueError, KeyError) as exc:
        print(f"leoflow runtime: cannot read the task spec {where}: {exc}", file=sys.stderr)
        return None


def main(spec_text: str | None = None) -> int:
    """Run the try the environment describes; see the module docstring for exit codes.

    ``spec_text``: the task spec, when the agent handed it to a runtime on standby instead of
    writing the spec file.
    """
    spec = _read_spec(spec_text)
    if spec is None:
        return 2
    prepare_sys_path(spec.dag_dir)
    exceptions = shim("airflow.exceptions")
    _install_sigterm(exceptions.AirflowTaskTerminated)
    try:
        outcome = _run(spec)
    except BaseException as exc:
        outcome = classify(exc, exceptions)
        if outcome.state == contract.OUTCOME_FAILED:
            _print_failure(exc)
    # The outcome is decided: a late stop request must not turn it into a crash.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _write_outcome(outcome)
    sys.stdout.flush()
    return 1 if outcome.state == contract.OUTCOME_FAILED else 0
