"""Telling the control plane the try is alive, and hearing when it must stop.

A heartbeat goes out every ``heartbeat_interval_seconds`` (from ``Register``). Its answer may
say ``should_terminate`` (the task was cleared or marked): the agent then stops the user
process and reports nothing more. A failed heartbeat is simply tried again at the next tick;
only when none has got through for longer than the retry deadline is contact considered lost
(the control plane's reaper will have failed the try by then, and a newer try may be running).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc.aio

from leoflow_sdk.agent.control_plane import ControlPlane, describe_rpc_error
from leoflow_sdk.protocol import agent_pb2


class Heartbeats:
    """The heartbeat loop of one running try."""

    def __init__(
        self,
        plane: ControlPlane,
        task_instance: agent_pb2.TaskInstanceKey,
        *,
        interval_seconds: float,
        lost_after_seconds: float,
        on_terminate: Callable[[str], None],
        on_lost: Callable[[str], None],
        on_error: Callable[[str], None],
    ) -> None:
        self._plane = plane
        self._request = agent_pb2.HeartbeatRequest(
            task_instance=task_instance, try_number=task_instance.try_number
        )
        self._interval = interval_seconds
        self._lost_after = lost_after_seconds
        self._on_terminate = on_terminate
        self._on_lost = on_lost
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin heartbeating in the background."""
        self._task = asyncio.create_task(self._run(), name="leoflow-heartbeats")

    async def stop(self) -> None:
        """Stop heartbeating (the process ended)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        last_ok = time.monotonic()
        failing = False
        while True:
            await asyncio.sleep(self._interval)
            try:
                response = await self._plane.call_once(
                    "Heartbeat", self._request, attempt_seconds=max(self._interval, 1.0)
                )
            except grpc.aio.AioRpcError as error:
                silent_for = time.monotonic() - last_ok
                if silent_for > self._lost_after:
                    self._on_lost(
                        f"no heartbeat got through for {silent_for:.0f} s (last error "
                        f"{describe_rpc_error(error)})"
                    )
                    return
                if not failing:
                    self._on_error(f"heartbeat failed ({describe_rpc_error(error)}); retrying")
                    failing = True
                continue
            last_ok, failing = time.monotonic(), False
            if response.should_terminate:
                reason = agent_pb2.TerminateReason.Name(response.reason).removeprefix(
                    "TERMINATE_REASON_"
                )
                detail = f": {response.detail}" if response.detail else ""
                self._on_terminate(f"the control plane asked to stop ({reason.lower()}){detail}")
                return
