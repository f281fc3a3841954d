"""The AgentService over a real gRPC channel (grpc.aio server and client on loopback) against a
real PostgreSQL: authentication, scoping, guarded state reports, XCom, logs, heartbeats and
secrets delivery."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from harness.execution import (
    SECRET,
    AgentHarness,
    advance,
    agent_harness,
    dag_json,
    execution_settings,
    running_run,
    task,
)
from leoflow.agentapi import service as service_module
from leoflow.auth.tokens import UserTokens, mint_agent_token
from leoflow.scheduler import state_reports
from leoflow.secrets import SecretCipher
from leoflow.secrets.connections import EXTRA, PASSWORD, seal
from leoflow.states import TaskState
from leoflow.store import connections as connection_store
from leoflow.store.pool import Pool
from leoflow.store.task_instances import (
    get_task_instance,
    start_next_try,
    transition_task_instance,
)
from leoflow.store.tenants import get_default_tenant_id
from leoflow.store.variables import create_variable
from leoflow.xcom import RunScope, XComAddress
from leoflow_sdk.protocol import agent_pb2, agent_pb2_grpc, bearer_metadata

pytestmark = pytest.mark.timeout(60)

ETL = dag_json(
    "etl",
    [
        task("extract", multiple_outputs=True),
        task("transform", "extract", xcom_input={"data": ["extract"]}),
        task(
            "load",
            "extract",
            "transform",
            xcom_input={"rows": ["transform"], "total": [{"task_id": "extract", "key": "total"}]},
            xcom_schema={"type": "object", "required": ["ok"]},
            execution_timeout_seconds=1,
        ),
        task(
            "report",
            "load",
            "extract",
            "transform",
            xcom_input={"all": ["extract", "transform", "load"]},
        ),
    ],
    params={"x": 1, "y": 2},
    default_args={"retries": 2, "retry_delay_seconds": 60},
)


@pytest.fixture
async def agents(db_pool: Pool, database_url: str, tmp_path: Path) -> AsyncIterator[AgentHarness]:
    settings = execution_settings(database_url, tmp_path)
    async with agent_harness(db_pool, settings) as harness:
        yield harness


async def _code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


# --- authentication and scoping ----------------------------------------------------------------


async def test_register_answers_the_scope_of_the_token(agents: AgentHarness) -> None:
    await running_run(agents.pool, ETL)
    token = agents.token("etl", "extract")
    answer = await agents.stub.Register(
        agent_pb2.RegisterRequest(agent_version="0.1.0", hostname="h", pid=7),
        metadata=bearer_metadata(token),
    )
    assert answer.task_instance == agents.key("etl", "extract")
    assert answer.heartbeat_interval_seconds == 1.0
    assert abs(answer.server_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(5)


async def test_missing_malformed_user_and_expired_tokens_are_unauthenticated(
    agents: AgentHarness,
) -> None:
    await running_run(agents.pool, ETL)
    request = agent_pb2.GetTaskSpecRequest(task_instance=agents.key("etl", "extract"))
    assert await _code_of(agents.stub.GetTaskSpec(request)) is grpc.StatusCode.UNAUTHENTICATED
    bad = (("authorization", "Basic abc"),)
    assert (
        await _code_of(agents.stub.GetTaskSpec(request, metadata=bad))
        is grpc.StatusCode.UNAUTHENTICATED
    )
    user = UserTokens(SECRET).mint("admin", "default", ["Admin"]).token
    assert (
        await _code_of(agents.stub.GetTaskSpec(request, metadata=bearer_metadata(user)))
        is grpc.StatusCode.UNAUTHENTICATED
    )
    expired = mint_agent_token(
        SECRET,
        tenant="default",
        dag_id="etl",
        run_id=request.task_instance.run_id,
        task_id="extract",
        expires_in=60,
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    assert (
        await _code_of(agents.stub.GetTaskSpec(request, metadata=bearer_metadata(expired)))
        is grpc.StatusCode.UNAUTHENTICATED
    )
    other_secret = agents.token("etl", "extract", secret="another-secret-0123456789abcdef")
    assert (
        await _code_of(agents.stub.GetTaskSpec(request, metadata=bearer_metadata(other_secret)))
        is grpc.StatusCode.UNAUTHENTICATED
    )


async def test_a_token_only_speaks_for_its_own_try(agents: AgentHarness) -> None:
    await running_run(agents.pool, ETL)
    token = bearer_metadata(agents.token("etl", "extract"))
    for key in (
        agents.key("etl", "load"),
        agents.key("etl", "extract", try_number=2),
        agents.key("etl", "extract", run_id="manual__other"),
    ):
        call = agents.stub.GetTaskSpec(
            agent_pb2.GetTaskSpecRequest(task_instance=key), metadata=token
        )
        assert await _code_of(call) is grpc.StatusCode.PERMISSION_DENIED


async def test_unknown_task_instance_is_not_found(agents: AgentHarness) -> None:
    call = agents.stub.Register(
        agent_pb2.RegisterRequest(), metadata=bearer_metadata(agents.token("nope", "x"))
    )
    assert await _code_of(call) is grpc.StatusCode.NOT_FOUND


# --- task spec ----------------------------------------------------------------------------------


async def test_task_spec_resolves_defaults_params_conf_and_keyed_inputs(
    agents: AgentHarness,
) -> None:
    logical = datetime(2025, 1, 1, tzinfo=UTC)
    await running_run(agents.pool, ETL, conf={"y": 5, "z": 9}, logical_date=logical)
    auth = agents.auth("etl", "load")
    answer = await agents.stub.GetTaskSpec(
        agent_pb2.GetTaskSpecRequest(task_instance=auth["key"]), metadata=auth["metadata"]
    )
    spec = answer.spec
    assert spec.task_type == agent_pb2.TASK_TYPE_PYTHON
    assert spec.entrypoint == "dag:load"
    assert json.loads(spec.params_json) == {"x": 1, "y": 5, "z": 9}
    assert json.loads(spec.conf_json) == {"y": 5, "z": 9}
    assert spec.retries == 2
    assert spec.execution_timeout_seconds == 1.0
    assert spec.logical_date.ToDatetime(tzinfo=UTC) == logical
    assert (spec.dag_id, spec.run_id, spec.run_type, spec.try_number) == (
        "etl",
        auth["key"].run_id,
        "manual",
        1,
    )
    assert spec.dag_module == "dag" and spec.dag_file_path == "dag.py"
    assert spec.dag_source == "# test DAG\n"
    assert spec.xcom_max_size_bytes == 1024
    rows = spec.xcom_input["rows"]
    assert list(rows.upstream_task_ids) == ["transform"]
    assert [(r.task_id, r.key) for r in rows.refs] == [("transform", "")]
    total = spec.xcom_input["total"]
    assert [(r.task_id, r.key) for r in total.refs] == [("extract", "total")]
    assert json.loads(spec.task_json)["xcom_schema"] == {"type": "object", "required": ["ok"]}


# --- state reports ------------------------------------------------------------------------------


def _report(
    agents: AgentHarness, task_id: str, state: int, *, try_number: int = 1, **extra: object
) -> object:
    auth = agents.auth("etl", task_id, try_number=try_number)
    return agents.stub.ReportState(
        agent_pb2.ReportStateRequest(
            task_instance=auth["key"],
            try_number=try_number,
            state=state,  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        ),
        metadata=auth["metadata"],
    )


async def test_running_then_success_and_a_duplicate_is_acknowledged(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.QUEUED)
    await agents.stub.Register(
        agent_pb2.RegisterRequest(hostname="worker-1", pid=4242),
        metadata=agents.auth("etl", "extract")["metadata"],
    )
    running = await _report(agents, "extract", agent_pb2.TASK_STATE_RUNNING)
    assert running.applied  # type: ignore[attr-defined]
    row = await get_task_instance(agents.pool, ti.id)
    assert row is not None and (row.state, row.hostname, row.pid) == (
        TaskState.RUNNING,
        "worker-1",
        4242,
    )
    first = await _report(agents, "extract", agent_pb2.TASK_STATE_SUCCESS)
    again = await _report(agents, "extract", agent_pb2.TASK_STATE_SUCCESS)
    assert first.applied and again.applied  # type: ignore[attr-defined]
    assert again.current_state == agent_pb2.TASK_STATE_SUCCESS  # type: ignore[attr-defined]
    assert run.run.id in agents.woken


async def test_failure_with_retries_left_becomes_up_for_retry_idempotently(
    agents: AgentHarness,
) -> None:
    run = await running_run(agents.pool, ETL, max_tries={"extract": 2})
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.RUNNING)
    first = await _report(
        agents, "extract", agent_pb2.TASK_STATE_FAILED, error_message="boom", exit_code=3
    )
    assert first.applied  # type: ignore[attr-defined]
    assert first.current_state == agent_pb2.TASK_STATE_UP_FOR_RETRY  # type: ignore[attr-defined]
    again = await _report(agents, "extract", agent_pb2.TASK_STATE_FAILED, error_message="boom")
    assert again.applied  # type: ignore[attr-defined]
    # The scheduler moved on to try 2; the late duplicate of try 1 is still acknowledged.
    await start_next_try(agents.pool, ti.id, 1, to_state=TaskState.SCHEDULED)
    late = await _report(agents, "extract", agent_pb2.TASK_STATE_FAILED)
    assert late.applied  # type: ignore[attr-defined]
    lines = await agents.logs.read_text(_log_ref("extract"))
    assert "try 1 failed (exit code 3): boom; up for retry" in lines


def _log_ref(task_id: str, try_number: int = 1) -> object:
    from leoflow.logs import TryLogRef

    return TryLogRef("default", "etl", "manual__2025-01-01T00:00:00+00:00", task_id, try_number, -1)


async def test_report_for_a_stale_try_is_refused(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.SUCCESS)
    await transition_task_instance(
        agents.pool, ti.id, TaskState.NONE, try_number=1, by_operator=True
    )
    await start_next_try(agents.pool, ti.id, 1)  # cleared: try 2 will run
    await advance(agents.pool, ti.id, TaskState.RUNNING, try_number=2)
    answer = await _report(agents, "extract", agent_pb2.TASK_STATE_FAILED)
    assert not answer.applied  # type: ignore[attr-defined]
    assert answer.reason == agent_pb2.REFUSAL_REASON_STALE_TRY  # type: ignore[attr-defined]
    assert answer.current_try_number == 2  # type: ignore[attr-defined]
    row = await get_task_instance(agents.pool, ti.id)
    assert row is not None and row.state is TaskState.RUNNING


async def test_illegal_and_not_allowed_targets_are_refused(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    await advance(agents.pool, run.tis["extract"].id, TaskState.QUEUED)
    early = await _report(agents, "extract", agent_pb2.TASK_STATE_SUCCESS)
    assert not early.applied  # type: ignore[attr-defined]
    assert early.reason == agent_pb2.REFUSAL_REASON_ILLEGAL_TRANSITION  # type: ignore[attr-defined]
    retry = await _report(agents, "extract", agent_pb2.TASK_STATE_UP_FOR_RETRY)
    assert retry.reason == agent_pb2.REFUSAL_REASON_TARGET_NOT_ALLOWED  # type: ignore[attr-defined]
    deferred = await _report(agents, "extract", agent_pb2.TASK_STATE_DEFERRED)
    assert "not supported yet" in deferred.detail  # type: ignore[attr-defined]
    auth = agents.auth("etl", "extract")
    defer = await agents.stub.DeferTask(
        agent_pb2.DeferTaskRequest(task_instance=auth["key"], try_number=1),
        metadata=auth["metadata"],
    )
    assert not defer.accepted
    assert defer.reason == agent_pb2.REFUSAL_REASON_TRIGGER_REJECTED
    assert "deferrable tasks are not supported yet" in defer.detail


# --- XCom ---------------------------------------------------------------------------------------


async def _store(
    agents: AgentHarness,
    run_uuid: uuid.UUID,
    task_id: str,
    value: object,
    key: str = "return_value",
) -> None:
    scope = RunScope("default", "etl", run_uuid)
    await agents.xcom.push_json(XComAddress(scope, task_id, key), value)


async def test_fetch_xcom_serves_declared_upstreams_only(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    await _store(agents, run.run.id, "extract", {"total": 3}, "return_value")
    await _store(agents, run.run.id, "extract", 3, "total")
    await _store(agents, run.run.id, "transform", [1, 2])
    auth = agents.auth("etl", "transform")
    found = await agents.stub.FetchXCom(
        agent_pb2.FetchXComRequest(task_instance=auth["key"], upstream_task_id="extract"),
        metadata=auth["metadata"],
    )
    assert found.found and json.loads(found.value) == {"total": 3}
    assert found.content_type == "application/json"
    keyed = await agents.stub.FetchXCom(
        agent_pb2.FetchXComRequest(
            task_instance=agents.auth("etl", "load")["key"],
            upstream_task_id="extract",
            key="total",
        ),
        metadata=agents.auth("etl", "load")["metadata"],
    )
    assert keyed.found and json.loads(keyed.value) == 3
    undeclared = agents.stub.FetchXCom(
        agent_pb2.FetchXComRequest(task_instance=auth["key"], upstream_task_id="load"),
        metadata=auth["metadata"],
    )
    assert await _code_of(undeclared) is grpc.StatusCode.PERMISSION_DENIED
    missing = await agents.stub.FetchXCom(
        agent_pb2.FetchXComRequest(
            task_instance=agents.auth("etl", "load")["key"], upstream_task_id="transform", key="x"
        ),
        metadata=agents.auth("etl", "load")["metadata"],
    )
    assert not missing.found


async def test_fan_in_over_the_limit_is_refused_as_too_large(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    for task_id in ("extract", "transform", "load"):
        await _store(agents, run.run.id, task_id, "x" * 400)
    auth = agents.auth("etl", "report")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await agents.stub.FetchXCom(
            agent_pb2.FetchXComRequest(task_instance=auth["key"], upstream_task_id="transform"),
            metadata=auth["metadata"],
        )
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    detail = info.value.details() or ""
    assert detail.startswith("too_large: fan-in input 'all'") and "x" * 10 not in detail
    single = await agents.stub.FetchXCom(  # the same value alone is fine for a plain input
        agent_pb2.FetchXComRequest(
            task_instance=agents.auth("etl", "load")["key"], upstream_task_id="transform"
        ),
        metadata=agents.auth("etl", "load")["metadata"],
    )
    assert single.found


def _push(agents: AgentHarness, task_id: str, value: bytes, **extra: object) -> object:
    auth = agents.auth("etl", task_id)
    return agents.stub.PushXCom(
        agent_pb2.PushXComRequest(
            task_instance=auth["key"],
            value=value,
            content_type="application/json",
            size_bytes=len(value),
            **extra,  # type: ignore[arg-type]
        ),
        metadata=auth["metadata"],
    )


async def test_push_xcom_goes_through_the_policy(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    stale = await _push(agents, "load", b'{"ok": true}')
    assert stale.reason == agent_pb2.XCOM_REJECTION_REASON_STALE_TRY  # type: ignore[attr-defined]
    await advance(agents.pool, run.tis["load"].id, TaskState.RUNNING)
    big = await _push(agents, "load", json.dumps({"ok": "s" * 2000}).encode())
    assert not big.accepted  # type: ignore[attr-defined]
    assert big.reason == agent_pb2.XCOM_REJECTION_REASON_TOO_LARGE  # type: ignore[attr-defined]
    assert big.max_size_bytes == 1024  # type: ignore[attr-defined]
    secret = b'{"token": "hunter2-secret-value"}'
    wrong = await _push(agents, "load", secret)
    assert wrong.reason == agent_pb2.XCOM_REJECTION_REASON_SCHEMA_MISMATCH  # type: ignore[attr-defined]
    assert "hunter2" not in wrong.detail  # type: ignore[attr-defined]
    garbage = await _push(agents, "load", b"{not json")
    assert garbage.reason == agent_pb2.XCOM_REJECTION_REASON_INVALID_CONTENT  # type: ignore[attr-defined]
    ok = await _push(agents, "load", b'{"ok": true}')
    assert ok.accepted  # type: ignore[attr-defined]
    keyed = await _push(agents, "load", b"7", key="custom")
    assert keyed.accepted  # type: ignore[attr-defined]
    stored = await agents.xcom.list_run(RunScope("default", "etl", run.run.id))
    assert {(x.task_id, x.key) for x in stored} == {("load", "return_value"), ("load", "custom")}
    log_text = await agents.logs.read_text(_log_ref("load"))
    assert "too_large" in log_text and "hunter2" not in log_text


async def test_a_new_try_starts_without_the_xcoms_of_the_last(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    await _store(agents, run.run.id, "extract", "old")
    await advance(agents.pool, run.tis["extract"].id, TaskState.QUEUED)
    await _report(agents, "extract", agent_pb2.TASK_STATE_RUNNING)
    assert await agents.xcom.list_run(RunScope("default", "etl", run.run.id)) == []


# --- logs ---------------------------------------------------------------------------------------


async def test_stream_logs_stores_lines_once_even_when_resent(agents: AgentHarness) -> None:
    await running_run(agents.pool, ETL)
    auth = agents.auth("etl", "extract")

    def batch(*numbers: int) -> agent_pb2.StreamLogsRequest:
        return agent_pb2.StreamLogsRequest(
            task_instance=auth["key"],
            lines=[
                agent_pb2.LogLine(
                    stream=agent_pb2.LOG_STREAM_STDERR if n % 2 else agent_pb2.LOG_STREAM_STDOUT,
                    line=f"line {n}",
                    sequence=n,
                )
                for n in numbers
            ],
        )

    async def stream(*batches: agent_pb2.StreamLogsRequest) -> agent_pb2.StreamLogsResponse:
        async def requests() -> AsyncIterator[agent_pb2.StreamLogsRequest]:
            for b in batches:
                yield b

        return await agents.stub.StreamLogs(requests(), metadata=auth["metadata"])

    first = await stream(batch(1, 2), batch(3))
    assert (first.lines_received, first.last_sequence) == (3, 3)
    second = await stream(batch(2, 3, 4, 5))
    assert (second.lines_received, second.last_sequence) == (2, 5)
    records = await agents.logs.read_structured(_log_ref("extract"))
    assert [r["event"] for r in records] == [f"line {n}" for n in range(1, 6)]
    assert [r["level"] for r in records[:2]] == ["error", "info"]
    path = agents.logs.storage.path(_log_ref("extract"))  # type: ignore[attr-defined]
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(set(r) == {"timestamp", "level", "stream", "event"} for r in raw)
    assert path == (
        Path(agents.settings.home)
        / "logs/default/etl/manual__2025-01-01T00:00:00+00:00/extract/1.log"
    )


# --- heartbeats ---------------------------------------------------------------------------------


def _beat(agents: AgentHarness, task_id: str, try_number: int = 1) -> object:
    auth = agents.auth("etl", task_id, try_number=try_number)
    return agents.stub.Heartbeat(
        agent_pb2.HeartbeatRequest(task_instance=auth["key"], try_number=try_number),
        metadata=auth["metadata"],
    )


async def test_heartbeat_stamps_and_says_terminate_after_a_clear(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.QUEUED)
    queued = await _beat(agents, "extract")
    assert not queued.should_terminate  # type: ignore[attr-defined]
    await transition_task_instance(agents.pool, ti.id, TaskState.RUNNING, try_number=1)
    before = await get_task_instance(agents.pool, ti.id)
    await asyncio.sleep(0.05)
    alive = await _beat(agents, "extract")
    assert not alive.should_terminate  # type: ignore[attr-defined]
    after = await get_task_instance(agents.pool, ti.id)
    assert before and after and after.last_heartbeat_at > before.last_heartbeat_at  # type: ignore[operator]
    await transition_task_instance(
        agents.pool, ti.id, TaskState.NONE, try_number=1, by_operator=True
    )
    await start_next_try(agents.pool, ti.id, 1)
    cleared = await _beat(agents, "extract")
    assert cleared.should_terminate  # type: ignore[attr-defined]
    assert cleared.reason == agent_pb2.TERMINATE_REASON_CLEARED  # type: ignore[attr-defined]


async def test_heartbeat_says_terminate_when_marked_or_deleted(agents: AgentHarness) -> None:
    run = await running_run(agents.pool, ETL)
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.RUNNING)
    await transition_task_instance(
        agents.pool, ti.id, TaskState.FAILED, try_number=1, by_operator=True
    )
    marked = await _beat(agents, "extract")
    assert marked.reason == agent_pb2.TERMINATE_REASON_MARKED  # type: ignore[attr-defined]
    async with agents.pool.connection() as conn:
        await conn.execute("DELETE FROM dag_runs WHERE id = %s", (run.run.id,))
    gone = await _beat(agents, "extract")
    assert gone.should_terminate  # type: ignore[attr-defined]
    assert gone.reason == agent_pb2.TERMINATE_REASON_NOT_FOUND  # type: ignore[attr-defined]


async def test_heartbeat_fails_a_try_running_past_its_timeout(
    db_pool: Pool, database_url: str, tmp_path: Path
) -> None:
    settings = execution_settings(database_url, tmp_path)
    async with agent_harness(db_pool, settings, timeout_grace_seconds=0.0) as agents:
        run = await running_run(agents.pool, ETL)
        ti = run.tis["load"]
        await advance(agents.pool, ti.id, TaskState.RUNNING)
        await asyncio.sleep(1.3)
        answer = await _beat(agents, "load")
        assert answer.should_terminate  # type: ignore[attr-defined]
        assert answer.reason == agent_pb2.TERMINATE_REASON_TIMED_OUT  # type: ignore[attr-defined]
        row = await get_task_instance(agents.pool, ti.id)
        assert row is not None and row.state is TaskState.UP_FOR_RETRY  # retries: 2
        assert "timed out" in await agents.logs.read_text(_log_ref("load"))


# --- variables and connections ------------------------------------------------------------------


async def _secrets(agents: AgentHarness) -> None:
    tenant = await get_default_tenant_id(agents.pool)
    await create_variable(agents.pool, tenant, "region", "eu-west-1")
    await create_variable(agents.pool, tenant, "api_token", "s3cr3t")


async def test_secrets_are_refused_on_a_plaintext_channel(agents: AgentHarness) -> None:
    await running_run(agents.pool, ETL)
    auth = agents.auth("etl", "extract")
    for call in (
        agents.stub.GetVariables(
            agent_pb2.GetVariablesRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        ),
        agents.stub.GetConnections(
            agent_pb2.GetConnectionsRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "TLS" in (info.value.details() or "")


async def test_lite_may_allow_plaintext_secrets_on_loopback(
    db_pool: Pool, database_url: str, tmp_path: Path
) -> None:
    cipher = SecretCipher(os.urandom(32))
    settings = execution_settings(database_url, tmp_path, agent_allow_insecure_secrets=True)
    async with agent_harness(db_pool, settings, cipher=cipher) as agents:
        await running_run(agents.pool, ETL)
        await _secrets(agents)
        tenant = await get_default_tenant_id(agents.pool)
        row_id = uuid.uuid4()
        await connection_store.insert_connection(
            agents.pool,
            connection_store.NewConnection(
                id=row_id,
                tenant_id=tenant,
                conn_id="warehouse",
                conn_type="postgres",
                host="db.internal",
                schema="analytics",
                login="etl",
                port=5432,
                password_encrypted=seal(cipher, tenant, row_id, PASSWORD, "p@ss/word"),
                extra_encrypted=seal(cipher, tenant, row_id, EXTRA, '{"sslmode": "require"}'),
            ),
        )
        auth = agents.auth("etl", "extract")
        variables = await agents.stub.GetVariables(
            agent_pb2.GetVariablesRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        )
        assert dict(variables.variables) == {"region": "eu-west-1", "api_token": "s3cr3t"}
        some = await agents.stub.GetVariables(
            agent_pb2.GetVariablesRequest(task_instance=auth["key"], keys=["region", "nope"]),
            metadata=auth["metadata"],
        )
        assert dict(some.variables) == {"region": "eu-west-1"}
        connections = await agents.stub.GetConnections(
            agent_pb2.GetConnectionsRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        )
        (conn,) = connections.connections
        assert (conn.conn_id, conn.password, conn.port) == ("warehouse", "p@ss/word", 5432)
        assert json.loads(conn.extra_json) == {"sslmode": "require"}
        assert conn.uri.startswith("postgres://etl:p%40ss%2Fword@db.internal:5432/analytics?")
        assert "__extra__=" in conn.uri


async def test_secrets_flow_over_tls(db_pool: Pool, database_url: str, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings = execution_settings(
        database_url, tmp_path, agent_tls_cert_file=cert, agent_tls_key_file=key
    )
    async with agent_harness(db_pool, settings) as agents:
        assert agents.service.tls
        await running_run(agents.pool, ETL)
        await _secrets(agents)
        auth = agents.auth("etl", "extract")
        variables = await agents.stub.GetVariables(
            agent_pb2.GetVariablesRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        )
        assert variables.variables["region"] == "eu-west-1"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for ``localhost`` and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "agent.crt", folder / "agent.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_mutual_tls_requires_a_client_certificate(
    db_pool: Pool, database_url: str, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)  # a self-signed CA that also signs itself as client
    settings = execution_settings(
        database_url,
        tmp_path,
        agent_tls_cert_file=cert,
        agent_tls_key_file=key,
        agent_tls_client_ca_file=cert,
    )
    async with agent_harness(db_pool, settings) as agents:
        await running_run(agents.pool, ETL)
        endpoint = agents.server.endpoint()
        options = [("grpc.ssl_target_name_override", "localhost")]
        token = bearer_metadata(agents.token("etl", "extract"))
        anonymous = grpc.aio.secure_channel(
            endpoint.address, grpc.ssl_channel_credentials(cert.read_bytes()), options=options
        )
        async with anonymous:
            stub = agent_pb2_grpc.AgentServiceStub(anonymous)
            call = stub.Register(agent_pb2.RegisterRequest(), metadata=token, timeout=5)
            assert await _code_of(call) is grpc.StatusCode.UNAVAILABLE
        with_cert = grpc.aio.secure_channel(
            endpoint.address,
            grpc.ssl_channel_credentials(cert.read_bytes(), key.read_bytes(), cert.read_bytes()),
            options=options,
        )
        async with with_cert:
            stub = agent_pb2_grpc.AgentServiceStub(with_cert)
            answer = await stub.Register(agent_pb2.RegisterRequest(), metadata=token, timeout=5)
            assert answer.task_instance.task_id == "extract"


async def test_preparation_reuses_the_task_instance_register_read(
    agents: AgentHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spec, inputs and state reports need only what cannot change during a try (a report is a
    guarded compare-and-set): the row ``Register`` read serves them all, and each applied
    report leaves the row as it wrote it for the next one (and hands it to the reporter)."""
    run = await running_run(agents.pool, ETL)
    await advance(agents.pool, run.tis["transform"].id, TaskState.QUEUED)
    reads: list[str] = []
    real = service_module.find_task_try

    async def counted(*args: object, **kwargs: object) -> object:
        reads.append(str(args[4]))
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_module, "find_task_try", counted)
    identities: list[object] = []
    real_identity = state_reports.load_identity

    async def identity(*args: object) -> object:
        identities.append(args)
        return await real_identity(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(state_reports, "load_identity", identity)
    auth = agents.auth("etl", "transform")
    await agents.stub.Register(agent_pb2.RegisterRequest(), metadata=auth["metadata"])
    spec = await agents.stub.GetTaskSpec(
        agent_pb2.GetTaskSpecRequest(task_instance=auth["key"]), metadata=auth["metadata"]
    )
    assert spec.spec.dag_id == "etl"
    await agents.stub.FetchXCom(
        agent_pb2.FetchXComRequest(task_instance=auth["key"], upstream_task_id="extract"),
        metadata=auth["metadata"],
    )
    assert reads == ["transform"]
    running = await _report(agents, "transform", agent_pb2.TASK_STATE_RUNNING)
    assert running.applied  # type: ignore[attr-defined]
    done = await _report(agents, "transform", agent_pb2.TASK_STATE_SUCCESS)
    assert done.applied and done.current_state == agent_pb2.TASK_STATE_SUCCESS  # type: ignore[attr-defined]
    assert reads == ["transform"]
    assert identities == []  # the reporter used the row the call knew
    row = await get_task_instance(agents.pool, run.tis["transform"].id)
    assert row is not None and row.state is TaskState.SUCCESS


async def test_calls_arriving_together_share_one_read(
    agents: AgentHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent asks for its spec alongside ``Register``: one read of the row serves both."""
    run = await running_run(agents.pool, ETL)
    await advance(agents.pool, run.tis["extract"].id, TaskState.QUEUED)
    reads: list[str] = []
    real = service_module.find_task_try

    async def slow(*args: object, **kwargs: object) -> object:
        reads.append(str(args[4]))
        await asyncio.sleep(0.2)  # both calls are in flight while the first read runs
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_module, "find_task_try", slow)
    auth = agents.auth("etl", "extract")
    spec, registered = await asyncio.gather(
        agents.stub.GetTaskSpec(
            agent_pb2.GetTaskSpecRequest(task_instance=auth["key"]), metadata=auth["metadata"]
        ),
        agents.stub.Register(agent_pb2.RegisterRequest(), metadata=auth["metadata"]),
    )
    assert spec.spec.dag_id == "etl" and registered.task_instance.task_id == "extract"
    assert reads == ["extract"]


async def test_a_report_on_a_row_moved_by_someone_else_is_refused_with_what_is_there(
    agents: AgentHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remembered row may be out of date (an operator marked the try failed meanwhile):
    the guarded write refuses the report, the answer says what the row holds now, and the
    next call reads the row again."""
    run = await running_run(agents.pool, ETL)
    ti = run.tis["extract"]
    await advance(agents.pool, ti.id, TaskState.QUEUED)
    auth = agents.auth("etl", "extract")
    await agents.stub.Register(agent_pb2.RegisterRequest(), metadata=auth["metadata"])
    running = await _report(agents, "extract", agent_pb2.TASK_STATE_RUNNING)
    assert running.applied  # type: ignore[attr-defined]
    marked = await transition_task_instance(
        agents.pool, ti.id, TaskState.FAILED, try_number=1, by_operator=True
    )
    assert marked.applied
    reads: list[str] = []
    real = service_module.find_task_try

    async def counted(*args: object, **kwargs: object) -> object:
        reads.append(str(args[4]))
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_module, "find_task_try", counted)
    done = await _report(agents, "extract", agent_pb2.TASK_STATE_SUCCESS)
    assert not done.applied  # type: ignore[attr-defined]
    assert done.reason == agent_pb2.REFUSAL_REASON_ILLEGAL_TRANSITION  # type: ignore[attr-defined]
    assert done.current_state == agent_pb2.TASK_STATE_FAILED  # type: ignore[attr-defined]
    assert reads == []
    again = await _report(agents, "extract", agent_pb2.TASK_STATE_SUCCESS)
    assert not again.applied  # type: ignore[attr-defined]
    assert reads == ["extract"]  # the refusal made it forget the row
    row = await get_task_instance(agents.pool, ti.id)
    assert row is not None and row.state is TaskState.FAILED


async def test_a_report_for_a_deleted_run_is_not_found(agents: AgentHarness) -> None:
    """A try whose run was deleted after the row was read gets NOT_FOUND, as before a read."""
    run = await running_run(agents.pool, ETL)
    await advance(agents.pool, run.tis["extract"].id, TaskState.QUEUED)
    auth = agents.auth("etl", "extract")
    await agents.stub.Register(agent_pb2.RegisterRequest(), metadata=auth["metadata"])
    async with agents.pool.connection() as conn:
        await conn.execute("DELETE FROM dag_runs WHERE id = %s", (run.run.id,))
    assert (
        await _code_of(_report(agents, "extract", agent_pb2.TASK_STATE_RUNNING))
        is grpc.StatusCode.NOT_FOUND
    )
