"""Inline http_api tasks against a real HTTP server on loopback (allowed by config), and the
SSRF refusals when it is not allowed or a redirect points at a forbidden network."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.execution import advance, dag_json, running_run
from leoflow.config import Settings, load_settings
from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.executors.inline_http import InlineHttpExecutor, inline_http_problems
from leoflow.executors.router import ExecutorRouter
from leoflow.logs import FileLogStorage, MemoryLogTail, TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.spec import dag_spec_from_data
from leoflow.states import TaskState
from leoflow.store.pool import Pool
from leoflow.store.task_instances import get_task_instance
from leoflow.xcom import PostgresXComBackend, RunScope, XComAddress, XComPolicy, XComService

pytestmark = pytest.mark.timeout(60)


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.path.startswith("/ok"):
            self._answer(200, b'{"status": "green"}', {"Content-Type": "application/json"})
        elif self.path == "/created":
            self._answer(201, b"made")
        elif self.path == "/fail":
            self._answer(503, b"down")
        elif self.path == "/big":
            self._answer(200, b"x" * 5000)
        elif self.path == "/hop":
            self._answer(302, b"", {"Location": "/ok?after=redirect"})
        elif self.path == "/to-metadata":
            self._answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/slow":
            time.sleep(3)
            self._answer(200, b"late")
        else:
            self._answer(404, b"no")

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Inline:
    pool: Pool
    executor: InlineHttpExecutor
    xcom: XComService
    logs: TaskLogs
    base: str


@pytest.fixture
async def inline_factory(
    db_pool: Pool, database_url: str, tmp_path: Path, http_server: str
) -> AsyncIterator[Any]:
    made: list[InlineHttpExecutor] = []

    def make(**overrides: Any) -> Inline:
        values: dict[str, Any] = {"database_url": database_url, "home": tmp_path}
        values.update(overrides)
        settings: Settings = load_settings(**values)
        catalog = DagCatalog(db_pool, settings.task_defaults)
        reporter = TaskReporter(db_pool, catalog, lambda _run: None)
        xcom = XComService(PostgresXComBackend(db_pool), XComPolicy(max_size_bytes=1024))
        logs = TaskLogs(FileLogStorage(tmp_path / "logs"), MemoryLogTail())

        async def tenant_of(_run: object) -> str:
            return "default"

        executor = InlineHttpExecutor(
            reporter=reporter,
            db=db_pool,
            catalog=catalog,
            xcom=xcom,
            logs=logs,
            settings=settings,
            tenant_of=tenant_of,
        )
        made.append(executor)
        return Inline(db_pool, executor, xcom, logs, http_server)

    yield make
    for executor in made:
        await executor.close()


def _http_dag(url: str, **request: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "task_id": "call",
        "type": "http_api",
        "http_request": {"url": url, **request},
    }
    extra = request.pop("task", {}) if "task" in request else {}
    task.update(extra)
    return dag_json("hooks", [task])


async def _run(inline: Inline, data: dict[str, Any]) -> tuple[TaskState, str, Any]:
    run = await running_run(inline.pool, data, run_id=f"manual__{uuid.uuid4()}")
    ti = run.tis["call"]
    await advance(inline.pool, ti.id, TaskState.QUEUED)
    launch = TaskLaunch(
        ti_id=ti.id,
        run_uuid=run.run.id,
        dag_id="hooks",
        run_id=run.run.run_id,
        task_id="call",
        map_index=-1,
        try_number=1,
        task_type="http_api",
        dag_version_id=run.version_id,
        logical_date=None,
        task_spec=data["tasks"][0],
    )
    await inline.executor.submit(launch)
    deadline = time.monotonic() + 20
    while True:
        row = await get_task_instance(inline.pool, ti.id)
        assert row is not None
        if row.state in (TaskState.SUCCESS, TaskState.FAILED):
            break
        assert time.monotonic() < deadline, row.state
        await asyncio.sleep(0.05)
    ref = TryLogRef("default", "hooks", run.run.run_id, "call", 1)
    text = await inline.logs.read_text(ref)
    stored = await inline.xcom.pull(
        XComAddress(RunScope("default", "hooks", run.run.id), "call", "return_value")
    )
    return row.state, text, None if stored is None else json.loads(stored.value)


async def test_success_pushes_the_response_text(inline_factory: Any) -> None:
    inline: Inline = inline_factory()
    state, text, value = await _run(
        inline,
        _http_dag(
            f"{inline.base}/ok?api_key=SECRET123",
            method="POST",
            headers={"X-Token": "hdr-secret"},
            body={"event": "done"},
        ),
    )
    assert state is TaskState.SUCCESS
    assert value == '{"status": "green"}'  # HttpOperator returns response.text
    request = _Handler.seen[-1]
    assert request["method"] == "POST" and json.loads(request["body"]) == {"event": "done"}
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Token"] == "hdr-secret"
    assert request["headers"]["Host"] == inline.base.removeprefix("http://")
    assert "HTTP 200" in text and "?…" in text
    assert "SECRET123" not in text and "hdr-secret" not in text


async def test_success_codes_redirects_and_failures(inline_factory: Any) -> None:
    inline: Inline = inline_factory()
    state, _, value = await _run(
        inline, _http_dag(f"{inline.base}/created", success_status_codes=[201])
    )
    assert (state, value) == (TaskState.SUCCESS, "made")
    state, _, value = await _run(inline, _http_dag(f"{inline.base}/hop"))
    assert state is TaskState.SUCCESS and "green" in value
    assert _Handler.seen[-1]["path"] == "/ok?after=redirect"
    state, text, _ = await _run(inline, _http_dag(f"{inline.base}/fail"))
    assert state is TaskState.FAILED and "HTTP 503" in text


async def test_large_bodies_are_not_kept_as_xcom(inline_factory: Any) -> None:
    inline: Inline = inline_factory()
    state, text, value = await _run(inline, _http_dag(f"{inline.base}/big"))
    assert (state, value) == (TaskState.SUCCESS, None)
    assert "not kept as XCom" in text


async def test_server_side_timeout(inline_factory: Any) -> None:
    inline: Inline = inline_factory(inline_http_max_seconds=1)
    state, _, _ = await _run(inline, _http_dag(f"{inline.base}/slow"))
    assert state is TaskState.FAILED
    row_text = await _run(inline, _http_dag(f"{inline.base}/ok"))
    assert row_text[0] is TaskState.SUCCESS


async def test_loopback_is_refused_unless_allowed(inline_factory: Any) -> None:
    inline: Inline = inline_factory(edition="pro")
    before = len(_Handler.seen)
    state, text, _ = await _run(inline, _http_dag(f"{inline.base}/ok"))
    assert state is TaskState.FAILED
    assert "loopback addresses are not reachable" in text
    assert len(_Handler.seen) == before  # nothing was sent


async def test_a_redirect_to_the_metadata_service_is_refused(inline_factory: Any) -> None:
    inline: Inline = inline_factory()
    state, text, _ = await _run(inline, _http_dag(f"{inline.base}/to-metadata"))
    assert state is TaskState.FAILED
    assert "169.254.169.254" in text and "link_local" in text


def test_long_timeouts_are_refused_at_registration() -> None:
    settings = load_settings(inline_http_max_seconds=300)
    spec = dag_spec_from_data(
        dag_json(
            "slowhooks",
            [
                {
                    "task_id": "long",
                    "type": "http_api",
                    "execution_timeout_seconds": 900,
                    "http_request": {"url": "https://example.com"},
                },
                {
                    "task_id": "pod",
                    "type": "http_api",
                    "execution_mode": "pod",
                    "execution_timeout_seconds": 900,
                    "http_request": {"url": "https://example.com"},
                },
                {
                    "task_id": "short",
                    "type": "http_api",
                    "http_request": {"url": "https://example.com", "timeout_seconds": 30},
                },
            ],
        )
    )
    (problem,) = inline_http_problems(spec, settings)
    assert problem.startswith("task 'long': declared timeout 900 s exceeds the 300 s limit")
    assert "execution_mode: pod" in problem


async def test_submit_refuses_what_registration_would_have(inline_factory: Any) -> None:
    inline: Inline = inline_factory(inline_http_max_seconds=5)
    data = _http_dag("https://example.com", timeout_seconds=60)
    run = await running_run(inline.pool, data)
    launch = TaskLaunch(
        ti_id=run.tis["call"].id,
        run_uuid=run.run.id,
        dag_id="hooks",
        run_id=run.run.run_id,
        task_id="call",
        map_index=-1,
        try_number=1,
        task_type="http_api",
        dag_version_id=run.version_id,
        logical_date=None,
        task_spec=data["tasks"][0],
    )
    with pytest.raises(ExecutorRefused, match="execution_mode: pod"):
        await inline.executor.submit(launch)


async def test_router_sends_inline_http_to_the_inline_executor() -> None:
    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name
            self.launches: list[str] = []

        async def submit(self, launch: TaskLaunch) -> None:
            self.launches.append(launch.task_id)

        async def cancel(self, ti_id: Any, try_number: int) -> None:
            self.launches.append(f"cancel {try_number}")

        async def close(self) -> None:
            return None

    process, inline = Recorder("process"), Recorder("inline")
    router = ExecutorRouter(process, inline_http=inline, http_mode_default="inline")

    def launch(task_id: str, kind: str, spec: dict[str, Any]) -> TaskLaunch:
        return TaskLaunch(
            ti_id=uuid.uuid4(),
            run_uuid=uuid.uuid4(),
            dag_id="d",
            run_id="r",
            task_id=task_id,
            map_index=-1,
            try_number=1,
            task_type=kind,
            dag_version_id=uuid.uuid4(),
            logical_date=None,
            task_spec=spec,
        )

    default_http = launch("a", "http_api", {})
    await router.submit(default_http)
    await router.submit(launch("b", "http_api", {"execution_mode": "pod"}))
    await router.submit(launch("c", "python", {}))
    await router.cancel(default_http.ti_id, 1)
    assert inline.launches == ["a", "cancel 1"]
    assert process.launches == ["b", "c"]


async def test_push_refuses_an_inline_timeout_over_the_limit(
    api_client: Any, auth_headers: Any
) -> None:
    admin = await auth_headers("Admin")
    document = dag_json(
        "slowhook",
        [
            {
                "task_id": "long",
                "type": "http_api",
                "execution_timeout_seconds": 900,
                "http_request": {"url": "https://example.com"},
            }
        ],
    )
    refused = await api_client.post("/api/v2/dags/slowhook/versions", json=document, headers=admin)
    assert refused.status_code == 422, refused.text
    (detail,) = refused.json()["detail"]
    assert "execution_mode: pod" in detail["msg"] and "900 s" in detail["msg"]
    document["tasks"][0]["execution_mode"] = "pod"
    accepted = await api_client.post("/api/v2/dags/slowhook/versions", json=document, headers=admin)
    assert accepted.status_code == 201, accepted.text
