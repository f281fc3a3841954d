"""Picks the executor of each try: inline HTTP for inline ``http_api`` tasks, the process (or
pod) executor for everything else. The scheduler sees one executor; the router remembers who
runs which try so a cancel reaches the right one."""

from __future__ import annotations

from uuid import UUID

from opentelemetry import trace

from leoflow.executors.base import Executor, TaskLaunch

HTTP_API = "http_api"


class ExecutorRouter:
    """One ``Executor`` in front of several."""

    name = "router"

    def __init__(
        self,
        default: Executor,
        *,
        inline_http: Executor | None = None,
        http_mode_default: str = "inline",
    ) -> None:
        self.default = default
        self.inline_http = inline_http
        self._http_mode_default = http_mode_default
        self._placed: dict[tuple[UUID, int], Executor] = {}

    def route(self, launch: TaskLaunch) -> Executor:
        """The executor that runs ``launch``."""
        if launch.task_type == HTTP_API and self.inline_http is not None:
            mode = launch.task_spec.get("execution_mode") or self._http_mode_default
            if mode == "inline":
                return self.inline_http
        return self.default

    async def submit(self, launch: TaskLaunch) -> None:
        executor = self.route(launch)
        trace.get_current_span().set_attribute("leoflow.executor", executor.name)
        self._placed[(launch.ti_id, launch.try_number)] = executor
        if len(self._placed) > 50_000:  # forget the oldest placements; cancel falls back to all
            for key in list(self._placed)[:10_000]:
                del self._placed[key]
        await executor.submit(launch)

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        executor = self._placed.pop((ti_id, try_number), None)
        targets = [executor] if executor is not None else self._executors()
        for target in targets:
            await target.cancel(ti_id, try_number)

    def _executors(self) -> list[Executor]:
        return [e for e in (self.default, self.inline_http) if e is not None]

    async def close(self) -> None:
        for executor in self._executors():
            await executor.close()
