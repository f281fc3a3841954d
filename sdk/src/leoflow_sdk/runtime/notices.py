"""The runtime's own log lines (``[leoflow] …``): metadata about data, never the data.

ADR 0022: one line per pulled input and per returned or pushed value, naming its type and its
serialized size only, because XCom values may be secrets. The lines go to the agent's notice
pipe (``LEOFLOW_NOTICE_FD``), which the agent ships on the AGENT log stream; without the pipe
(the runtime started by hand) they go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from leoflow_sdk.runtime import contract

PREFIX = "[leoflow] "

_channel: TextIO | None = None


def _open_channel() -> TextIO:
    raw = os.environ.get(contract.NOTICE_FD, "")
    if raw.isdigit():
        fd = int(raw)
        try:
            # Not inherited: a bash command or a subprocess of user code must not write here.
            os.set_inheritable(fd, False)
            return open(fd, "w", encoding="utf-8", errors="replace", buffering=1, closefd=True)
        except OSError:
            pass
    return sys.stderr


def notice(message: str) -> None:
    """Write one ``[leoflow]`` line (the message must not contain a data value)."""
    global _channel  # noqa: PLW0603 - one channel per process, opened on first use
    if _channel is None:
        _channel = _open_channel()
    try:
        _channel.write(PREFIX + message.replace("\n", " ") + "\n")
        _channel.flush()
    except (OSError, ValueError):
        _channel = sys.stderr


def describe(value: Any, size_bytes: int) -> str:
    """``dict (1245 B XCom)``: what a value is, without what it contains."""
    kind = "None" if value is None else type(value).__name__
    return f"{kind} ({size_bytes} B XCom)"
