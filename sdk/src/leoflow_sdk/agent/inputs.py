"""What a try receives before it starts: its XCom inputs, variables and connections.

XCom inputs follow ``xcom_input`` (ADR 0023): one source is delivered as its plain value, more
are a JSON array in declaration order, and a source that pushed nothing contributes ``null``
at its position. Values stay the exact bytes the server stored (never parsed or logged here).
Every fetch of a try runs concurrently, so a fan-in of N costs about one round trip.

Variables and connections are fetched for the tenant and exported in Airflow's environment
format. The server refuses them on a plaintext channel unless allowed for local development;
the task then runs without them and a failing ``Variable.get`` says why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc

from leoflow_sdk.agent.control_plane import ControlPlane, ControlPlaneRefused
from leoflow_sdk.protocol import DEFAULT_XCOM_KEY, JSON_CONTENT_TYPE, agent_pb2
from leoflow_sdk.runtime import contract
from leoflow_sdk.runtime.spec_file import XComSource

_READABLE_CONTENT_TYPES = frozenset({"", JSON_CONTENT_TYPE})


class InputError(ValueError):
    """An input the task cannot receive; the message names it and the fix."""


def xcom_sources(spec: agent_pb2.TaskSpec) -> dict[str, tuple[XComSource, ...]]:
    """Per parameter, the XComs to deliver, in declaration order (``refs`` when present)."""
    bindings: dict[str, tuple[XComSource, ...]] = {}
    for param, binding in spec.xcom_input.items():
        if binding.refs:
            sources = tuple(
                XComSource(ref.task_id, ref.key or DEFAULT_XCOM_KEY) for ref in binding.refs
            )
        else:
            sources = tuple(XComSource(task_id) for task_id in binding.upstream_task_ids)
        if not sources:
            raise InputError(f"xcom_input '{param}' names no upstream task; recompile the DAG")
        bindings[param] = sources
    names: dict[str, str] = {}
    for param in bindings:
        env_name = contract.xcom_env_name(param)
        if env_name in names:
            raise InputError(
                f"parameters '{names[env_name]}' and '{param}' both map to {env_name}; "
                "rename one of them (parameter names must differ in more than letter case)"
            )
        names[env_name] = param
    return bindings


async def _fetch_one(
    plane: ControlPlane, key: agent_pb2.TaskInstanceKey, source: XComSource
) -> str:
    response = await plane.call(
        "FetchXCom",
        agent_pb2.FetchXComRequest(
            task_instance=key,
            upstream_task_id=source.task_id,
            key="" if source.key == DEFAULT_XCOM_KEY else source.key,
        ),
    )
    if not response.found:
        return "null"
    if response.content_type not in _READABLE_CONTENT_TYPES:
        raise InputError(
            f"XCom {source.label()} is stored as {response.content_type!r}; the runtime reads "
            f"only {JSON_CONTENT_TYPE}"
        )
    try:
        text: str = response.value.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"XCom {source.label()} is not UTF-8 JSON") from None
    return text or "null"


async def fetch_xcom_inputs(
    plane: ControlPlane,
    key: agent_pb2.TaskInstanceKey,
    bindings: dict[str, tuple[XComSource, ...]],
    *,
    max_size_bytes: int = 0,
) -> dict[str, str]:
    """Per parameter, the JSON text to deliver (fan-in assembled in declaration order).

    An assembled fan-in array is held to the same XCom size limit as a single value
    (``max_size_bytes``, 0 = none): only the agent sees the whole array, so only it can check.
    """
    unique = list(dict.fromkeys(s for sources in bindings.values() for s in sources))
    texts = await asyncio.gather(*(_fetch_one(plane, key, source) for source in unique))
    by_source = dict(zip(unique, texts, strict=True))
    delivered: dict[str, str] = {}
    for param, sources in bindings.items():
        if len(sources) == 1:
            delivered[param] = by_source[sources[0]]
        else:
            delivered[param] = "[" + ",".join(by_source[s] for s in sources) + "]"
            size = len(delivered[param].encode("utf-8"))
            if max_size_bytes and size > max_size_bytes:
                raise InputError(
                    f"the fan-in of parameter '{param}' ({len(sources)} XComs) is {size} B, "
                    f"over the {max_size_bytes} B XCom limit (too_large); pass smaller values, "
                    "or exchange the data through staging or external storage"
                )
    return delivered


@dataclass
class Secrets:
    """Variables and connections in Airflow's environment format, and why any are missing."""

    env: dict[str, str] = field(default_factory=dict)
    variables: int = 0
    connections: int = 0
    notices: list[str] = field(default_factory=list)


def _usable_name(name: str) -> bool:
    return bool(name) and "=" not in name and "\0" not in name


def _connection_value(connection: agent_pb2.Connection) -> str:
    if connection.uri:
        return connection.uri
    from leoflow_sdk.runtime.connection_uri import connection_uri

    return connection_uri(
        conn_type=connection.conn_type or None,
        host=connection.host or None,
        schema=connection.schema or None,
        login=connection.login or None,
        password=connection.password or None,
        port=connection.port if connection.HasField("port") else None,
        extra=connection.extra_json or None,
    )


async def _variables(plane: ControlPlane, key: agent_pb2.TaskInstanceKey, out: Secrets) -> None:
    try:
        response = await plane.call(
            "GetVariables", agent_pb2.GetVariablesRequest(task_instance=key)
        )
    except ControlPlaneRefused as exc:
        out.notices.append(_refusal("variables", exc))
        return
    for name, value in response.variables.items():
        if _usable_name(name) and "\0" not in value:
            out.env[contract.variable_env_name(name)] = value
            out.variables += 1


async def _connections(plane: ControlPlane, key: agent_pb2.TaskInstanceKey, out: Secrets) -> None:
    try:
        response = await plane.call(
            "GetConnections", agent_pb2.GetConnectionsRequest(task_instance=key)
        )
    except ControlPlaneRefused as exc:
        out.notices.append(_refusal("connections", exc))
        return
    for connection in response.connections:
        if _usable_name(connection.conn_id):
            out.env[contract.connection_env_name(connection.conn_id)] = _connection_value(
                connection
            )
            out.connections += 1


def _refusal(what: str, exc: ControlPlaneRefused) -> str:
    if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
        return (
            f"{what} are served only over TLS; configure TLS for the agent channel, or allow "
            "plaintext secrets for local development on the server"
        )
    return f"{what} were refused ({exc})"


async def fetch_secrets(plane: ControlPlane, key: agent_pb2.TaskInstanceKey) -> Secrets:
    """Every variable and connection visible to the task, as ``AIRFLOW_*`` variables."""
    secrets = Secrets()
    await asyncio.gather(_variables(plane, key, secrets), _connections(plane, key, secrets))
    return secrets
