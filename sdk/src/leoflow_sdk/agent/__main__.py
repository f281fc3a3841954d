"""``python -m leoflow_sdk.agent``: run the try this process's token is for."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from leoflow_sdk.agent.settings import AgentSettings, SettingsError
from leoflow_sdk.agent.spawn import SpawnedProcess, base_environment, runtime_argv, spawn

if TYPE_CHECKING:
    from leoflow_sdk.agent.task_process import TaskProcess


def _start_standby(settings: AgentSettings) -> SpawnedProcess | None:
    """The runtime, started before anything heavy is imported (see ``runtime.standby``)."""
    if not settings.standby:
        return None
    try:
        argv = runtime_argv(settings.python, standby=True)
        return spawn(argv, base_environment(os.environ), standby=True)
    except OSError as exc:
        print(f"leoflow agent: could not start the runtime early ({exc})", file=sys.stderr)
        return None


async def _run(settings: AgentSettings, standby: TaskProcess | None) -> int:
    from leoflow_sdk.agent.control_plane import ControlPlane, open_channel
    from leoflow_sdk.agent.supervisor import Agent

    channel = open_channel(settings)
    try:
        agent: Agent | None = None

        def on_retry(message: str) -> None:
            if agent is not None:
                agent.say(message)

        plane = ControlPlane(
            channel,
            settings.token,
            rpc_timeout_seconds=settings.rpc_timeout_seconds,
            retry_deadline_seconds=settings.retry_deadline_seconds,
            on_retry=on_retry,
        )
        agent = Agent(settings, plane, standby=standby)
        return await agent.run()
    finally:
        await channel.close()


def main() -> int:
    """Read the settings and run the agent; its exit code (see ``supervisor``)."""
    try:
        settings = AgentSettings.from_env()
        os.chdir(settings.dag_dir)  # the task's working directory; every child inherits it
    except (SettingsError, OSError) as exc:
        print(f"leoflow agent: {exc}", file=sys.stderr)
        return 2
    spawned = _start_standby(settings)
    import asyncio

    from leoflow_sdk.agent.task_process import TaskProcess

    standby = TaskProcess(spawned) if spawned is not None else None
    try:
        return asyncio.run(_run(settings, standby))
    finally:
        if standby is not None and standby.returncode is None:
            standby.discard()


if __name__ == "__main__":
    sys.exit(main())
