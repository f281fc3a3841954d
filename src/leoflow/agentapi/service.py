"""``leoflow.agent.v1.AgentService``: the control plane's side of every agent conversation.

Each call is authenticated by the per-try token and must name exactly the try the token was
minted for. Business refusals (stale try, illegal transition, XCom too large) are answers, not
errors, so an agent can tell "the server said no" from "the call did not get through".

State moves go through :class:`~leoflow.scheduler.state_reports.TaskReporter` only (guarded
compare-and-set, retries, scheduler wake-up). Heartbeats double as the server-side backstop of
``execution_timeout``: a try still running well past its limit is failed here and its agent
told to stop, even if the agent never enforced the limit itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from leoflow.agentapi.delivery import (
    CipherUnavailableError,
    connections_for_task,
    variables_for_task,
)
from leoflow.agentapi.task_spec import build_task_spec
from leoflow.agentapi.tokens import AgentAuthError, VerifiedTokens, check_scope
from leoflow.auth.tokens import AgentClaims
from leoflow.config import Settings
from leoflow.logs import AGENT, STDERR, STDOUT, IncomingLine, TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.state_reports import REPORTABLE_STATES, TaskIdentity, TaskReporter
from leoflow.secrets import SecretCipher
from leoflow.spec.xcom import XcomPull
from leoflow.staging.paths import task_staging_dir
from leoflow.states import TaskState, TransitionRefusal
from leoflow.store.pool import Database
from leoflow.store.task_context import TaskTry, archived_try_state, find_task_try
from leoflow.store.task_instances import TransitionResult, record_heartbeat
from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import (
    AGENT_CALL_REFUSALS,
    AGENT_RPC_DURATION,
    AGENT_RPCS,
    AGENT_SPANS,
)
from leoflow.telemetry.tracing import AgentSpan, record_agent_spans, try_attributes
from leoflow.xcom import RunScope, XComAddress, XComRejected, XComRejectionReason, XComService
from leoflow.xcom.backend import UNMAPPED
from leoflow_sdk.protocol import (
    agent_pb2,
    agent_pb2_grpc,
    task_state_from_proto,
    task_state_to_proto,
)

log = get_logger(__name__)

_R = TypeVar("_R")

DEFERRAL_UNSUPPORTED = (
    "deferrable tasks are not supported yet: run the operator without deferrable=True (or "
    "use a sensor in poke/reschedule mode)"
)

_STREAMS = {
    agent_pb2.LOG_STREAM_STDOUT: STDOUT,
    agent_pb2.LOG_STREAM_STDERR: STDERR,
    agent_pb2.LOG_STREAM_AGENT: AGENT,
}

_REJECTIONS = {
    XComRejectionReason.TOO_LARGE: agent_pb2.XCOM_REJECTION_REASON_TOO_LARGE,
    XComRejectionReason.SCHEMA_MISMATCH: agent_pb2.XCOM_REJECTION_REASON_SCHEMA_MISMATCH,
    XComRejectionReason.INVALID_CONTENT: agent_pb2.XCOM_REJECTION_REASON_INVALID_CONTENT,
    XComRejectionReason.STALE_TRY: agent_pb2.XCOM_REJECTION_REASON_STALE_TRY,
}

_REFUSALS = {
    TransitionRefusal.NOT_FOUND: agent_pb2.REFUSAL_REASON_NOT_FOUND,
    TransitionRefusal.STALE_TRY: agent_pb2.REFUSAL_REASON_STALE_TRY,
    TransitionRefusal.ILLEGAL_TRANSITION: agent_pb2.REFUSAL_REASON_ILLEGAL_TRANSITION,
}


TRY_MEMO_SECONDS = 60.0
"""How long a try's task instance, read by one call, serves the calls that only need its
identity (the preparation of a try takes milliseconds)."""


class CallRefused(AgentAuthError):
    """A call refused with a gRPC status (not a business refusal)."""


def is_loopback_peer(peer: str) -> bool:
    """Whether a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``,
    ``unix:…``) is this machine."""
    if peer.startswith("unix:"):
        return True
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        host = rest.rsplit(":", 1)[0].strip("[]")
    elif kind == "ipv4":
        host = rest.rsplit(":", 1)[0]
    else:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _rpc(
    name: str,
) -> Callable[[Callable[..., Awaitable[_R]]], Callable[..., Awaitable[_R]]]:
    """Metrics, status mapping and a safe INTERNAL answer around one handler."""

    def decorate(handler: Callable[..., Awaitable[_R]]) -> Callable[..., Awaitable[_R]]:
        @functools.wraps(handler)
        async def wrapper(self: AgentService, request: Any, context: Any) -> _R:
            started = time.perf_counter()
            code = "OK"
            try:
                return await handler(self, request, context)
            except AgentAuthError as exc:
                code = exc.code.name
                AGENT_CALL_REFUSALS.labels(exc.reason).inc()
                await context.abort(exc.code, exc.message)
                raise  # pragma: no cover - abort raises
            except grpc.aio.AbortError:
                code = "ABORTED"
                raise
            except Exception as exc:
                code = "INTERNAL"
                log.exception("agent service call failed", method=name, error=str(exc))
                await context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"{name} failed inside the control plane; see its logs",
                )
                raise  # pragma: no cover - abort raises
            finally:
                AGENT_RPCS.labels(name, code).inc()
                AGENT_RPC_DURATION.labels(name).observe(time.perf_counter() - started)

        return wrapper

    return decorate


_TryKey = tuple[str, str, str, str, int, int]


def _try_key(claims: AgentClaims) -> _TryKey:
    return (
        claims.tenant,
        claims.dag_id,
        claims.run_id,
        claims.task_id,
        claims.map_index,
        claims.try_number,
    )


@dataclass(frozen=True)
class _Caller:
    claims: AgentClaims
    ti: TaskTry

    @property
    def log_ref(self) -> TryLogRef:
        return TryLogRef(
            self.claims.tenant,
            self.claims.dag_id,
            self.claims.run_id,
            self.claims.task_id,
            self.claims.try_number,
            self.claims.map_index,
        )

    @property
    def scope(self) -> RunScope:
        return RunScope(self.claims.tenant, self.claims.dag_id, self.ti.run_uuid)

    @property
    def is_current(self) -> bool:
        return self.ti.try_number == self.claims.try_number


def _correlate(claims: AgentClaims) -> None:
    """The caller's try on every log line of this call (each call runs in its own task, so the
    binding ends with it) and on the call's server span."""
    fields: dict[str, str | int] = {
        "tenant": claims.tenant,
        "dag_id": claims.dag_id,
        "run_id": claims.run_id,
        "task_id": claims.task_id,
        "try_number": claims.try_number,
    }
    structlog.contextvars.bind_contextvars(**fields)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"leoflow.{name}": value for name, value in fields.items()})


def _agent_spans(records: Sequence[agent_pb2.SpanRecord]) -> list[AgentSpan]:
    return [
        AgentSpan(
            name=record.name,
            trace_id=int.from_bytes(record.trace_id, "big") if len(record.trace_id) == 16 else 0,
            span_id=int.from_bytes(record.span_id, "big") if len(record.span_id) == 8 else 0,
            parent_span_id=(
                int.from_bytes(record.parent_span_id, "big")
                if len(record.parent_span_id) == 8
                else 0
            ),
            start_time_ns=record.start_time.ToNanoseconds(),
            end_time_ns=record.end_time.ToNanoseconds(),
            attributes=dict(record.attributes),
            error=record.error or None,
        )
        for record in records
    ]


def _now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    """Every RPC of the agent protocol, over the store, the XCom service and the task logs."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        jwt_secret: str,
        xcom: XComService,
        logs: TaskLogs,
        reporter: TaskReporter | None = None,
        catalog: DagCatalog | None = None,
        cipher: SecretCipher | None = None,
        tls: bool = False,
        staging_root: Path | None = None,
        timeout_grace_seconds: float | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._tokens = VerifiedTokens(jwt_secret)
        self._xcom = xcom
        self._logs = logs
        self._reporter = reporter
        self._catalog = catalog or DagCatalog(db, settings.task_defaults)
        self._cipher = cipher
        self.tls = tls
        self._staging_root = staging_root
        interval = settings.agent_heartbeat_interval_seconds
        self._timeout_grace = (
            timeout_grace_seconds
            if timeout_grace_seconds is not None
            else settings.subprocess_kill_grace_seconds + 2 * interval + 5.0
        )
        self._agents: OrderedDict[tuple[Any, int], tuple[str, int]] = OrderedDict()
        self._fan_in_ok: OrderedDict[tuple[Any, int, str], float] = OrderedDict()
        self._tries: OrderedDict[_TryKey, tuple[TaskTry, float]] = OrderedDict()
        """The task instance of each recent try, as last read or written (see ``_caller``)."""
        self._reading: dict[_TryKey, asyncio.Future[TaskTry | None]] = {}
        """Reads of a try's task instance under way (calls arriving together share one)."""

    def bind_reporter(self, reporter: TaskReporter) -> None:
        """Use the scheduler's reporter (its wake-ups reach the scheduler of this process)."""
        self._reporter = reporter

    @property
    def reporter(self) -> TaskReporter:
        if self._reporter is None:
            raise RuntimeError("the agent service has no TaskReporter bound yet")
        return self._reporter

    # --- shared steps ----------------------------------------------------------------------

    def _claims(self, context: Any, key: agent_pb2.TaskInstanceKey | None) -> AgentClaims:
        claims = self._tokens.authenticate(context.invocation_metadata())
        if key is not None:
            check_scope(claims, key)
        _correlate(claims)
        return claims

    async def _caller(
        self, context: Any, key: agent_pb2.TaskInstanceKey | None, *, fresh: bool = True
    ) -> _Caller:
        """The caller's claims and task instance.

        ``fresh=False`` is for calls that only need what cannot change during a try (which
        task instance and run, the run's context) or that write through a guarded
        compare-and-set anyway (a state report): the row read or written by an earlier call of
        the same try a moment ago is used, and calls arriving together (an agent asks for its
        spec alongside ``Register``) share one read. That spares the start of every try several
        database round trips. Calls whose answer depends on the current state (heartbeats,
        XCom pushes, secrets) read it anew.
        """
        claims = self._claims(context, key)
        memo = _try_key(claims)
        if not fresh:
            known = self._tries.get(memo)
            if known is not None and time.monotonic() - known[1] < TRY_MEMO_SECONDS:
                return _Caller(claims, known[0])
            reading = self._reading.get(memo)
            if reading is not None:
                ti = await asyncio.shield(reading)
                if ti is not None:
                    return _Caller(claims, ti)
        return _Caller(claims, await self._read_try(claims, memo))

    async def _read_try(self, claims: AgentClaims, memo: _TryKey) -> TaskTry:
        reading: asyncio.Future[TaskTry | None] = asyncio.get_running_loop().create_future()
        self._reading[memo] = reading
        try:
            ti = await find_task_try(
                self._db,
                claims.tenant,
                claims.dag_id,
                claims.run_id,
                claims.task_id,
                map_index=claims.map_index,
            )
        except BaseException:
            reading.set_result(None)  # sharers read for themselves
            raise
        finally:
            if self._reading.get(memo) is reading:
                del self._reading[memo]
        reading.set_result(ti)
        if ti is None:
            self._tries.pop(memo, None)
            raise CallRefused(
                grpc.StatusCode.NOT_FOUND,
                "not_found",
                f"task instance {claims.subject} does not exist (its run was deleted?)",
            )
        self._remember(memo, ti)
        return ti

    def _remember(self, memo: _TryKey, ti: TaskTry) -> None:
        self._tries[memo] = (ti, time.monotonic())
        self._tries.move_to_end(memo)
        while len(self._tries) > 10_000:
            self._tries.popitem(last=False)

    async def _compiled(self, ti: TaskTry) -> CompiledDag:
        return await self._catalog.get(ti.dag_version_id)

    def _staging_dir(self, caller: _Caller, compiled: CompiledDag) -> str | None:
        """Where the try sees its run's staging space: ``/staging`` in a pod (the token says
        the kubernetes executor launched it), else the run's folder, which the executor made
        before launching the try."""
        staging = compiled.spec.staging
        if staging is None or not staging.enabled:
            return None
        claims = caller.claims
        return task_staging_dir(
            claims.executor,
            self._staging_root,
            tenant=claims.tenant,
            dag_id=claims.dag_id,
            run_id=claims.run_id,
        )

    def _require_secure_channel(self, context: Any) -> None:
        if self.tls:
            return
        settings = self._settings
        if settings.agent_allow_insecure_secrets:
            if settings.edition == "lite" and is_loopback_peer(context.peer() or ""):
                return
            reason = (
                "LEOFLOW_AGENT_ALLOW_INSECURE_SECRETS is honoured only by Lite and only for "
                "agents connecting over loopback"
            )
        else:
            reason = "the agent channel is plaintext"
        raise CallRefused(
            grpc.StatusCode.FAILED_PRECONDITION,
            "insecure_secrets",
            f"variables and connections are only delivered over TLS ({reason}); configure "
            "LEOFLOW_AGENT_TLS_CERT_FILE and LEOFLOW_AGENT_TLS_KEY_FILE, or for Lite on loopback "
            "set LEOFLOW_AGENT_ALLOW_INSECURE_SECRETS=true",
        )

    # --- RPCs ------------------------------------------------------------------------------

    @_rpc("Register")
    async def Register(
        self, request: agent_pb2.RegisterRequest, context: Any
    ) -> agent_pb2.RegisterResponse:
        caller = await self._caller(context, None, fresh=False)
        claims = caller.claims
        self._agents[(caller.ti.ti_id, claims.try_number)] = (request.hostname, request.pid)
        while len(self._agents) > 10_000:
            self._agents.popitem(last=False)
        return agent_pb2.RegisterResponse(
            task_instance=agent_pb2.TaskInstanceKey(
                tenant=claims.tenant,
                dag_id=claims.dag_id,
                run_id=claims.run_id,
                task_id=claims.task_id,
                map_index=claims.map_index,
                try_number=claims.try_number,
            ),
            server_time=_now_timestamp(),
            heartbeat_interval_seconds=self._settings.agent_heartbeat_interval_seconds,
        )

    @_rpc("GetTaskSpec")
    async def GetTaskSpec(
        self, request: agent_pb2.GetTaskSpecRequest, context: Any
    ) -> agent_pb2.GetTaskSpecResponse:
        caller = await self._caller(context, request.task_instance, fresh=False)
        compiled = await self._compiled(caller.ti)
        spec = build_task_spec(
            compiled,
            caller.ti,
            xcom_max_size_bytes=self._xcom.policy.max_size_bytes,
            staging_dir=self._staging_dir(caller, compiled),
        )
        # The spec is that of the task; the try is the token's (the row may have moved on).
        spec.try_number = caller.claims.try_number
        return agent_pb2.GetTaskSpecResponse(spec=spec)

    async def _check_fan_in(self, caller: _Caller, compiled: CompiledDag, pull: XcomPull) -> None:
        task = compiled.tasks[caller.claims.task_id]
        for param, pulls in task.xcom_pulls().items():
            if len(pulls) < 2 or pull not in pulls:
                continue
            memo = (caller.ti.ti_id, caller.claims.try_number, param)
            if memo in self._fan_in_ok:
                continue
            addresses = [XComAddress(caller.scope, p.task_id, p.key, UNMAPPED) for p in pulls]
            await self._xcom.check_fan_in(param, addresses)
            self._fan_in_ok[memo] = time.monotonic()
            while len(self._fan_in_ok) > 10_000:
                self._fan_in_ok.popitem(last=False)

    @_rpc("FetchXCom")
    async def FetchXCom(
        self, request: agent_pb2.FetchXComRequest, context: Any
    ) -> agent_pb2.FetchXComResponse:
        caller = await self._caller(context, request.task_instance, fresh=False)
        compiled = await self._compiled(caller.ti)
        task = compiled.tasks[caller.claims.task_id]
        upstream = request.upstream_task_id
        if upstream not in task.depends_on:
            declared = ", ".join(task.depends_on) or "none"
            raise CallRefused(
                grpc.StatusCode.PERMISSION_DENIED,
                "undeclared_upstream",
                f"task '{task.task_id}' cannot read XComs of '{upstream}': it only reads from "
                f"the upstream tasks it declares (depends_on / xcom_input: {declared})",
            )
        pull = XcomPull(upstream, request.key or "return_value")
        try:
            await self._check_fan_in(caller, compiled, pull)
        except XComRejected as exc:
            # An error, not an empty answer: an agent must never mistake a refusal for a
            # missing value and deliver null in its place.
            raise CallRefused(
                grpc.StatusCode.FAILED_PRECONDITION,
                exc.reason.value,
                f"{exc.reason.value}: {exc.detail}",
            ) from None
        stored = await self._xcom.pull(XComAddress(caller.scope, upstream, pull.key))
        if stored is None:
            return agent_pb2.FetchXComResponse(found=False)
        return agent_pb2.FetchXComResponse(
            found=True, value=stored.value, content_type=stored.content_type
        )

    @_rpc("PushXCom")
    async def PushXCom(
        self, request: agent_pb2.PushXComRequest, context: Any
    ) -> agent_pb2.PushXComResponse:
        caller = await self._caller(context, request.task_instance)
        limit = self._xcom.policy.max_size_bytes
        key = request.key or "return_value"
        if not caller.is_current or caller.ti.state is not TaskState.RUNNING:
            return agent_pb2.PushXComResponse(
                accepted=False,
                reason=agent_pb2.XCOM_REJECTION_REASON_STALE_TRY,
                detail=f"try {caller.claims.try_number} is no longer the running try (the task "
                f"instance is at try {caller.ti.try_number}, {caller.ti.state.value}); its "
                "result no longer counts",
                max_size_bytes=limit,
            )
        compiled = await self._compiled(caller.ti)
        task = compiled.tasks[caller.claims.task_id]
        try:
            await self._xcom.push(
                XComAddress(caller.scope, caller.claims.task_id, key, caller.claims.map_index),
                bytes(request.value),
                request.content_type,
                declared_size=request.size_bytes or None,  # 0: the agent did not say
                schema=task.xcom_schema,
                dag_ttl_seconds=compiled.spec.xcom_ttl_seconds,
            )
        except XComRejected as exc:
            await self._logs.write(
                caller.log_ref,
                f"[leoflow] XCom '{key}' refused ({exc.reason.value}): {exc.detail}",
                level="error",
            )
            return agent_pb2.PushXComResponse(
                accepted=False,
                reason=_REJECTIONS[exc.reason],
                detail=f"{exc.reason.value}: {exc.detail}",
                max_size_bytes=limit,
            )
        return agent_pb2.PushXComResponse(accepted=True, max_size_bytes=limit)

    @_rpc("StreamLogs")
    async def StreamLogs(
        self, request_iterator: AsyncIterator[agent_pb2.StreamLogsRequest], context: Any
    ) -> agent_pb2.StreamLogsResponse:
        claims = self._claims(context, None)
        ref = TryLogRef(
            claims.tenant,
            claims.dag_id,
            claims.run_id,
            claims.task_id,
            claims.try_number,
            claims.map_index,
        )
        received = dropped = 0
        last = await self._logs.last_sequence(ref)
        async for batch in request_iterator:
            check_scope(claims, batch.task_instance)
            lines = [
                IncomingLine(
                    stream=_STREAMS.get(line.stream, STDOUT),
                    text=line.line,
                    timestamp=(
                        line.timestamp.ToDatetime(tzinfo=UTC)
                        if line.HasField("timestamp")
                        else datetime.now(UTC)
                    ),
                    sequence=line.sequence,
                )
                for line in batch.lines
            ]
            result = await self._logs.ingest(ref, lines)
            received += result.stored
            dropped += result.dropped
            last = result.last_sequence
        return agent_pb2.StreamLogsResponse(
            lines_received=received, last_sequence=last, lines_dropped=dropped
        )

    def _state_answer(
        self,
        applied: bool,
        state: TaskState | None,
        try_number: int | None,
        *,
        reason: agent_pb2.RefusalReason.ValueType = agent_pb2.REFUSAL_REASON_UNSPECIFIED,
        detail: str = "",
    ) -> agent_pb2.ReportStateResponse:
        answer = agent_pb2.ReportStateResponse(applied=applied, detail=detail)
        if not applied:
            answer.reason = reason
        if state is not None:
            answer.current_state = task_state_to_proto(state)
        if try_number is not None:
            answer.current_try_number = try_number
        return answer

    def _note_report(self, caller: _Caller, result: TransitionResult) -> None:
        """Remember the try's row as the report left it (the next report names its source)."""
        row = result.task_instance
        if row is None:
            return
        self._remember(
            _try_key(caller.claims),
            dataclasses.replace(
                caller.ti, state=row.state, try_number=row.try_number, start_date=row.start_date
            ),
        )

    async def _refused_report(
        self, caller: _Caller, target: TaskState, result: TransitionResult
    ) -> agent_pb2.ReportStateResponse:
        self._tries.pop(_try_key(caller.claims), None)  # the row moved on: read it next time
        if result.refusal is TransitionRefusal.NOT_FOUND:
            raise CallRefused(
                grpc.StatusCode.NOT_FOUND,
                "not_found",
                f"task instance {caller.claims.subject} does not exist (its run was deleted?)",
            )
        if result.already_in_target or (
            target is TaskState.FAILED
            and result.refusal is TransitionRefusal.ILLEGAL_TRANSITION
            and result.current_state in (TaskState.FAILED, TaskState.UP_FOR_RETRY)
            and result.current_try == caller.claims.try_number
        ):
            return self._state_answer(
                True,
                result.current_state,
                result.current_try,
                detail="already recorded (duplicate report)",
            )
        if result.refusal is TransitionRefusal.STALE_TRY:
            archived = await archived_try_state(self._db, caller.ti.ti_id, caller.claims.try_number)
            if archived is target or (
                target is TaskState.FAILED and archived is TaskState.UP_FOR_RETRY
            ):
                return self._state_answer(
                    True, archived, caller.claims.try_number, detail="already recorded"
                )
        refusal = result.refusal or TransitionRefusal.ILLEGAL_TRANSITION
        current = result.current_state.value if result.current_state else "gone"
        return self._state_answer(
            False,
            result.current_state,
            result.current_try,
            reason=_REFUSALS[refusal],
            detail=f"cannot move try {caller.claims.try_number} to {target.value}: "
            f"{refusal.value} (task instance is {current} at try {result.current_try})",
        )

    async def _frame_outcome(
        self, caller: _Caller, result: TransitionResult, error: str, exit_code: int | None
    ) -> None:
        ref = caller.log_ref
        target = result.target
        number = caller.claims.try_number
        if target is TaskState.RUNNING:
            host, pid = self._agents.get((caller.ti.ti_id, number), ("", 0))
            where = f" on {host} (pid {pid})" if host else ""
            total = caller.ti.max_tries + 1
            await self._logs.write(ref, f"[leoflow] try {number} of {total} running{where}")
            return
        why = f": {error}" if error else ""
        code = f" (exit code {exit_code})" if exit_code is not None else ""
        if target is TaskState.UP_FOR_RETRY:
            row = result.task_instance
            when = row.next_retry_at.isoformat() if row and row.next_retry_at else "soon"
            await self._logs.write(
                ref,
                f"[leoflow] try {number} failed{code}{why}; up for retry at {when}",
                level="error",
            )
        elif target is TaskState.FAILED:
            await self._logs.write(
                ref, f"[leoflow] try {number} failed{code}{why}; no retries left", level="error"
            )
        await self._logs.end(ref)

    @_rpc("ReportState")
    async def ReportState(
        self, request: agent_pb2.ReportStateRequest, context: Any
    ) -> agent_pb2.ReportStateResponse:
        # The report itself is a guarded compare-and-set: the try's row as last known suffices
        # to name it (a refusal reads what is there now).
        caller = await self._caller(context, request.task_instance, fresh=False)
        number = caller.claims.try_number
        if request.try_number != number:
            return self._state_answer(
                False,
                caller.ti.state,
                caller.ti.try_number,
                reason=agent_pb2.REFUSAL_REASON_STALE_TRY,
                detail=f"try_number {request.try_number} does not match the try of this "
                f"agent ({number})",
            )
        try:
            target = TaskState(task_state_from_proto(request.state))
        except ValueError as exc:
            raise CallRefused(grpc.StatusCode.INVALID_ARGUMENT, "bad_request", str(exc)) from None
        if target is TaskState.DEFERRED:
            return self._state_answer(
                False,
                caller.ti.state,
                caller.ti.try_number,
                reason=agent_pb2.REFUSAL_REASON_TARGET_NOT_ALLOWED,
                detail=DEFERRAL_UNSUPPORTED,
            )
        if target not in REPORTABLE_STATES:
            allowed = ", ".join(sorted(s.value for s in REPORTABLE_STATES))
            return self._state_answer(
                False,
                caller.ti.state,
                caller.ti.try_number,
                reason=agent_pb2.REFUSAL_REASON_TARGET_NOT_ALLOWED,
                detail=f"an agent cannot report {target.value}; it may report {allowed}",
            )
        host, pid = self._agents.get((caller.ti.ti_id, number), (None, None))
        error = request.error_message
        ti = caller.ti
        identity = TaskIdentity(
            ti.ti_id,
            ti.run_uuid,
            ti.task_id,
            ti.dag_version_id,
            ti.state,
            ti.try_number,
            ti.dag_id,
            ti.run_id,
            ti.tenant,
            ti.max_tries,
        )
        result = await self.reporter.report(
            ti.ti_id,
            number,
            target,
            hostname=host,
            pid=pid,
            error=error or None,
            identity=identity,
        )
        if not result.applied:
            return await self._refused_report(caller, target, result)
        self._note_report(caller, result)
        if target is TaskState.RUNNING:
            # A new try starts clean, as in Airflow: nothing an earlier try pushed is served.
            await self._xcom.clear_task(
                caller.scope, caller.claims.task_id, caller.claims.map_index
            )
        if request.spans:
            self._export_spans(caller, request.spans)
        exit_code = request.exit_code if request.HasField("exit_code") else None
        await self._frame_outcome(caller, result, error, exit_code)
        return self._state_answer(True, result.current_state, result.current_try)

    def _export_spans(self, caller: _Caller, records: Sequence[agent_pb2.SpanRecord]) -> None:
        """The agent's phase spans into its try's trace (only once: a duplicate report, answered
        above, never gets here)."""
        claims = caller.claims
        attributes = try_attributes(
            dag_id=claims.dag_id,
            task_id=claims.task_id,
            run_id=claims.run_id,
            try_number=claims.try_number,
            tenant=claims.tenant,
        )
        host, pid = self._agents.get((caller.ti.ti_id, claims.try_number), ("", 0))
        if host:
            attributes["host.name"] = host
            attributes["process.pid"] = pid
        spans = _agent_spans(records)
        accepted = record_agent_spans(spans, caller.ti.ti_id, claims.try_number, attributes)
        AGENT_SPANS.labels("true").inc(accepted)
        if accepted < len(spans):
            AGENT_SPANS.labels("false").inc(len(spans) - accepted)

    async def _timed_out(self, caller: _Caller) -> str | None:
        started = caller.ti.start_date
        if started is None:
            return None
        timeout = (await self._compiled(caller.ti)).execution_timeout(caller.claims.task_id)
        if timeout is None:
            return None
        elapsed = (datetime.now(UTC) - started).total_seconds()
        if elapsed <= timeout + self._timeout_grace:
            return None
        return f"timed out: running {elapsed:.0f} s, over its execution timeout of {timeout:g} s"

    def _terminate(
        self, reason: agent_pb2.TerminateReason.ValueType, detail: str
    ) -> agent_pb2.HeartbeatResponse:
        return agent_pb2.HeartbeatResponse(should_terminate=True, reason=reason, detail=detail)

    async def _stale_heartbeat(self, caller: _Caller) -> agent_pb2.HeartbeatResponse:
        ti = caller.ti
        number = caller.claims.try_number
        if ti.try_number != number:
            archived = await archived_try_state(self._db, ti.ti_id, number)
            if ti.state is TaskState.NONE or archived is TaskState.NONE:
                return self._terminate(
                    agent_pb2.TERMINATE_REASON_CLEARED,
                    f"the task instance was cleared; try {ti.try_number} will run instead",
                )
            return self._terminate(
                agent_pb2.TERMINATE_REASON_STALE_TRY,
                f"try {number} is no longer current (the task instance is at try {ti.try_number})",
            )
        if ti.state is TaskState.NONE:
            return self._terminate(
                agent_pb2.TERMINATE_REASON_CLEARED, "the task instance was cleared"
            )
        if ti.state in (TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED):
            return self._terminate(
                agent_pb2.TERMINATE_REASON_MARKED,
                f"the task instance was marked {ti.state.value}",
            )
        return self._terminate(
            agent_pb2.TERMINATE_REASON_STALE_TRY,
            f"try {number} is no longer running (task instance is {ti.state.value})",
        )

    @_rpc("Heartbeat")
    async def Heartbeat(
        self, request: agent_pb2.HeartbeatRequest, context: Any
    ) -> agent_pb2.HeartbeatResponse:
        try:
            caller = await self._caller(context, request.task_instance)
        except CallRefused as exc:
            if exc.code is not grpc.StatusCode.NOT_FOUND:
                raise
            return self._terminate(agent_pb2.TERMINATE_REASON_NOT_FOUND, exc.message)
        ti = caller.ti
        if request.try_number != caller.claims.try_number:
            return self._terminate(
                agent_pb2.TERMINATE_REASON_STALE_TRY,
                "the heartbeat names another try than this agent's",
            )
        if caller.is_current and ti.state is TaskState.QUEUED:
            # The agent beats before it reports running; nothing to stamp yet.
            return agent_pb2.HeartbeatResponse(should_terminate=False)
        if not caller.is_current or ti.state is not TaskState.RUNNING:
            return await self._stale_heartbeat(caller)
        if not await record_heartbeat(self._db, ti.ti_id, caller.claims.try_number):
            fresh = await self._caller(context, request.task_instance)
            return await self._stale_heartbeat(fresh)
        timed_out = await self._timed_out(caller)
        if timed_out is None:
            return agent_pb2.HeartbeatResponse(should_terminate=False)
        result = await self.reporter.report(
            ti.ti_id, caller.claims.try_number, TaskState.FAILED, error=timed_out
        )
        if result.applied:
            await self._logs.write(caller.log_ref, f"[leoflow] {timed_out}", level="error")
            await self._frame_outcome(caller, result, timed_out, None)
        return self._terminate(agent_pb2.TERMINATE_REASON_TIMED_OUT, timed_out)

    async def _secret_caller(self, context: Any, key: agent_pb2.TaskInstanceKey) -> _Caller:
        self._require_secure_channel(context)
        caller = await self._caller(context, key)
        if not caller.is_current:
            raise CallRefused(
                grpc.StatusCode.FAILED_PRECONDITION,
                "stale_try",
                f"try {caller.claims.try_number} is no longer current; secrets are delivered "
                "to the current try only",
            )
        return caller

    @_rpc("GetVariables")
    async def GetVariables(
        self, request: agent_pb2.GetVariablesRequest, context: Any
    ) -> agent_pb2.GetVariablesResponse:
        caller = await self._secret_caller(context, request.task_instance)
        try:
            values = await variables_for_task(
                self._db, caller.ti.tenant_id, list(request.keys), self._cipher
            )
        except CipherUnavailableError as exc:
            raise CallRefused(
                grpc.StatusCode.FAILED_PRECONDITION, "no_secret_key", str(exc)
            ) from None
        return agent_pb2.GetVariablesResponse(variables=values)

    @_rpc("GetConnections")
    async def GetConnections(
        self, request: agent_pb2.GetConnectionsRequest, context: Any
    ) -> agent_pb2.GetConnectionsResponse:
        caller = await self._secret_caller(context, request.task_instance)
        try:
            delivered = await connections_for_task(
                self._db, caller.ti.tenant_id, list(request.conn_ids), self._cipher
            )
        except CipherUnavailableError as exc:
            raise CallRefused(
                grpc.StatusCode.FAILED_PRECONDITION, "no_secret_key", str(exc)
            ) from None
        answer = agent_pb2.GetConnectionsResponse()
        for item in delivered:
            conn = answer.connections.add(
                conn_id=item.conn_id,
                conn_type=item.conn_type,
                host=item.host or "",
                schema=item.schema or "",
                login=item.login or "",
                password=item.password or "",
                extra_json=item.extra or "",
                uri=item.uri,
                description=item.description or "",
            )
            if item.port is not None:
                conn.port = item.port
        return answer

    @_rpc("DeferTask")
    async def DeferTask(
        self, request: agent_pb2.DeferTaskRequest, context: Any
    ) -> agent_pb2.DeferTaskResponse:
        self._claims(context, request.task_instance)
        return agent_pb2.DeferTaskResponse(
            accepted=False,
            reason=agent_pb2.REFUSAL_REASON_TRIGGER_REJECTED,
            detail=DEFERRAL_UNSUPPORTED,
        )
