"""Tying the task process's life to the agent's.

The task runs in its own session so the agent can stop everything it started; the flip side is
that signalling the agent's process group no longer reaches it. If the agent itself is killed
(SIGKILL, out of memory), nothing would stop the task, and it would run on unsupervised. On
Linux the runtime therefore asks the kernel to SIGKILL it when its parent dies
(``PR_SET_PDEATHSIG``; kept across the ``exec`` into bash). Processes the task starts itself
are not covered.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when ``parent_pid`` (the agent) exits; exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)  # the agent died before the request took effect
