"""The generated stubs work over a real gRPC channel: an asyncio server on a loopback port, a
real asyncio client, and the per-task token travelling in the ``authorization`` metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from leoflow_sdk.proto_gen.leoflow.agent.v1 import agent_pb2, agent_pb2_grpc
from leoflow_sdk.protocol import bearer_metadata, bearer_token_from_metadata

TOKEN = "header.payload.signature"


class RecordingServicer(agent_pb2_grpc.AgentServiceServicer):
    """Answers Heartbeat and StreamLogs; records what arrived so the test can assert on it."""

    def __init__(self) -> None:
        self.raw_authorization: list[str] = []
        self.heartbeats: list[agent_pb2.HeartbeatRequest] = []

    async def _authenticate(self, context: Any) -> str:
        metadata = context.invocation_metadata() or ()
        self.raw_authorization += [value for key, value in metadata if key == "authorization"]
        token = bearer_token_from_metadata(metadata)
        if token is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        assert token is not None
        return token

    async def Heartbeat(
        self, request: agent_pb2.HeartbeatRequest, context: Any
    ) -> agent_pb2.HeartbeatResponse:
        await self._authenticate(context)
        self.heartbeats.append(request)
        if request.try_number < request.task_instance.try_number:
            return agent_pb2.HeartbeatResponse(
                should_terminate=True,
                reason=agent_pb2.TERMINATE_REASON_STALE_TRY,
                detail="a newer try exists",
            )
        return agent_pb2.HeartbeatResponse(should_terminate=False)

    async def StreamLogs(
        self, request_iterator: AsyncIterator[agent_pb2.StreamLogsRequest], context: Any
    ) -> agent_pb2.StreamLogsResponse:
        await self._authenticate(context)
        received, last = 0, 0
        async for batch in request_iterator:
            received += len(batch.lines)
            last = max([last, *(line.sequence for line in batch.lines)])
        return agent_pb2.StreamLogsResponse(lines_received=received, last_sequence=last)


@pytest.fixture
async def served() -> AsyncIterator[tuple[RecordingServicer, agent_pb2_grpc.AgentServiceStub]]:
    servicer = RecordingServicer()  # type: ignore[abstract]  # the rest stay UNIMPLEMENTED
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield servicer, agent_pb2_grpc.AgentServiceStub(channel)
    finally:
        await server.stop(grace=None)


def _key(try_number: int = 1) -> agent_pb2.TaskInstanceKey:
    return agent_pb2.TaskInstanceKey(
        tenant="default",
        dag_id="etl",
        run_id="manual__2025-01-01T00:00:00+00:00",
        task_id="extract",
        map_index=-1,
        try_number=try_number,
    )


async def test_heartbeat_round_trip_with_token_in_metadata(
    served: tuple[RecordingServicer, agent_pb2_grpc.AgentServiceStub],
) -> None:
    servicer, stub = served
    response = await stub.Heartbeat(
        agent_pb2.HeartbeatRequest(task_instance=_key(2), try_number=2),
        metadata=bearer_metadata(TOKEN),
        timeout=10,
    )
    assert response.should_terminate is False
    assert servicer.raw_authorization == [f"Bearer {TOKEN}"]
    assert servicer.heartbeats[0].task_instance.dag_id == "etl"
    assert servicer.heartbeats[0].task_instance.map_index == -1

    stale = await stub.Heartbeat(
        agent_pb2.HeartbeatRequest(task_instance=_key(2), try_number=1),
        metadata=bearer_metadata(TOKEN),
        timeout=10,
    )
    assert stale.should_terminate is True
    assert stale.reason == agent_pb2.TERMINATE_REASON_STALE_TRY


async def test_call_without_token_is_unauthenticated(
    served: tuple[RecordingServicer, agent_pb2_grpc.AgentServiceStub],
) -> None:
    _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.Heartbeat(agent_pb2.HeartbeatRequest(task_instance=_key()), timeout=10)
    assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stream_logs_is_client_streaming(
    served: tuple[RecordingServicer, agent_pb2_grpc.AgentServiceStub],
) -> None:
    servicer, stub = served

    async def batches() -> AsyncIterator[agent_pb2.StreamLogsRequest]:
        sequence = 0
        for stream in (agent_pb2.LOG_STREAM_STDOUT, agent_pb2.LOG_STREAM_STDERR):
            lines = []
            for text in ("one", "two"):
                sequence += 1
                lines.append(agent_pb2.LogLine(stream=stream, line=text, sequence=sequence))
            yield agent_pb2.StreamLogsRequest(task_instance=_key(), lines=lines)

    summary = await stub.StreamLogs(batches(), metadata=bearer_metadata(TOKEN), timeout=10)
    assert (summary.lines_received, summary.last_sequence) == (4, 4)
    assert servicer.raw_authorization == [f"Bearer {TOKEN}"]


async def test_unimplemented_rpc_reports_unimplemented(
    served: tuple[RecordingServicer, agent_pb2_grpc.AgentServiceStub],
) -> None:
    _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.Register(
            agent_pb2.RegisterRequest(agent_version="0.1.0"),
            metadata=bearer_metadata(TOKEN),
            timeout=10,
        )
    assert excinfo.value.code() == grpc.StatusCode.UNIMPLEMENTED
