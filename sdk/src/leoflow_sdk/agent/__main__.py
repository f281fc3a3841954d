"""``python -m leoflow_sdk.agent``: run the try this process's token is for."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from leoflow_sdk.agent.settings import AgentSettings, SettingsError
from leoflow_sdk.agent.spawn import SpawnedProcess, base_environment, runtime_argv, spawn

if TYPE_CHECKING:
    from leoflow_sdk.agent.task_process import TaskProcess


def _start_standby(
    settings: AgentSettings, forked: SpawnedProcess | None = None
) -> SpawnedProcess | None:
    """The runtime, started before anything heavy is imported (see ``runtime.standby``).

    ``forked``: the runtime an agent forked from a fork server has forked already; it is used
    when it is what a spawn would have made (standby wanted, this interpreter, this folder).
    """
    if forked is not None:
        fits = settings.python in (None, sys.executable) and forked.cwd == os.getcwd()
        if settings.standby and fits:
            return forked
        from leoflow_sdk.agent.task_process import TaskProcess

        TaskProcess(forked).discard()
    if not settings.standby:
        return None
    try:
        argv = runtime_argv(settings.python, standby=True)
        return spawn(argv, base_environment(os.environ), standby=True)
    except OSError as exc:
        from leoflow_sdk.agent.telemetry import default_log  # not before the runtime started

        default_log().warning(f"could not start the runtime early ({exc})")
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


def main(forked_standby: SpawnedProcess | None = None) -> int:
    """Read the settings and run the agent; its exit code (see ``supervisor``).

    ``forked_standby``: the runtime on standby, when this agent was forked by a fork server.
    """
    try:
        settings = AgentSettings.from_env()
        os.chdir(settings.dag_dir)  # the task's working directory; every child inherits it
    except (SettingsError, OSError) as exc:
        from leoflow_sdk.agent.telemetry import default_log

        if forked_standby is not None:
            from leoflow_sdk.agent.task_process import TaskProcess

            TaskProcess(forked_standby).discard()
        default_log().error(str(exc))
        return 2
    spawned = _start_standby(settings, forked_standby)
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
