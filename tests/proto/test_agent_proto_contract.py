"""Shape of the agent contract (DESIGN.md §5 "Agent ⇄ control plane") as seen through the
generated descriptors, and the typed helpers of ``leoflow_sdk.protocol``."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FieldDescriptor

from leoflow.states import TaskState
from leoflow_sdk import protocol
from leoflow_sdk.proto_gen.leoflow.agent.v1 import agent_pb2

SERVICE = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]

EXPECTED_RPCS = {
    "Register",
    "GetTaskSpec",
    "FetchXCom",
    "PushXCom",
    "StreamLogs",
    "ReportState",
    "Heartbeat",
    "GetVariables",
    "GetConnections",
    "DeferTask",
}


def _fields(message: type[object]) -> dict[str, FieldDescriptor]:
    return dict(message.DESCRIPTOR.fields_by_name)  # type: ignore[attr-defined]


def test_package_and_service_name() -> None:
    assert agent_pb2.DESCRIPTOR.package == "leoflow.agent.v1"
    assert agent_pb2.DESCRIPTOR.name == "leoflow/agent/v1/agent.proto"
    assert SERVICE.full_name == protocol.SERVICE_NAME


def test_service_has_exactly_the_contracted_rpcs() -> None:
    assert {method.name for method in SERVICE.methods} == EXPECTED_RPCS


def test_only_stream_logs_is_client_streaming() -> None:
    streaming = {method.name for method in SERVICE.methods if method.client_streaming}
    assert streaming == {"StreamLogs"}
    assert not any(method.server_streaming for method in SERVICE.methods)


def test_every_request_after_register_carries_the_task_instance() -> None:
    for method in SERVICE.methods:
        if method.name == "Register":
            continue
        fields = method.input_type.fields_by_name
        assert "task_instance" in fields, method.name
        message_type = fields["task_instance"].message_type
        assert message_type is not None
        assert message_type.name == "TaskInstanceKey"
    key_fields = set(agent_pb2.TaskInstanceKey.DESCRIPTOR.fields_by_name)
    assert key_fields == {"tenant", "dag_id", "run_id", "task_id", "map_index", "try_number"}


def test_state_reports_and_heartbeats_carry_the_try_number() -> None:
    assert _fields(agent_pb2.ReportStateRequest)["try_number"].type == FieldDescriptor.TYPE_INT32
    assert _fields(agent_pb2.HeartbeatRequest)["try_number"].type == FieldDescriptor.TYPE_INT32
    assert _fields(agent_pb2.DeferTaskRequest)["try_number"].type == FieldDescriptor.TYPE_INT32


def test_heartbeat_can_ask_to_terminate() -> None:
    field = _fields(agent_pb2.HeartbeatResponse)["should_terminate"]
    assert field.type == FieldDescriptor.TYPE_BOOL


def test_report_state_exit_code_distinguishes_unset_from_zero() -> None:
    request = agent_pb2.ReportStateRequest()
    assert not request.HasField("exit_code")
    request.exit_code = 0
    assert request.HasField("exit_code")


def test_task_state_enum_mirrors_leoflow_states() -> None:
    proto_names = [
        value.name
        for value in agent_pb2.TaskState.DESCRIPTOR.values
        if value.name != "TASK_STATE_UNSPECIFIED"
    ]
    assert agent_pb2.TaskState.Value("TASK_STATE_UNSPECIFIED") == 0
    assert proto_names == [f"TASK_STATE_{state.name}" for state in TaskState]


@pytest.mark.parametrize("state", list(TaskState))
def test_task_state_round_trips(state: TaskState) -> None:
    value = protocol.task_state_to_proto(state)
    assert agent_pb2.TaskState.Name(value) == f"TASK_STATE_{state.name}"
    assert TaskState(protocol.task_state_from_proto(value)) is state


@pytest.mark.parametrize("bad", ["", "unspecified", "retrying", "UNKNOWN"])
def test_task_state_to_proto_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(ValueError, match="not a task state"):
        protocol.task_state_to_proto(bad)


@pytest.mark.parametrize("bad", [0, 999])
def test_task_state_from_proto_rejects_unset_and_unknown(bad: int) -> None:
    with pytest.raises(ValueError):
        protocol.task_state_from_proto(bad)


def test_agent_reportable_states_are_real_states() -> None:
    assert {state.value for state in TaskState} >= protocol.AGENT_REPORTABLE_STATES


def test_bearer_metadata_round_trip() -> None:
    metadata = protocol.bearer_metadata("abc.def.ghi")
    assert metadata == (("authorization", "Bearer abc.def.ghi"),)
    assert protocol.bearer_token_from_metadata(metadata) == "abc.def.ghi"


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        [],
        [("x-other", "Bearer t")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("authorization", "Bearer ")],
        [("authorization", "t")],
    ],
)
def test_bearer_token_missing_or_malformed(metadata: list[tuple[str, str]] | None) -> None:
    assert protocol.bearer_token_from_metadata(metadata) is None


def test_bearer_token_accepts_bytes_and_any_scheme_case() -> None:
    assert protocol.bearer_token_from_metadata([("authorization", b"bearer t0k")]) == "t0k"


@pytest.mark.parametrize("bad", ["", " padded "])
def test_bearer_metadata_refuses_empty_or_padded_tokens(bad: str) -> None:
    with pytest.raises(ValueError):
        protocol.bearer_metadata(bad)
