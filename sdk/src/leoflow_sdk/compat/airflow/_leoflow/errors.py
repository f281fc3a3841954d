"""Compile errors raised while a DAG file is recorded, located at the user's own line.

Every error names the user's file and line (the first stack frame outside the shim), because
the traceback of a shim internal would point the user at code they did not write.
"""

from __future__ import annotations

import os
import sys

_SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHIM_PREFIX = _SHIM_DIR + os.sep


def _is_internal(filename: str) -> bool:
    return filename.startswith(_SHIM_PREFIX) or filename.startswith("<frozen")


def user_location() -> tuple[str, int]:
    """File and line of the innermost caller that is not part of the shim or the import system."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            return filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>", 0


class LeoflowCompileError(Exception):
    """A DAG construct that cannot be compiled faithfully; the message says where and why."""

    def __init__(self, message: str, filename: str, line: int) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line


class NotSupportedError(LeoflowCompileError):
    """An Airflow feature Leoflow does not run yet: loud, never a silent mistranslation."""

    def __init__(
        self, what: str, location: tuple[str, int] | None = None, fix: str | None = None
    ) -> None:
        filename, line = location or user_location()
        self.what = what
        message = f"not supported by Leoflow yet: {what}, at {filename}:{line}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message, filename, line)


class InvalidDagError(LeoflowCompileError):
    """A DAG that Airflow might accept but whose meaning is ambiguous; the message gives the fix."""

    def __init__(self, problem: str, fix: str, location: tuple[str, int] | None = None) -> None:
        filename, line = location or user_location()
        super().__init__(f"{problem}, at {filename}:{line}. Fix: {fix}", filename, line)
