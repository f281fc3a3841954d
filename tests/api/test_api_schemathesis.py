"""Schemathesis against the live API: no generated request, valid or not, gets a 5xx.

The real app runs under uvicorn on a real per-test PostgreSQL, seeded with a registered DAG, a
run whose task instances succeeded and failed, an XCom, a log, a variable, a connection, an
import error and audit entries. Every operation of ``/openapi.json`` — and of the private
``/ui`` API, which stays out of that document as in Airflow, so its document is generated
from the same routes here — is driven with schemathesis' positive (schema-valid) and negative
(schema-violating) examples, half of them with the path parameters pinned to the seeded
objects so the handlers get past their 404s. Every request carries a freshly minted Admin
token (``/auth/logout`` revokes the one it is sent with), so routes are exercised beyond 401.

The bound is :data:`EXAMPLES` per operation and generation mode (raise it with
``LEOFLOW_SCHEMATHESIS_EXAMPLES`` for a deeper run). A failure lists every operation that
answered 5xx with a ``curl`` command reproducing it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import requests
import schemathesis
import uvicorn
from fastapi import APIRouter, FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.formats import unregister_string_format

from harness.airflow_api import bash_spec, drive, start_run
from harness.api import TEST_PASSWORD, api_settings, security_of
from leoflow.api.app import create_app
from leoflow.api.routes import ui as ui_routes
from leoflow.states import TaskState
from leoflow.store import tenants
from leoflow.store.pool import create_pool
from leoflow.store.scheduling import record_scheduler_heartbeat

pytestmark = pytest.mark.slow

ADMIN = "schemathesis-admin"
EXAMPLES = int(os.environ.get("LEOFLOW_SCHEMATHESIS_EXAMPLES", "10"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
NDJSON = "application/x-ndjson"
REQUEST_TIMEOUT = 30


@dataclass
class LiveApi:
    """The server under test: its URL and the app object (to mint tokens)."""

    url: str
    app: FastAPI
    home: Path


@dataclass
class Findings:
    """What the run saw: examples per operation and every 5xx answer."""

    examples: Counter[str] = field(default_factory=Counter)
    server_errors: dict[str, str] = field(default_factory=dict)
    not_violable: set[str] = field(default_factory=set)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_api(database_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    """The app under uvicorn on 127.0.0.1:<free port>, in its own thread and event loop."""
    port = _free_port()
    home = tmp_path / "home"
    settings = api_settings(
        admin_username=ADMIN, admin_password=SecretStr(TEST_PASSWORD), home=home
    )
    holder: dict[str, Any] = {}
    failure: list[BaseException] = []

    async def serve() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=4)
        try:
            app = create_app(pool, settings)
            holder["app"] = app
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_config=None,
                access_log=False,
                timeout_keep_alive=600,
            )
            server = uvicorn.Server(config)
            holder["server"] = server
            await server.serve()
        finally:
            await pool.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)

    thread = threading.Thread(target=run, name="uvicorn-schemathesis", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (holder.get("server") and holder["server"].started):
        assert not failure, failure
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield LiveApi(url=f"http://127.0.0.1:{port}", app=holder["app"], home=home)
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=30)


def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


@pytest.fixture
def date_times_to_the_calendar_ends() -> Iterator[None]:
    """``date-time`` values anywhere in years 1…9999 with any whole-minute offset.

    A quarter of them are the calendar's first or last instant, so values such as
    ``0001-01-01T00:00:00+05:00`` — valid ISO 8601, but before year 1 in UTC — come up;
    schemathesis' own values rarely get there.
    """
    offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(_offset)
    anywhere = st.datetimes(timezones=offsets)
    ends = st.builds(
        lambda moment, offset: moment.replace(tzinfo=offset),
        st.sampled_from([datetime.min, datetime.max]),
        offsets,
    )
    schemathesis.openapi.format(
        "date-time", st.one_of(anywhere, anywhere, anywhere, ends).map(datetime.isoformat)
    )
    yield
    unregister_string_format("date-time")


def _token(api: LiveApi) -> str:
    """A fresh Admin token (its own ``jti``, so a logout revokes only that one)."""
    return security_of(api.app).auth.tokens.mint(ADMIN, tenants.DEFAULT_TENANT).token


def _seed_store(database_url: str, run_id: str) -> None:
    """What the scheduler and agents would have written: task instances, an XCom, a
    heartbeat."""

    async def work() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = %s", (run_id,))
                row = await cur.fetchone()
                assert row is not None
                run_uuid: UUID = row[0]
            await start_run(pool, run_uuid, ("extract", "transform", "load"))
            await drive(
                pool,
                run_uuid,
                {
                    "extract": TaskState.SUCCESS,
                    "transform": TaskState.FAILED,
                    "load": TaskState.UPSTREAM_FAILED,
                },
            )
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO xcom (run_uuid, task_id, key, value) VALUES (%s, %s, %s, %s)",
                    (run_uuid, "extract", "return_value", json.dumps({"rows": 42}).encode()),
                )
            await record_scheduler_heartbeat(pool, "sched", "host", 1, is_leader=True)
        finally:
            await pool.close()

    asyncio.run(work())


def _seed(api: LiveApi, database_url: str) -> dict[str, Any]:
    """Seed every kind of object; answers the path parameters that name them."""
    headers = {"Authorization": f"Bearer {_token(api)}"}
    with httpx.Client(base_url=api.url, headers=headers) as http:
        pushed = http.post(
            "/api/v2/dags/pipeline/versions", json=bash_spec("pipeline", tags=["demo"])
        )
        assert pushed.status_code == 201, pushed.text
        run = http.post(
            "/api/v2/dags/pipeline/dagRuns",
            json={"logical_date": None, "dag_run_id": "r1", "conf": {"day": 1}},
        )
        assert run.status_code == 200, run.text
        _seed_store(database_url, "r1")
        log = api.home / "logs" / "default" / "pipeline" / "r1" / "extract" / "1.log"
        log.parent.mkdir(parents=True)
        log.write_text(
            json.dumps({"timestamp": "2025-01-01T00:00:00+00:00", "event": "42 rows"}) + "\n",
            encoding="utf-8",
        )
        variable = http.post("/api/v2/variables", json={"key": "seeded_var", "value": "v"})
        assert variable.status_code == 201, variable.text
        connection = http.post(
            "/api/v2/connections",
            json={"connection_id": "seeded_conn", "conn_type": "http", "password": "s3cret"},
        )
        assert connection.status_code == 201, connection.text
        error = http.put(
            "/api/v2/importErrors",
            json={"filename": "broken.py", "stack_trace": "SyntaxError", "dag_id": "broken"},
        )
        assert error.status_code == 201, error.text
        events = http.get("/api/v2/eventLogs", params={"limit": 1})
        assert events.status_code == 200 and events.json()["event_logs"], events.text
    return {
        "dag_id": "pipeline",
        "dag_run_id": "r1",
        "run_id": "r1",
        "task_id": "extract",
        "map_index": -1,
        "try_number": 1,
        "task_try_number": 1,
        "xcom_key": "return_value",
        "version_number": 1,
        "variable_key": "seeded_var",
        "connection_id": "seeded_conn",
        "import_error_id": error.json()["import_error_id"],
        "event_log_id": events.json()["event_logs"][0]["event_log_id"],
        "pool_name": "default_pool",
    }


def _ui_document() -> dict[str, Any]:
    """An OpenAPI document of the ``/ui`` routes (kept out of ``/openapi.json``): every
    ``router`` of the ``leoflow.api.routes.ui`` package, documented under ``/ui`` as served."""
    documented = FastAPI(title="Leoflow private UI API", version="1")
    for module_info in pkgutil.iter_modules(ui_routes.__path__):
        module = importlib.import_module(f"{ui_routes.__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            documented.include_router(router, prefix=ui_routes.router.prefix)
    return documented.openapi()


def _operations(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _pinned(seeded: dict[str, Any]) -> Any:
    """A function naming the seeded objects in a case's path (and same-named query)
    parameters."""

    def pin(case: Case) -> Case:
        for parameters in (case.path_parameters, case.query):
            for name in parameters or {}:
                if name in seeded:
                    parameters[name] = seeded[name]
        return case

    return pin


def _send(
    case: Case, base_url: str, session: requests.Session, headers: dict[str, str]
) -> Response:
    """Send ``case`` as generated (no redirect followed).

    An NDJSON answer is read up to its first line only: ``…/dagRuns/{r}/wait`` streams until
    the run finishes, and nothing runs it here.
    """
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    kwargs.update(timeout=REQUEST_TIMEOUT, allow_redirects=False, stream=True)
    with session.request(**kwargs) as raw:
        streamed = NDJSON in raw.headers.get("content-type", "")
        content = next(raw.iter_lines(), b"") if streamed else raw.content
    return Response(
        status_code=raw.status_code,
        headers={name.lower(): [value] for name, value in raw.headers.items()},
        content=content,
        request=raw.request,
        elapsed=raw.elapsed.total_seconds(),
        verify=True,
        message=raw.reason,
        stream_cut_short=streamed,
    )


def _drive(
    operation: Any,
    mode: GenerationMode,
    *,
    api: LiveApi,
    seeded: dict[str, Any],
    session: requests.Session,
    findings: Findings,
) -> None:
    """Run the bounded examples of one operation in one generation mode."""
    label = f"{operation.method.upper()} {operation.path}"
    generated = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(generated, generated.map(_pinned(seeded))))
    def example(case: Case) -> None:
        findings.examples[label] += 1
        headers = {"Authorization": f"Bearer {_token(api)}"}
        response = _send(case, api.url, session, headers)
        findings.statuses.setdefault(label, Counter())[response.status_code] += 1
        if response.status_code >= 500:
            detail = (
                f"{response.status_code} {response.text[:300]}\n"
                f"  {case.as_curl_command(base_url=api.url)[:2000]}"
            )
            print(f"\n5xx: {label}: {detail}", flush=True)
            findings.server_errors.setdefault(label, detail)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)

    try:
        example()
    except (Failure, BaseExceptionGroup) as exc:  # a 5xx, or one Hypothesis saw only once
        causes = getattr(exc, "exceptions", None) or [exc]
        detail = "; ".join(f"{type(cause).__name__}: {cause}"[:2000] for cause in causes)
        print(f"\nfailed: {label}: {detail}", flush=True)
        findings.server_errors.setdefault(label, detail)
    except Unsatisfiable:
        # Nothing about this operation can be violated (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE, f"no valid request for {label}"
        findings.not_violable.add(label)


def _order(operation: Any) -> tuple[bool, int, str, str]:
    """Deletions last, the deepest first (a run's task instances before the run, the run
    before its DAG), so they do not starve the other operations of seeded objects."""
    deleting = operation.method.upper() == "DELETE"
    return (
        deleting,
        -operation.path.count("/") if deleting else 0,
        operation.path,
        operation.method,
    )


def _fuzz(documents: list[dict[str, Any]], api: LiveApi, seeded: dict[str, Any]) -> Findings:
    """Drive every operation of ``documents`` in both generation modes."""
    findings = Findings()
    operations = [
        result.ok()
        for document in documents
        for result in schemathesis.openapi.from_dict(document).get_all_operations()
    ]
    with requests.Session() as session:
        for operation in sorted(operations, key=_order):
            for mode in MODES:
                _drive(operation, mode, api=api, seeded=seeded, session=session, findings=findings)
    return findings


@pytest.mark.usefixtures("date_times_to_the_calendar_ends")
def test_no_operation_answers_a_server_error(live_api: LiveApi, database_url: str) -> None:
    seeded = _seed(live_api, database_url)
    public = requests.get(f"{live_api.url}/openapi.json", timeout=10).json()
    ui = _ui_document()
    started = time.monotonic()
    findings = _fuzz([public, ui], live_api, seeded)
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis: {len(findings.examples)} operations, "
        f"{sum(findings.examples.values())} examples in {elapsed:.0f} s "
        f"({len(findings.not_violable)} with nothing to violate)"
    )
    for label in sorted(findings.statuses):
        print(f"  {label} {dict(sorted(findings.statuses[label].items()))}")

    assert not findings.server_errors, "\n".join(
        f"{label}: {detail}" for label, detail in sorted(findings.server_errors.items())
    )
    expected = _operations(public) | _operations(ui)
    assert set(findings.examples) == expected
    assert any(op.startswith("GET /ui/") for op in expected)
    assert {"POST /auth/token", "GET /api/v2/auth/logout"} <= expected
    # The token got every operation past authentication...
    refused_only = [label for label, seen in findings.statuses.items() if set(seen) <= {401, 403}]
    assert not refused_only, refused_only
    # ...and the seeded objects got operations on them past their 404s.
    answered = {
        label for label, seen in findings.statuses.items() if any(200 <= s < 300 for s in seen)
    }
    on_objects = {label for label in answered if "{" in label}
    assert len(on_objects) >= 30, sorted(on_objects)
