"""A scheduler replica as its own OS process, for the leader hand-over test.

Usage: ``python ha_scheduler_process.py DSN LAUNCH_LOG``. Every try it launches is appended to
LAUNCH_LOG (``ti_id try_number pid``) before it starts, so the test can prove that no try was
ever dispatched twice across replicas.
"""

from __future__ import annotations

import asyncio
import os
import sys

from leoflow.config import load_settings
from leoflow.executors.base import TaskLaunch
from leoflow.executors.scripted import ScriptedExecutor, Step
from leoflow.scheduler.service import Scheduler
from leoflow.store.pool import create_pool


async def main(dsn: str, launch_log: str) -> None:
    settings = load_settings(
        database_url=dsn,
        scheduler_tick_seconds=0.2,
        scheduler_follower_retry_seconds=0.2,
        leader_watchdog_interval_seconds=0.2,
        heartbeat_timeout_seconds=1.5,
        reaper_grace_seconds=1.5,
        dispatch_lost_timeout_seconds=2.0,
    )
    pool = await create_pool(dsn, min_size=1, max_size=4)

    async def record(launch: TaskLaunch) -> None:
        with open(launch_log, "a", encoding="utf-8") as fh:
            fh.write(f"{launch.ti_id} {launch.try_number} {os.getpid()}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def make_executor(reporter):  # type: ignore[no-untyped-def]
        return ScriptedExecutor(
            reporter,
            pool,
            lambda _: Step(seconds=0.3),
            heartbeat_seconds=0.1,
            on_submit=record,
        )

    scheduler = Scheduler(pool, dsn, make_executor, settings, scheduler_id=f"ha-{os.getpid()}")
    await scheduler.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
