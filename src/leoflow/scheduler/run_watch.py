"""Following a run until it finishes (Airflow's ``GET …/dagRuns/{run}/wait``).

The run's state is read from the database — the only truth, whichever replica runs the
scheduler — now and then every ``interval`` seconds until it is ``success`` or ``failed``;
the return values of chosen tasks are then read through the XCom service, from whichever
backend holds them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any
from uuid import UUID

from leoflow.states import RunState
from leoflow.store.dag_runs import get_dag_run
from leoflow.store.pool import Database
from leoflow.xcom.backend import RunScope, XComAddress
from leoflow.xcom.policy import RETURN_VALUE_KEY
from leoflow.xcom.service import XComService

FINISHED = frozenset({RunState.SUCCESS, RunState.FAILED})
MIN_INTERVAL_SECONDS = 0.1
"""A shorter interval is raised to this: polling faster only loads the database."""
MAX_INTERVAL_SECONDS = 86400.0


def effective_interval(interval: float) -> float:
    """``interval`` within ``[MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS]``."""
    return min(max(interval, MIN_INTERVAL_SECONDS), MAX_INTERVAL_SECONDS)


async def watch_run_state(db: Database, run_uuid: UUID, interval: float) -> AsyncIterator[RunState]:
    """The run's state now, then every ``interval`` seconds, the last one finished.

    Ends early (after what was seen) if the run is deleted while being watched.
    """
    pause = effective_interval(interval)
    while True:
        run = await get_dag_run(db, run_uuid)
        if run is None:
            return
        yield run.state
        if run.state in FINISHED:
            return
        await asyncio.sleep(pause)


async def run_results(
    xcom: XComService, scope: RunScope, task_ids: Iterable[str]
) -> dict[str, Any]:
    """The return value of each of ``task_ids`` that has one (decoded JSON), by task id."""
    results: dict[str, Any] = {}
    for task_id in dict.fromkeys(task_ids):
        stored = await xcom.pull(XComAddress(scope, task_id, RETURN_VALUE_KEY))
        if stored is None:
            continue
        try:
            results[task_id] = json.loads(stored.value)
        except ValueError:
            results[task_id] = stored.value.decode("utf-8", errors="replace")
    return results
