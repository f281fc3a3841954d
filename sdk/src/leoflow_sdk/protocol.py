"""Typed helpers around the generated agent-protocol stubs, shared by both ends of the wire.

The agent (in ``leoflow_sdk``) and the control plane's ``AgentService`` (in ``leoflow.agentapi``)
must agree on a few things the ``.proto`` can only describe in comments: how the per-task JWT
travels in gRPC metadata, the Airflow conventions behind some default values, and how task
states map between Leoflow's string names and the proto enum. Keeping them here, next to the
stubs, means neither side re-implements them. This module imports nothing but the stubs, so it
is safe in a task image (no control-plane dependency).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from leoflow_sdk.proto_gen.leoflow.agent.v1 import agent_pb2, agent_pb2_grpc

__all__ = [
    "AGENT_REPORTABLE_STATES",
    "AUTHORIZATION_METADATA_KEY",
    "DEFAULT_XCOM_KEY",
    "JSON_CONTENT_TYPE",
    "SERVICE_NAME",
    "UNMAPPED_MAP_INDEX",
    "agent_pb2",
    "agent_pb2_grpc",
    "bearer_metadata",
    "bearer_token_from_metadata",
    "task_state_from_proto",
    "task_state_to_proto",
]

SERVICE_NAME: Final = "leoflow.agent.v1.AgentService"
"""Fully qualified gRPC service name (health checks, reflection, interceptors match on it)."""

AUTHORIZATION_METADATA_KEY: Final = "authorization"
"""gRPC metadata key carrying ``Bearer <per-task JWT>``; gRPC requires lower-case keys."""

_BEARER_SCHEME: Final = "bearer"

UNMAPPED_MAP_INDEX: Final = -1
"""``map_index`` of a task instance that is not mapped (Airflow's convention)."""

DEFAULT_XCOM_KEY: Final = "return_value"
"""XCom key meant when a request leaves ``key`` empty (Airflow's return-value key)."""

JSON_CONTENT_TYPE: Final = "application/json"
"""The XCom serialization every reader understands."""

_STATE_PREFIX: Final = "TASK_STATE_"

AGENT_REPORTABLE_STATES: Final[frozenset[str]] = frozenset(
    {"running", "success", "failed", "skipped", "deferred"}
)
"""Target states an agent may send in ``ReportState``; the server refuses any other one
(retries and scheduling states are the control plane's decisions, not the agent's)."""


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that authenticates one agent call with its per-task-instance JWT.

    Pass it as ``metadata=`` on every stub call. The token is a credential: never log it, and
    never hand it to user code (the runtime environment deliberately does not contain it).
    """
    if not token or token != token.strip():
        raise ValueError("agent token must be a non-empty string without surrounding spaces")
    return ((AUTHORIZATION_METADATA_KEY, f"Bearer {token}"),)


def bearer_token_from_metadata(
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> str | None:
    """The bearer token of a call, or ``None`` when it is missing or malformed.

    Accepts what ``ServicerContext.invocation_metadata()`` returns (sync or asyncio server).
    The server answers ``UNAUTHENTICATED`` on ``None``; it must still verify the token itself.
    """
    for key, value in metadata or ():
        if key.lower() != AUTHORIZATION_METADATA_KEY:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != _BEARER_SCHEME or not token:
            return None
        return token
    return None


def task_state_to_proto(state: str) -> agent_pb2.TaskState.ValueType:
    """Map a Leoflow task-state name (``"up_for_retry"``, ``TaskState.SUCCESS``) to the enum.

    Works with ``leoflow.states.TaskState`` members (a ``StrEnum``) without importing the
    control plane. Raises ``ValueError`` for an unknown name rather than sending UNSPECIFIED.
    """
    name = _STATE_PREFIX + str(state).upper()
    if not state or name == _STATE_PREFIX + "UNSPECIFIED":
        raise ValueError(f"not a task state: {state!r}")
    try:
        return agent_pb2.TaskState.Value(name)
    except ValueError:
        raise ValueError(f"not a task state: {state!r}") from None


def task_state_from_proto(value: int) -> str:
    """Map the enum back to Leoflow's lower-case state name (``leoflow.states.TaskState`` value).

    Raises ``ValueError`` for UNSPECIFIED (a field left unset) and for numbers this version of
    the protocol does not know, so an unset state is never mistaken for ``"none"``.
    """
    try:
        name = agent_pb2.TaskState.Name(agent_pb2.TaskState.ValueType(value))
    except ValueError:
        raise ValueError(f"unknown TaskState enum value {value}") from None
    if not name.startswith(_STATE_PREFIX) or name == _STATE_PREFIX + "UNSPECIFIED":
        raise ValueError(f"task state is unspecified (enum value {value})")
    return name.removeprefix(_STATE_PREFIX).lower()
