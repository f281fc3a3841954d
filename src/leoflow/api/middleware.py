"""Per-request telemetry: a request id, Prometheus metrics and an OpenTelemetry span.

* ``X-Request-Id``: a well-formed id sent by the caller (a proxy, a client retrying) is kept,
  otherwise one is minted; it is echoed on the response, bound to every log line of the request
  and set on the request's span, so one id finds a request in logs, traces and client reports.
* ``leoflow_api_requests_total{method,route,status}`` and
  ``leoflow_api_request_duration_seconds{method,route}``, labelled with the route *template*.
* One server span per request, from OpenTelemetry's FastAPI instrumentation.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leoflow.telemetry.metrics import API_REQUEST_DURATION, API_REQUESTS

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED_ROUTE = "unmatched"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NOT_TRACED = "healthz,readyz,metrics"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_ID.match(text) else None
    return None


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request (bounded label values)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


class RequestTelemetryMiddleware:
    """Pure ASGI middleware (no body buffering, streaming responses stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        status_code = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("http.request_id", request_id)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            route = route_template(scope)
            method = str(scope.get("method", "GET"))
            API_REQUESTS.labels(method=method, route=route, status=str(status_code)).inc()
            API_REQUEST_DURATION.labels(method=method, route=route).observe(
                time.perf_counter() - started
            )


def install_telemetry(app: FastAPI) -> None:
    """Add request ids and metrics to ``app`` and trace each request in a server span."""
    app.add_middleware(RequestTelemetryMiddleware)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=_NOT_TRACED)
