"""What a finished try comes to: its state, its error message and its return value.

The decision is a pure function of what the agent observed (exit status, the runtime's outcome
file, the last stdout line, why the agent stopped the process), so every case is testable
without a process. Error messages carry no data values.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from leoflow_sdk.runtime import contract
from leoflow_sdk.runtime.contract import dump_json

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"

BASH_DEFAULT_SKIP_EXIT_CODES = (99,)
"""What an unset ``skip_on_exit_code`` means (BashOperator's default)."""


@dataclass(frozen=True)
class StopRequest:
    """Why the agent stopped the user process before it ended on its own."""

    kind: str
    """``timeout``, ``signal`` (the agent got SIGTERM), ``server`` (should_terminate) or
    ``lost`` (no heartbeat got through for too long)."""
    message: str


@dataclass(frozen=True)
class TryResult:
    """The outcome to report, and what to push first."""

    state: str
    error: str = ""
    exit_code: int | None = None
    return_value: str | None = None
    """JSON text of the return value (pushed only on success)."""
    multiple_outputs: bool = False
    optional_return_value: bool = False
    """A return value the control plane may refuse as too large without failing the try."""


def describe_exit(code: int) -> str:
    """``exited with code 3`` / ``was killed by signal SIGKILL``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with code {code}"


def skip_codes(task: dict[str, Any]) -> tuple[int, ...]:
    """Exit codes that end a bash task ``skipped``."""
    codes = task.get("skip_on_exit_code")
    return BASH_DEFAULT_SKIP_EXIT_CODES if codes is None else tuple(codes)


def _bash_result(task: dict[str, Any], code: int, last_stdout_line: str | None) -> TryResult:
    if code == 0:
        value = dump_json(last_stdout_line) if last_stdout_line is not None else None
        return TryResult(SUCCESS, exit_code=0, return_value=value)
    if code in skip_codes(task):
        return TryResult(
            SKIPPED,
            error=f"bash command exited with code {code} (skip_on_exit_code)",
            exit_code=code,
        )
    return TryResult(FAILED, error=f"bash command {describe_exit(code)}", exit_code=code)


def decide(
    task: dict[str, Any],
    *,
    exit_code: int,
    outcome: dict[str, Any] | None,
    stop: StopRequest | None,
    last_stdout_line: str | None,
    return_value: str | None,
) -> TryResult:
    """The result of a try whose process ended with ``exit_code``."""
    if stop is not None:
        return TryResult(FAILED, error=stop.message, exit_code=exit_code)
    if outcome is not None:
        state = str(outcome.get("state"))
        error = str(outcome.get("error") or "")
        if state == contract.OUTCOME_SUCCESS:
            return TryResult(
                SUCCESS,
                exit_code=exit_code,
                return_value=return_value,
                multiple_outputs=bool(task.get("multiple_outputs")),
                optional_return_value=bool(outcome.get("optional_return_value")),
            )
        if state == contract.OUTCOME_SKIPPED:
            return TryResult(SKIPPED, error=error or "the task skipped itself", exit_code=exit_code)
        return TryResult(FAILED, error=error or "the task failed", exit_code=exit_code)
    if task.get("type") == "bash":
        return _bash_result(task, exit_code, last_stdout_line)
    message = f"the task process {describe_exit(exit_code)} before reporting an outcome"
    if exit_code == -signal.SIGKILL:
        message += " (out of memory?)"
    return TryResult(FAILED, error=message, exit_code=exit_code)
