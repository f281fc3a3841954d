"""A real Leoflow server for the browser tests, a history to look at, and headless Chromium.

The server is the real command a user runs (``leoflow lite``) in a subprocess, with its real
scheduler and agents, on a fresh database of the session's PostgreSQL, serving the real
Airflow web app and code editor files provisioned like ``leoflow setup`` does. The database
holds a history to look at (``etl_pipeline``) and a DAG compiled by the real compiler that the
tests run for real (``ui_live``); the Lite workspace holds one project (``ide_demo``) that
Lite registers by itself and the editor tests change. Chromium is Debian's, installed by
:func:`ensure_chromium` when missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.factories import spec_hash
from harness.postgres import DatabaseFactory
from harness.web import (
    CHROMIUM_ARGS,
    ensure_chromium,
    provisioned_assets,
    provisioned_docs,
    provisioned_editor,
)
from leoflow.compiler.project import compile_project
from leoflow.secrets.cipher import generate_secret_key
from leoflow.store.dag_runs import RunType, create_dag_run
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.pool import acquire, create_pool
from leoflow.store.task_instances import create_task_instances
from leoflow.store.tenants import get_default_tenant_id
from ui.browsing import ADMIN, PASSWORD, Watcher, login

LEOFLOW = Path(sys.executable).with_name("leoflow")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
DAG_ID = "etl_pipeline"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
SUCCESS_RUN = f"scheduled__{T0.isoformat()}"
FAILED_RUN = f"manual__{(T0 + timedelta(days=1)).isoformat()}"
DAG_SOURCE = '''"""Daily sales: extract, transform, load."""
from airflow.sdk import dag, task


@dag(schedule="@daily", tags=["sales", "daily"])
def etl_pipeline():
    @task
    def transform(): ...
'''


LIVE_DAG_ID = "ui_live"
LIVE_TICKS = 12
LIVE_SOURCE = f'''"""Counts for a few seconds, printing as it goes, then reports (run for real)."""
from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["ui"])
def {LIVE_DAG_ID}():
    @task
    def count() -> int:
        for tick in range(1, {LIVE_TICKS} + 1):
            print(f"tick {{tick}} of {LIVE_TICKS}", flush=True)
            time.sleep(0.5)
        return {LIVE_TICKS}

    @task
    def report(total: int) -> None:
        print(f"counted {{total}} ticks")

    report(count())


{LIVE_DAG_ID}()
'''


IDE_DAG_ID = "ide_demo"
IDE_SOURCE = f'''"""A DAG of the Lite workspace, edited in the browser by the IDE tests."""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["ide"])
def {IDE_DAG_ID}():
    @task
    def hello() -> str:
        return "hello from the workspace"

    hello()


{IDE_DAG_ID}()
'''


def _spec() -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "dag_id": DAG_ID,
        "description": "Extract, transform and load the daily sales",
        "owner": "data-team",
        "tags": ["sales", "daily"],
        "schedule": "@daily",
        "start_date": "2025-01-01T00:00:00+00:00",
        "catchup": False,
        "source": DAG_SOURCE,
        "params": {"region": "emea"},
        "tasks": [
            {"task_id": "extract", "type": "bash", "entrypoint": "echo extracting"},
            {
                "task_id": "transform",
                "type": "python",
                "entrypoint": "dag:transform",
                "depends_on": ["extract"],
            },
            {
                "task_id": "load",
                "type": "python",
                "entrypoint": "dag:load",
                "depends_on": ["transform"],
            },
        ],
    }


async def _seed(dsn: str, home: Path) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        tenant_id = await get_default_tenant_id(pool)
        spec = _spec()
        version, _ = await register_dag_version(
            pool, tenant_id, DAG_ID, spec, spec_hash(spec), paused_on_create=False
        )
        runs = [
            (SUCCESS_RUN, RunType.SCHEDULED, T0, "success", ("success",) * 3),
            (
                FAILED_RUN,
                RunType.MANUAL,
                T0 + timedelta(days=1),
                "failed",
                ("success", "failed", "upstream_failed"),
            ),
        ]
        async with acquire(pool) as conn:
            await conn.execute(
                "UPDATE dags SET tags = %s, owners = %s, description = %s WHERE dag_id = %s",
                (spec["tags"], ["data-team"], spec["description"], DAG_ID),
            )
        for run_id, run_type, start, state, ti_states in runs:
            run, _ = await create_dag_run(
                pool,
                dag_uuid=version.dag_uuid,
                run_id=run_id,
                dag_version_id=version.id,
                run_type=run_type,
                triggered_by="timetable" if run_type is RunType.SCHEDULED else "ui",
                logical_date=start,
                run_after=start,
            )
            tis = await create_task_instances(pool, run.id, ["extract", "transform", "load"])
            async with acquire(pool) as conn:
                await conn.execute(
                    "UPDATE dag_runs SET state = %s, start_date = %s, end_date = %s WHERE id = %s",
                    (state, start, start + timedelta(minutes=3), run.id),
                )
                for i, (ti, ti_state) in enumerate(zip(tis, ti_states, strict=True)):
                    began = None if ti_state == "upstream_failed" else start + timedelta(minutes=i)
                    await conn.execute(
                        "UPDATE task_instances SET state = %s, start_date = %s, end_date = %s, "
                        "queued_at = %s, hostname = 'localhost', executor = 'subprocess' "
                        "WHERE id = %s",
                        (
                            ti_state,
                            began,
                            began + timedelta(seconds=40) if began else None,
                            began,
                            ti.id,
                        ),
                    )
                await conn.execute(
                    "INSERT INTO xcom (run_uuid, task_id, key, value) VALUES (%s, 'extract', "
                    "'return_value', %s)",
                    (run.id, json.dumps({"rows": 1245, "source": "s3://sales"}).encode()),
                )
            log_dir = home / "logs" / "default" / DAG_ID / run_id / "extract"
            log_dir.mkdir(parents=True, exist_ok=True)
            lines = [
                {"timestamp": start.isoformat(), "level": "info", "event": "extracting"},
                {"timestamp": start.isoformat(), "level": "info", "event": "1245 rows"},
            ]
            (log_dir / "1.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
        await _register_live_dag(pool, tenant_id, home / "projects" / LIVE_DAG_ID)
    finally:
        await pool.close()


async def _register_live_dag(pool: Any, tenant_id: Any, folder: Path) -> None:
    """Compile the DAG the tests run for real with the real compiler, and register it."""
    spec = (await asyncio.to_thread(compile_project, folder)).spec
    data = spec.model_dump(mode="json", exclude_none=True)
    await register_dag_version(
        pool, tenant_id, LIVE_DAG_ID, data, spec_hash(data), paused_on_create=False
    )


def _in_thread(coro: Any) -> None:
    """Run a coroutine to completion on a private loop (the session may own another)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class UiServer:
    """The running server and how to reach it."""

    url: str
    home: Path
    log: Path
    workspace: Path


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"leoflow lite exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"leoflow lite did not answer in time:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium (installed with apt on a fresh machine)."""
    try:
        return ensure_chromium()
    except RuntimeError as exc:
        pytest.fail(f"the browser tests need Chromium: {exc}")


@pytest.fixture(scope="session")
def ui_server(
    pg_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """``leoflow lite`` on a seeded database, serving the provisioned web app (one for every
    browser test module: starting it is most of a module's set-up time)."""
    assets = provisioned_assets()
    editor = provisioned_editor()
    docs = provisioned_docs()
    name = pg_databases.create_migrated()
    dsn = pg_databases.url(name)
    home = tmp_path_factory.mktemp("lite-home")
    live = home / "projects" / LIVE_DAG_ID
    live.mkdir(parents=True)
    (live / "dag.py").write_text(LIVE_SOURCE, encoding="utf-8")
    # Lite's workspace: the sync registers this project by itself (and, the folder not being
    # empty, Lite adds no starter project).
    workspace = home / "ws" / IDE_DAG_ID
    workspace.mkdir(parents=True)
    (workspace / "dag.py").write_text(IDE_SOURCE, encoding="utf-8")
    _in_thread(_seed(dsn, home))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(
        {
            "HOME": str(home),
            "LEOFLOW_HOME": str(home / ".leoflow"),
            "LEOFLOW_DATABASE_URL": dsn,
            "LEOFLOW_UI_ASSETS_DIR": str(assets.root),
            "LEOFLOW_EDITOR_ASSETS_DIR": str(editor.root),
            "LEOFLOW_DOCS_ASSETS_DIR": str(docs.root),
            "LEOFLOW_ADMIN_USERNAME": ADMIN,
            "LEOFLOW_ADMIN_PASSWORD": PASSWORD,
            "LEOFLOW_SECRET_KEY": generate_secret_key(),
            "LEOFLOW_LOG_FORMAT": "console",
            # DAG venvs are built in the temporary HOME; the package caches stay warm.
            "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
            "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        }
    )
    # Task logs are read from <LEOFLOW_HOME>/logs: the seed wrote them under home/logs.
    (home / ".leoflow").mkdir()
    (home / ".leoflow" / "logs").symlink_to(home / "logs", target_is_directory=True)
    log = home / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [LEOFLOW, "lite", "--port", str(port), "--postgres", "external", str(home / "ws")],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield UiServer(url=url, home=home, log=log, workspace=home / "ws")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pg_databases.drop(name)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """A headless Chromium driven by Playwright.

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in this
    thread while it is open, which asyncio tests that run after this module could not share.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (``test-artifacts/ui``, ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def session(browser: Any, ui_server: UiServer, artifacts: Path) -> Iterator[tuple[Any, Watcher]]:
    """A page logged in through the login form, and its watcher."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    watcher = Watcher(base=ui_server.url)
    watcher.attach(page)
    try:
        login(page, watcher, ui_server.url, artifacts)
        yield page, watcher
    finally:
        context.close()
