"""The Airflow 3.3.2 web app, unmodified, in headless Chromium against ``leoflow lite``.

One browser session logs in through the real login form and walks the pages an Airflow user
opens every day. Any console error, uncaught page error, or non-2xx answer to an ``/api`` or
``/ui`` request fails the walk; every page is saved as a screenshot under
``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ui.browsing import SETTLE_MS, Watcher, api_answer, check, shot, visit
from ui.conftest import DAG_ID, FAILED_RUN, SUCCESS_RUN, UiServer

pytestmark = pytest.mark.ui


def test_01_login_through_the_form_returned_to_the_page_asked_for(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    assert page.url == f"{ui_server.url}/dags"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "_token" in cookies and cookies["_token"]["path"] == "/"
    page.get_by_text(DAG_ID).first.wait_for()
    page.wait_for_load_state("networkidle")
    shot(page, artifacts, "02-dag-list")
    check(watcher, "DAG list after login")


PAGES: list[tuple[str, str, str | re.Pattern[str]]] = [
    ("03-dashboard", "/", "Leoflow Lite"),
    ("04-dag-grid", f"/dags/{DAG_ID}", "transform"),
    ("05-dag-runs", f"/dags/{DAG_ID}/runs", SUCCESS_RUN),
    ("06-dag-tasks", f"/dags/{DAG_ID}/tasks", "BashOperator"),
    ("07-dag-code", f"/dags/{DAG_ID}/code", "Daily sales"),
    ("08-dag-details", f"/dags/{DAG_ID}/details", "data-team"),
    ("09-dag-calendar", f"/dags/{DAG_ID}/calendar", re.compile("calendar", re.I)),
    ("10-dag-audit-log", f"/dags/{DAG_ID}/events", re.compile("audit|event", re.I)),
    ("11-run", f"/dags/{DAG_ID}/runs/{FAILED_RUN}", "Upstream Failed"),
    ("12-task-instance-log", f"/dags/{DAG_ID}/runs/{SUCCESS_RUN}/tasks/extract", "1245 rows"),
    (
        "13-task-instance-xcom",
        f"/dags/{DAG_ID}/runs/{SUCCESS_RUN}/tasks/extract/xcom",
        "return_value",
    ),
    (
        "14-task-instance-details",
        f"/dags/{DAG_ID}/runs/{SUCCESS_RUN}/tasks/extract/details",
        "BashOperator",
    ),
    (
        "15-rendered-templates",
        f"/dags/{DAG_ID}/runs/{SUCCESS_RUN}/tasks/extract/rendered_templates",
        re.compile("rendered", re.I),
    ),
    ("16-task", f"/dags/{DAG_ID}/tasks/transform", "transform"),
    ("17-dag-runs-all", "/dag_runs", FAILED_RUN),
    ("18-task-instances-all", "/task_instances", "Upstream Failed"),
    ("19-variables", "/variables", re.compile("variables", re.I)),
    ("20-connections", "/connections", re.compile("connections", re.I)),
    ("21-audit-log", "/events", re.compile("audit|event", re.I)),
    ("22-xcoms", "/xcoms", "return_value"),
    ("23-pools", "/pools", "Add Pool"),
    ("24-config", "/configs", re.compile("config", re.I)),
    ("25-plugins", "/plugins", re.compile("plugins", re.I)),
    ("26-providers", "/providers", re.compile("providers", re.I)),
    ("27-jobs", "/jobs", re.compile("jobs", re.I)),
]


@pytest.mark.parametrize(("name", "path", "text"), PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_without_errors(
    *,
    session: tuple[Any, Watcher],
    ui_server: UiServer,
    artifacts: Path,
    name: str,
    path: str,
    text: str | re.Pattern[str],
) -> None:
    page, watcher = session
    watcher.armed = True
    url = ui_server.url + quote(path, safe="/:+")
    try:
        visit(page, url, text)
    finally:
        shot(page, artifacts, name)
    check(watcher, path)


def test_28_graph_view_draws_every_task(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    page.goto(f"{ui_server.url}/dags/{DAG_ID}")
    page.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")
    visit(page, f"{ui_server.url}/dags/{DAG_ID}", "transform")
    for task_id in ("extract", "transform", "load"):
        page.locator(".react-flow__node").filter(has_text=task_id).first.wait_for()
    assert page.locator(".react-flow__edge").count() >= 2
    shot(page, artifacts, "28-graph")
    page.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('grid'))")
    check(watcher, "graph view")


def test_30_trigger_from_the_dag_page(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/dags/{DAG_ID}", "transform")
    page.get_by_test_id("trigger-dag-button").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Trigger Dag").first.wait_for()
    shot(page, artifacts, "30-trigger-dialog")
    response = api_answer(
        page,
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        lambda: dialog.get_by_role("button", name="Trigger").click(),
    )
    assert response.status == 200, response.text()
    run_id = response.json()["dag_run_id"]
    page.goto(f"{ui_server.url}/dags/{DAG_ID}/runs")
    page.get_by_text(run_id).first.wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "31-triggered-run-listed")
    check(watcher, "trigger")


def test_32_pause_and_unpause_from_the_dag_list(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/dags", DAG_ID)
    toggle = page.locator("label[data-scope=switch]").first
    paused = api_answer(page, "PATCH", f"/api/v2/dags/{DAG_ID}", toggle.click)
    assert paused.status == 200 and paused.json()["is_paused"] is True
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "32-paused")
    resumed = api_answer(page, "PATCH", f"/api/v2/dags/{DAG_ID}", toggle.click)
    assert resumed.json()["is_paused"] is False
    check(watcher, "pause toggle")


def test_33_search_filters_the_dag_list(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/dags", DAG_ID)
    search = page.get_by_test_id("search-dags")
    answer = api_answer(page, "GET", "pattern=nothing", lambda: search.fill("nothing"))
    assert "/ui/dags" in answer.url and answer.json()["total_entries"] == 0
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "33-search-no-match")
    back = api_answer(page, "GET", "pattern=etl", lambda: search.fill("etl"))
    assert back.json()["total_entries"] == 1
    check(watcher, "search")


def test_34_clear_a_failed_task(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(
        page,
        f"{ui_server.url}/dags/{DAG_ID}/runs/{FAILED_RUN}/tasks/transform",
        "transform",
    )
    page.get_by_role("button", name="Press shift+c to clear").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=re.compile("Confirm", re.I)).wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "34-clear-dialog")
    cleared = api_answer(
        page,
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        lambda: dialog.get_by_role("button", name=re.compile("Confirm", re.I)).click(),
    )
    assert cleared.status == 200, cleared.text()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "35-cleared")
    check(watcher, "clear")


def test_36_create_a_variable(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/variables", re.compile("variables", re.I))
    page.get_by_role("button", name=re.compile("add", re.I)).first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=key]").fill("ui_test_key")
    dialog.locator("[name=value]").fill("from the browser")
    shot(page, artifacts, "36-variable-form")
    created = api_answer(
        page,
        "POST",
        "/api/v2/variables",
        lambda: dialog.get_by_role("button", name=re.compile("save", re.I)).click(),
    )
    assert created.status == 201, created.text()
    page.get_by_text("ui_test_key").first.wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "37-variable-listed")
    check(watcher, "variables")
