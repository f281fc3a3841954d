"""Running an ``http_api`` task in its own process (``execution_mode: pod``).

One request as ``http_request`` describes it, with the url, headers and body rendered as
templates (HttpOperator's templated fields). Success is a listed status code (any 2xx when none
is listed). The response body becomes the return value when the control plane accepts its
size; the body is never logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from leoflow_sdk.runtime.loader import find_dag_objects, shim
from leoflow_sdk.runtime.notices import notice
from leoflow_sdk.runtime.session import TaskSession
from leoflow_sdk.runtime.templating import render, render_value

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Response bytes read at most; more is cut (the body is only an optional XCom)."""


class HttpTaskError(RuntimeError):
    """The request failed or answered with a status that is not a success."""


def _request(session: TaskSession, context: dict[str, Any]) -> urllib.request.Request:
    spec: dict[str, Any] = session.spec.task.get("http_request") or {}
    where = f"http_request of task '{session.task_id}'"
    url = render(str(spec.get("url", "")), context, f"url of {where}")
    headers = render_value(dict(spec.get("headers") or {}), context, f"headers of {where}")
    body = spec.get("body")
    data: bytes | None = None
    if isinstance(body, str):
        data = render(body, context, f"body of {where}").encode("utf-8")
    elif body is not None:
        data = json.dumps(body).encode("utf-8")
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return urllib.request.Request(
        url, data=data, headers=headers, method=str(spec.get("method") or "GET")
    )


def _target(request: urllib.request.Request) -> str:
    # Scheme, host and path only: a query string may carry a token rendered from a variable.
    parts = urlsplit(request.full_url)
    return f"{request.get_method()} {parts.scheme}://{parts.hostname}{parts.path}"


def run_http_task(session: TaskSession) -> None:
    """Send the request; fail on an unexpected status; return the response text."""
    dag, task_object = find_dag_objects(session.spec)
    context = session.build_context(task_object, dag)
    shim("airflow._leoflow.task_context").set_current_context(context)
    spec: dict[str, Any] = session.spec.task.get("http_request") or {}
    request = _request(session, context)
    timeout = spec.get("timeout_seconds") or None
    codes = spec.get("success_status_codes") or None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(MAX_BODY_BYTES)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HttpTaskError(f"{_target(request)} failed: {exc}") from None
    ok = status in codes if codes else 200 <= status < 300
    notice(f"{_target(request)} answered {status} ({len(raw)} B)")
    if not ok:
        expected = ", ".join(map(str, codes)) if codes else "2xx"
        raise HttpTaskError(f"{_target(request)} answered {status}, expected {expected}")
    session.write_return_value(raw.decode("utf-8", errors="replace"), False)
