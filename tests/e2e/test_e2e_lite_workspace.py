"""Lite as a user runs it: ``leoflow lite`` in a subprocess, a workspace of DAG projects, the CLI.

One Lite per module (temporary HOME and workspace), on the PostgreSQL of
``LEOFLOW_TEST_DATABASE_URL`` (a fresh database, ``--postgres external``) or else on Lite's own
embedded PostgreSQL. The workspace holds every project of ``examples/`` plus two of the test's
own. Through the ``leoflow`` CLI and the REST API, the tests check that:

* every example runs to success (per-DAG venvs built for real with uv or pip);
* saving a DAG file registers a new version that the next run uses, and an unchanged save
  registers nothing;
* a broken file is an import error (API and CLI) that is cleared when fixed; a duplicate
  dag_id is refused naming both folders; a removed project marks its DAG stale;
* Ctrl-C stops everything (running tasks get SIGTERM and their outcome is recorded), leaves no
  process behind, and a restart finds all history intact.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from leoflow.auth.cli_credentials import load_token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

LEOFLOW = Path(sys.executable).with_name("leoflow")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_IDS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "leoflow.yaml").is_file())
RUN_TIMEOUT = 120.0

HOT = """
from datetime import datetime
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1))
def hot_reload():
    @task
    def first() -> int:
        return 1
{extra}

hot_reload()
"""
SECOND_TASK = """
    @task
    def second(value: int) -> int:
        return value + 1

    second(first())
"""

SLEEPER = """
from datetime import datetime
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("sleeper", schedule=None, start_date=datetime(2025, 1, 1)):
    BashOperator(task_id="nap", bash_command="sleep 300", retries=0)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Lite:
    """A ``leoflow lite`` process and what a user has at hand: CLI, URL, workspace."""

    home: Path
    workspace: Path
    port: int
    env: dict[str, str]
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        handle = self.log.with_suffix(f".{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(LEOFLOW), "lite", str(self.workspace), "--port", str(self.port), *self.args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"leoflow lite exited early:\n{self.output()}")
            try:
                httpx.get(f"{self.url}/api/v2/monitor/health", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        pytest.fail(f"leoflow lite did not answer in time:\n{self.output()}")

    def ctrl_c(self) -> int:
        """SIGINT to the whole foreground group, as Ctrl-C in a terminal sends it."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            pytest.fail(f"leoflow lite did not stop on Ctrl-C:\n{self.output()}")

    def output(self) -> str:
        return self.log.with_suffix(f".{self.starts}.log").read_text(errors="replace")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(LEOFLOW), *args],
            capture_output=True,
            text=True,
            env={**self.env, "LEOFLOW_SERVER": self.url},
            timeout=RUN_TIMEOUT + 30,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"leoflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def api(self, path: str, **params: Any) -> Any:
        stored = load_token(self.home / ".leoflow", self.url)
        assert stored is not None, "Lite keeps a CLI token for its admin"
        response = httpx.get(
            self.url + path,
            params=params,
            headers={"Authorization": f"Bearer {stored[0]}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, check: Any, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def versions(self, dag_id: str) -> list[int]:
        data = self.api(f"/api/v2/dags/{dag_id}/dagVersions")
        return sorted(v["version_number"] for v in data["dag_versions"])

    def import_errors(self) -> dict[str, str]:
        data = self.api("/api/v2/importErrors")
        return {e["filename"]: e["stack_trace"] for e in data["import_errors"]}

    def run_state(self, dag_id: str, run_id: str) -> str:
        state: str = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    real_home = Path.home()
    env["HOME"] = str(home)
    # Share the package caches of the real user: venv builds are then quick and offline-safe.
    env.setdefault("UV_CACHE_DIR", str(real_home / ".cache" / "uv"))
    env.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    return env


def _database_args(request: pytest.FixtureRequest, env: dict[str, str]) -> list[str]:
    if not os.environ.get("LEOFLOW_TEST_DATABASE_URL"):
        return ["--postgres", "embedded"]
    factory = request.getfixturevalue("pg_databases")
    name = factory.create_empty()
    request.addfinalizer(lambda: factory.drop(name))
    env["LEOFLOW_DATABASE_URL"] = factory.url(name)
    return ["--postgres", "external"]


def _postgres_fields(lite: Lite) -> dict[str, str]:
    """Where the tasks can reach Lite's own PostgreSQL (for the connections example)."""
    url = lite.env.get("LEOFLOW_DATABASE_URL")
    if url:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(url)
        return {k: str(v) for k, v in info.items() if v is not None}
    pid_lines = (lite.home / ".leoflow" / "pgdata" / "postmaster.pid").read_text().splitlines()
    return {"host": pid_lines[4], "port": pid_lines[3], "user": "postgres", "dbname": "postgres"}


@pytest.fixture(scope="module")
def lite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lite]:
    root = tmp_path_factory.mktemp("lite-e2e")
    home, workspace = root / "home", root / "workspace"
    home.mkdir()
    shutil.copytree(EXAMPLES, workspace, ignore=shutil.ignore_patterns("__pycache__"))
    (workspace / "sleeper").mkdir()
    (workspace / "sleeper" / "dag.py").write_text(SLEEPER)
    (workspace / "hot_reload").mkdir()
    (workspace / "hot_reload" / "dag.py").write_text(HOT.format(extra="    first()\n"))
    env = _environment(home)
    args = [*_database_args(request, env), "--no-ui"]
    instance = Lite(home, workspace, _free_port(), env, args, root / "lite")
    instance.start()
    try:
        yield instance
    finally:
        if instance.proc is not None and instance.proc.poll() is None:
            os.killpg(instance.proc.pid, signal.SIGKILL)
            instance.proc.wait(timeout=30)


def _registered(lite: Lite, dag_ids: list[str]) -> bool:
    listed = {d["dag_id"] for d in lite.api("/api/v2/dags", limit=100)["dags"]}
    return set(dag_ids) <= listed


def test_every_example_runs_to_success_through_the_cli(lite: Lite) -> None:
    lite.wait_for("every project registered", lambda: _registered(lite, EXAMPLE_IDS), 180)
    assert "Leoflow Lite" in lite.output() and "login" in lite.output()
    listed = lite.cli_json("dags", "list")
    assert {d["dag_id"] for d in listed["dags"]} >= set(EXAMPLE_IDS)
    assert not any(d["is_paused"] for d in listed["dags"])  # Lite: new DAGs run
    assert lite.cli_json("dags", "pause", EXAMPLE_IDS[0])["is_paused"] is True
    assert "unpaused" in lite.cli("dags", "unpause", EXAMPLE_IDS[0]).stdout
    assert lite.api(f"/api/v2/dags/{EXAMPLE_IDS[0]}")["is_paused"] is False

    pg = _postgres_fields(lite)
    lite.cli("variables", "set", "report_greeting", "Hello from the e2e test")
    lite.cli("variables", "set", "report_limits", '{"max_tables": 3}')
    connection = ["connections", "add", "leoflow_db", "--conn-type", "postgres"]
    connection += ["--host", pg["host"], "--port", pg.get("port", "5432")]
    connection += ["--login", pg.get("user", "postgres"), "--schema", pg.get("dbname", "postgres")]
    if pg.get("password"):
        connection += ["--conn-password", pg["password"]]
    lite.cli(*connection)
    assert lite.cli_json("variables", "get", "report_limits")["value"] == '{"max_tables": 3}'

    runs: dict[str, str] = {}
    for dag_id in EXAMPLE_IDS:
        extra = ["--conf", json.dumps({"leoflow_host": f"127.0.0.1:{lite.port}"})]
        run = lite.cli_json("runs", "trigger", dag_id, *(extra if dag_id == "http_check" else []))
        runs[dag_id] = run["dag_run_id"]
    for dag_id, run_id in runs.items():
        lite.wait_for(
            f"{dag_id} to finish",
            lambda d=dag_id, r=run_id: lite.run_state(d, r) in ("success", "failed"),
            RUN_TIMEOUT,
        )
    failed = {
        dag_id: lite.cli("runs", "logs", dag_id, run_id, check=False).stdout[-3000:]
        for dag_id, run_id in runs.items()
        if lite.run_state(dag_id, run_id) != "success"
    }
    assert not failed, failed
    lite.notes["runs"] = runs

    status = lite.cli_json("runs", "status", "trigger_rules_retries", runs["trigger_rules_retries"])
    states = {ti["task_id"]: ti["state"] for ti in status["task_instances"]}
    assert states["needs_success"] == "upstream_failed" and states["maybe_skip"] == "skipped"
    flaky = next(ti for ti in status["task_instances"] if ti["task_id"] == "flaky")
    assert flaky["try_number"] == 2
    logs = lite.cli("runs", "logs", "humanize_report", runs["humanize_report"], "describe").stdout
    assert "humanize" in logs and "MB" in logs  # the DAG's own dependency, in its own venv
    logs = lite.cli("runs", "logs", "variables_connections", runs["variables_connections"])
    assert "Hello from the e2e test: PostgreSQL" in logs.stdout


def test_a_saved_edit_is_the_version_the_next_run_uses(lite: Lite) -> None:
    project = lite.workspace / "hot_reload" / "dag.py"
    lite.wait_for("hot_reload registered", lambda: _registered(lite, ["hot_reload"]))
    assert lite.versions("hot_reload") == [1]
    first = lite.cli_json("runs", "trigger", "hot_reload", "--wait")
    assert first["state"] == "success" and first["dag_versions"][0]["version_number"] == 1

    project.write_text(HOT.format(extra=SECOND_TASK))
    saved = time.monotonic()
    lite.wait_for("version 2", lambda: lite.versions("hot_reload") == [1, 2], 30)
    lite.notes["reload_seconds"] = time.monotonic() - saved
    second = lite.cli_json("runs", "trigger", "hot_reload", "--wait")
    assert second["dag_versions"][0]["version_number"] == 2
    assert {ti["task_id"] for ti in second["task_instances"]} == {"first", "second"}

    # Saving the same content again registers nothing (no version churn).
    project.write_text(project.read_text())
    time.sleep(2.0)
    assert lite.versions("hot_reload") == [1, 2]


def test_a_broken_file_is_an_import_error_until_fixed(lite: Lite) -> None:
    project = lite.workspace / "hot_reload" / "dag.py"
    good = project.read_text()
    project.write_text(good + "\ndef broken(:\n")
    filename = str(project.resolve())
    errors = lite.wait_for("the import error", lambda: lite.import_errors().get(filename), 30)
    assert "SyntaxError" in errors
    assert lite.api("/api/v2/dags/hot_reload")["has_import_errors"]
    cli_errors = lite.cli_json("dags", "errors")["import_errors"]
    assert [e["filename"] for e in cli_errors] == [filename]
    assert "import error in" in lite.output()  # also said in the terminal

    project.write_text(good)
    lite.wait_for("the error cleared", lambda: filename not in lite.import_errors(), 30)
    assert not lite.api("/api/v2/dags/hot_reload")["has_import_errors"]


def test_duplicates_are_refused_and_removed_projects_go_stale(lite: Lite) -> None:
    copy = lite.workspace / "copy_of_etl"
    shutil.copytree(lite.workspace / "taskflow_etl", copy)
    filename = str((copy / "dag.py").resolve())
    message = lite.wait_for("the duplicate", lambda: lite.import_errors().get(filename), 30)
    assert str(lite.workspace / "taskflow_etl") in message and str(copy) in message
    shutil.rmtree(copy)
    lite.wait_for("the duplicate gone", lambda: filename not in lite.import_errors(), 30)

    gone = lite.workspace / "removed_later"
    gone.mkdir()
    (gone / "dag.py").write_text(
        HOT.replace("hot_reload", "removed_later").format(extra="    first()\n")
    )
    lite.wait_for("removed_later registered", lambda: _registered(lite, ["removed_later"]))
    shutil.rmtree(gone)
    lite.wait_for(
        "removed_later stale", lambda: lite.api("/api/v2/dags/removed_later")["is_stale"], 30
    )


def _leftovers(home: Path) -> list[str]:
    marker = str(home)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


def _wait_no_leftovers(home: Path, timeout: float = 15.0) -> list[str]:
    """Processes still running from Lite's home (agents, tasks, the embedded PostgreSQL)."""
    deadline = time.monotonic() + timeout
    while (found := _leftovers(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_ctrl_c_stops_everything_and_a_restart_keeps_history(lite: Lite) -> None:
    runs_before = lite.api("/api/v2/dags/~/dagRuns", limit=100)
    versions_before = {d: lite.versions(d) for d in EXAMPLE_IDS}
    nap = lite.cli_json("runs", "trigger", "sleeper")
    lite.wait_for(
        "the nap running",
        lambda: (
            lite.api(f"/api/v2/dags/sleeper/dagRuns/{nap['dag_run_id']}/taskInstances/nap")["state"]
            == "running"
        ),
        60,
    )

    assert lite.ctrl_c() == 0, lite.output()[-4000:]
    assert not (lite.home / ".leoflow" / "pgdata" / "postmaster.pid").exists()
    assert _wait_no_leftovers(lite.home) == []

    lite.start()
    lite.wait_for("the workspace synced", lambda: _registered(lite, EXAMPLE_IDS), 60)
    after = lite.api("/api/v2/dags/~/dagRuns", limit=100)
    assert after["total_entries"] == runs_before["total_entries"] + 1  # + the nap
    states_before = {(r["dag_id"], r["dag_run_id"]): r["state"] for r in runs_before["dag_runs"]}
    states_after = {(r["dag_id"], r["dag_run_id"]): r["state"] for r in after["dag_runs"]}
    assert {k: states_after[k] for k in states_before} == states_before
    assert {d: lite.versions(d) for d in EXAMPLE_IDS} == versions_before  # no churn
    nap_ti = lite.api(f"/api/v2/dags/sleeper/dagRuns/{nap['dag_run_id']}/taskInstances/nap")
    assert nap_ti["state"] == "failed"  # stopped with SIGTERM at shutdown, and recorded
    for dag_id, run_id in lite.notes["runs"].items():
        assert lite.run_state(dag_id, run_id) == "success"

    assert lite.ctrl_c() == 0
    assert _wait_no_leftovers(lite.home) == []
