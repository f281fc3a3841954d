"""The agent's gRPC channel to the control plane, and calls that survive a restart of it.

Every call carries the per-task token as ``authorization: Bearer …``. A call that did not get
through (``UNAVAILABLE``, ``DEADLINE_EXCEEDED`` …) is retried with exponential backoff until a
deadline that outlasts a control-plane restart (lessons.md: a 30 s budget turned succeeded
tasks into failed ones during a 60-80 s restart). A refusal (``UNAUTHENTICATED``,
``PERMISSION_DENIED`` …) is final at once: retrying cannot change the answer.

The channel reconnects quickly (backoff capped at 2 s instead of gRPC's 120 s), so a call made
right after the control plane is back does not wait for a stale reconnect timer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from leoflow_sdk.agent.settings import AgentSettings
from leoflow_sdk.agent.telemetry import AgentTracer
from leoflow_sdk.protocol import agent_pb2_grpc, bearer_metadata

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
"""Status codes meaning "the call did not get through" (or "try again"), never "no"."""

_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


class ControlPlaneError(Exception):
    """A call to the control plane failed for good; the message says which and why."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class ControlPlaneUnavailable(ControlPlaneError):
    """The control plane could not be reached before the retry deadline."""


class ControlPlaneRefused(ControlPlaneError):
    """The control plane answered with an error that retrying cannot change."""


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def open_channel(settings: AgentSettings) -> grpc.aio.Channel:
    """A channel to ``settings.address``: TLS (optionally mutual) unless insecure is set."""
    options = list(_CHANNEL_OPTIONS)
    if settings.insecure:
        return grpc.aio.insecure_channel(settings.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(settings.tls_ca),
        private_key=_read(settings.tls_key),
        certificate_chain=_read(settings.tls_cert),
    )
    if settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return grpc.aio.secure_channel(settings.address, credentials, options=options)


class Backoff:
    """Exponential delays with jitter: 0.1 s, 0.2 s, 0.4 s … capped at ``cap``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._next = first
        self._cap = cap

    def next_delay(self) -> float:
        """The next delay to sleep (and doubles the one after)."""
        # Jitter without the random module (one import less on every task start).
        delay = self._next * (0.8 + 0.4 * int.from_bytes(os.urandom(2), "big") / 65535)
        self._next = min(self._next * 2, self._cap)
        return delay


def describe_rpc_error(error: grpc.aio.AioRpcError) -> str:
    """``UNAVAILABLE: connection refused``: code and the server's detail, nothing else."""
    detail = (error.details() or "").strip()
    return f"{error.code().name}: {detail}" if detail else error.code().name


class ControlPlane:
    """The AgentService stub with the token attached and the retry policy applied."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str,
        *,
        rpc_timeout_seconds: float,
        retry_deadline_seconds: float,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.stub = agent_pb2_grpc.AgentServiceStub(channel)
        self.metadata = bearer_metadata(token)
        self.tracer: AgentTracer | None = None
        """Set by the agent: its calls then carry the try's ``traceparent``."""
        self.rpc_timeout_seconds = rpc_timeout_seconds
        self.retry_deadline_seconds = retry_deadline_seconds
        self._on_retry = on_retry

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """The token, and the W3C trace context of the phase in progress when traced."""
        if self.tracer is None or not self.tracer.active:
            return tuple(self.metadata)
        return (*self.metadata, *self.tracer.metadata())

    async def call_once(
        self, method: str, request: Any, *, attempt_seconds: float | None = None
    ) -> Any:
        """One attempt (``grpc.aio.AioRpcError`` on failure); heartbeats use it."""
        stub_method = getattr(self.stub, method)
        return await stub_method(
            request,
            metadata=self.call_metadata(),
            timeout=attempt_seconds or self.rpc_timeout_seconds,
            wait_for_ready=True,
        )

    async def call(
        self, method: str, request: Any, *, deadline_seconds: float | None = None
    ) -> Any:
        """Call ``method`` until it answers, a refusal, or the retry deadline passes."""
        budget = self.retry_deadline_seconds if deadline_seconds is None else deadline_seconds
        end = time.monotonic() + budget
        backoff = Backoff()
        announced = False
        while True:
            remaining = end - time.monotonic()
            try:
                return await self.call_once(
                    method,
                    request,
                    attempt_seconds=max(0.05, min(self.rpc_timeout_seconds, remaining)),
                )
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE_CODES:
                    raise ControlPlaneRefused(
                        f"{method} refused: {describe_rpc_error(error)}", error.code()
                    ) from None
                delay = backoff.next_delay()
                if time.monotonic() + delay >= end:
                    raise ControlPlaneUnavailable(
                        f"{method} failed: control plane unreachable for {budget:g} s "
                        f"(last error {describe_rpc_error(error)})",
                        error.code(),
                    ) from None
                if not announced and self._on_retry is not None:
                    self._on_retry(
                        f"{method}: control plane unavailable ({describe_rpc_error(error)}); "
                        f"retrying for up to {budget:g} s"
                    )
                    announced = True
                await asyncio.sleep(delay)
