"""A STAND-IN control plane for agent tests: a small real grpc.aio AgentService servicer.

This is not Leoflow's AgentService (``leoflow.agentapi``, tested end to end elsewhere). It
speaks the same proto over a real loopback gRPC server so the agent can be tested as a real
process, and it records everything the agent sends: registrations, state reports, pushed
XComs, log lines (with their arrival time), heartbeats. Its behaviour is scripted per test
(``should_terminate`` after N heartbeats, refusing secrets on plaintext, an XCom size limit).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from leoflow_sdk.protocol import (
    agent_pb2,
    agent_pb2_grpc,
    bearer_token_from_metadata,
    task_state_from_proto,
)

TOKEN = "standin.token.value-7f3a"


@dataclass
class ReceivedLine:
    """A log line as the stand-in got it, with the wall-clock time it arrived."""

    stream: str
    line: str
    sequence: int
    arrived_at: float


@dataclass
class Script:
    """How the stand-in behaves for one test."""

    key: agent_pb2.TaskInstanceKey
    spec: agent_pb2.TaskSpec
    xcoms: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """Stored XComs by (task_id, key) — key "return_value" for return values."""
    variables: dict[str, str] = field(default_factory=dict)
    connections: list[agent_pb2.Connection] = field(default_factory=list)
    heartbeat_interval_seconds: float = 0.2
    terminate_after_heartbeats: int | None = None
    refuse_secrets: bool = False
    xcom_limit_bytes: int | None = None


class StandInControlPlane(agent_pb2_grpc.AgentServiceServicer):
    """Records what the agent sends and answers from the ``Script``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.registrations: list[agent_pb2.RegisterRequest] = []
        self.reports: list[agent_pb2.ReportStateRequest] = []
        self.pushed: dict[str, bytes] = {}
        self.lines: list[ReceivedLine] = []
        self.heartbeats = 0
        self.fetched: list[tuple[str, str]] = []
        self.tokens: set[str] = set()

    async def _check(self, context: Any) -> None:
        token = bearer_token_from_metadata(context.invocation_metadata())
        if token != TOKEN:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        self.tokens.add(token or "")

    async def Register(self, request: Any, context: Any) -> agent_pb2.RegisterResponse:
        await self._check(context)
        self.registrations.append(request)
        return agent_pb2.RegisterResponse(
            task_instance=self.script.key,
            heartbeat_interval_seconds=self.script.heartbeat_interval_seconds,
        )

    async def GetTaskSpec(self, request: Any, context: Any) -> agent_pb2.GetTaskSpecResponse:
        await self._check(context)
        return agent_pb2.GetTaskSpecResponse(spec=self.script.spec)

    async def FetchXCom(self, request: Any, context: Any) -> agent_pb2.FetchXComResponse:
        await self._check(context)
        key = request.key or "return_value"
        self.fetched.append((request.upstream_task_id, key))
        value = self.script.xcoms.get((request.upstream_task_id, key))
        if value is None:
            return agent_pb2.FetchXComResponse(found=False)
        return agent_pb2.FetchXComResponse(found=True, value=value, content_type="application/json")

    async def PushXCom(self, request: Any, context: Any) -> agent_pb2.PushXComResponse:
        await self._check(context)
        limit = self.script.xcom_limit_bytes
        if limit is not None and len(request.value) > limit:
            return agent_pb2.PushXComResponse(
                accepted=False,
                reason=agent_pb2.XCOM_REJECTION_REASON_TOO_LARGE,
                detail=f"{len(request.value)} B is over the {limit} B limit",
                max_size_bytes=limit,
            )
        self.pushed[request.key or "return_value"] = bytes(request.value)
        return agent_pb2.PushXComResponse(accepted=True)

    async def StreamLogs(
        self, request_iterator: AsyncIterator[Any], context: Any
    ) -> agent_pb2.StreamLogsResponse:
        await self._check(context)
        received = 0
        async for batch in request_iterator:
            now = time.time()
            for line in batch.lines:
                if any(seen.sequence == line.sequence for seen in self.lines[-2000:]):
                    continue
                stream = agent_pb2.LogStream.Name(line.stream).removeprefix("LOG_STREAM_")
                self.lines.append(ReceivedLine(stream.lower(), line.line, line.sequence, now))
                received += 1
        last = max((line.sequence for line in self.lines), default=0)
        return agent_pb2.StreamLogsResponse(lines_received=received, last_sequence=last)

    async def ReportState(self, request: Any, context: Any) -> agent_pb2.ReportStateResponse:
        await self._check(context)
        self.reports.append(request)
        return agent_pb2.ReportStateResponse(applied=True, current_state=request.state)

    async def Heartbeat(self, request: Any, context: Any) -> agent_pb2.HeartbeatResponse:
        await self._check(context)
        self.heartbeats += 1
        limit = self.script.terminate_after_heartbeats
        if limit is not None and self.heartbeats >= limit:
            return agent_pb2.HeartbeatResponse(
                should_terminate=True,
                reason=agent_pb2.TERMINATE_REASON_CLEARED,
                detail="cleared by a test",
            )
        return agent_pb2.HeartbeatResponse(should_terminate=False)

    async def GetVariables(self, request: Any, context: Any) -> agent_pb2.GetVariablesResponse:
        await self._check(context)
        if self.script.refuse_secrets:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "TLS required for secrets")
        return agent_pb2.GetVariablesResponse(variables=self.script.variables)

    async def GetConnections(self, request: Any, context: Any) -> agent_pb2.GetConnectionsResponse:
        await self._check(context)
        if self.script.refuse_secrets:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "TLS required for secrets")
        return agent_pb2.GetConnectionsResponse(connections=self.script.connections)

    async def DeferTask(self, request: Any, context: Any) -> agent_pb2.DeferTaskResponse:
        await self._check(context)
        return agent_pb2.DeferTaskResponse(
            accepted=False,
            reason=agent_pb2.REFUSAL_REASON_TRIGGER_REJECTED,
            detail="the stand-in does not defer",
        )

    # -- what tests assert on ------------------------------------------------------------
    def states(self) -> list[str]:
        """The reported states in order (``running``, then the outcome)."""
        return [task_state_from_proto(report.state) for report in self.reports]

    def final_report(self) -> agent_pb2.ReportStateRequest:
        """The last state report."""
        assert self.reports, "no state was reported"
        return self.reports[-1]

    def log_text(self) -> str:
        """Every received line, in sequence order."""
        return "\n".join(line.line for line in sorted(self.lines, key=lambda x: x.sequence))


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServedStandIn:
    """The stand-in on a real loopback gRPC server that can be stopped and started again."""

    def __init__(self, servicer: StandInControlPlane, port: int | None = None) -> None:
        self.servicer = servicer
        self.port = port or free_port()
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Serve on the port (again)."""
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self.servicer, server)
        bound = server.add_insecure_port(self.address)
        assert bound == self.port, f"could not bind {self.address}"
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop serving (the agent sees UNAVAILABLE)."""
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; ``AssertionError`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
