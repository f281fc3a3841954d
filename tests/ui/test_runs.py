"""A DAG run for real from the browser: ``leoflow lite`` schedules it and real agents run it.

The DAG (``ui_live``) counts for about six seconds, printing a line every half second, then
reports. From the web app alone the tests trigger it, read its log while it is being written,
watch the grid turn green, clear a task and see it run again, mark a task failed and then
successful, and create, edit and delete a connection. Every page is watched like in
``test_pages`` and saved under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ui.browsing import SETTLE_MS, Watcher, api_answer, api_get, check, shot, visit, wait_for
from ui.conftest import LIVE_DAG_ID, LIVE_TICKS, UiServer

pytestmark = pytest.mark.ui

GREEN_HUE = (120.0, 170.0)
"""Hue range (OKLCH degrees) of the web app's "success" colour; running, queued and failed
are blue, grey and red."""

_RUN: dict[str, str] = {}
"""The run the first test triggered, for the tests that act on it."""


def _run_id() -> str:
    if "id" not in _RUN:
        pytest.fail("the trigger test did not leave a run to act on")
    return _RUN["id"]


def _badge_colours(page: Any, run_id: str, task_ids: tuple[str, ...]) -> dict[str, str | None]:
    """The background colour of each task's cell of ``run_id`` in the grid beside the page."""
    colours: dict[str, str | None] = page.evaluate(
        """([runId, taskIds]) => Object.fromEntries(taskIds.map((taskId) => {
            const cell = document.querySelector(
                `[data-testid="grid-${runId}-${taskId}"] [data-testid=task-state-badge]`);
            return [taskId, cell ? getComputedStyle(cell).backgroundColor : null];
        }))""",
        [run_id, list(task_ids)],
    )
    return colours


def _is_green(colour: str | None) -> bool:
    match = re.fullmatch(r"oklch\(([\d.]+) ([\d.]+) ([\d.]+)\)", colour or "")
    if match is None:
        return False
    hue = float(match.group(3))
    return GREEN_HUE[0] <= hue <= GREEN_HUE[1]


def _ti(page: Any, ui_server: UiServer, run_id: str, task_id: str) -> dict[str, Any]:
    path = f"/api/v2/dags/{LIVE_DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"
    ti: dict[str, Any] = api_get(page, ui_server.url + path)
    return ti


def _ti_page(ui_server: UiServer, run_id: str, task_id: str) -> str:
    return f"{ui_server.url}/dags/{LIVE_DAG_ID}/runs/{quote(run_id, safe=':+')}/tasks/{task_id}"


def test_40_trigger_read_the_live_log_and_watch_the_grid_turn_green(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/dags/{LIVE_DAG_ID}", re.compile("count"))
    page.get_by_test_id("trigger-dag-button").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Trigger Dag").first.wait_for()
    triggered = api_answer(
        page,
        "POST",
        f"/api/v2/dags/{LIVE_DAG_ID}/dagRuns",
        lambda: dialog.get_by_role("button", name="Trigger").click(),
    )
    assert triggered.status == 200, triggered.text()
    run_id = triggered.json()["dag_run_id"]
    _RUN["id"] = run_id

    # The log of the counting task, read while the agent is still writing it.
    page.goto(_ti_page(ui_server, run_id, "count"))
    page.get_by_text("tick 1 of").first.wait_for(timeout=90_000)
    running = _ti(page, ui_server, run_id, "count")
    assert running["state"] == "running", running
    assert page.get_by_text(f"tick {LIVE_TICKS} of").count() == 0
    assert not _is_green(_badge_colours(page, run_id, ("count",))["count"])
    shot(page, artifacts, "40-log-while-running")

    page.get_by_text(f"tick {LIVE_TICKS} of").first.wait_for(timeout=60_000)
    wait_for(
        lambda: all(map(_is_green, _badge_colours(page, run_id, ("count", "report")).values())),
        "both tasks of the run to be green in the grid",
    )
    run = api_get(page, f"{ui_server.url}/api/v2/dags/{LIVE_DAG_ID}/dagRuns/{quote(run_id)}")
    assert run["state"] == "success", run
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "41-log-complete-grid-green")

    visit(page, f"{ui_server.url}/dags/{LIVE_DAG_ID}", re.compile("report"))
    assert all(map(_is_green, _badge_colours(page, run_id, ("count", "report")).values()))
    shot(page, artifacts, "42-grid-green")
    check(watcher, "trigger and watch")


def test_43_clear_a_task_and_see_it_run_again(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    run_id = _run_id()
    visit(page, _ti_page(ui_server, run_id, "report"), "counted")
    page.get_by_role("button", name="Press shift+c to clear").first.click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name=re.compile("Confirm", re.I))
    confirm.wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "43-clear-a-successful-task")
    cleared = api_answer(
        page, "POST", f"/api/v2/dags/{LIVE_DAG_ID}/clearTaskInstances", confirm.click
    )
    assert cleared.status == 200, cleared.text()
    again = wait_for(
        lambda: (
            (ti := _ti(page, ui_server, run_id, "report"))["try_number"] == 2
            and ti["state"] == "success"
            and ti
        ),
        "the cleared task to run a second time",
    )
    assert again["try_number"] == 2
    wait_for(
        lambda: _is_green(_badge_colours(page, run_id, ("report",))["report"]),
        "the re-run task to be green again",
    )
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "44-cleared-task-ran-again")
    check(watcher, "clear and re-run")


def _mark(page: Any, state: str) -> Any:
    """Mark the task instance shown as ``state`` through its "Mark as" menu and dialog."""
    page.get_by_role("button", name="Mark Task Instance as...").click()
    page.get_by_role("menuitem", name=re.compile(f"^{state}$", re.I)).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(re.compile(f"Mark Task Instance as {state}", re.I)).wait_for()
    return dialog


def test_45_mark_a_task_failed_then_successful(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    run_id = _run_id()
    patch_path = re.compile(rf"/api/v2/dags/{LIVE_DAG_ID}/dagRuns/[^/]+/taskInstances/report")
    visit(page, _ti_page(ui_server, run_id, "report"), "counted")

    dialog = _mark(page, "failed")
    shot(page, artifacts, "45-mark-failed-dialog")
    failed = api_answer(
        page, "PATCH", patch_path, dialog.get_by_role("button", name="Confirm").click
    )
    assert failed.status == 200, failed.text()
    wait_for(
        lambda: _ti(page, ui_server, run_id, "report")["state"] == "failed",
        "the task to be failed",
    )
    page.get_by_test_id("state-badge").filter(has_text="Failed").first.wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "46-marked-failed")

    dialog = _mark(page, "success")
    succeeded = api_answer(
        page, "PATCH", patch_path, dialog.get_by_role("button", name="Confirm").click
    )
    assert succeeded.status == 200, succeeded.text()
    wait_for(
        lambda: _ti(page, ui_server, run_id, "report")["state"] == "success",
        "the task to be successful again",
    )
    wait_for(
        lambda: _is_green(_badge_colours(page, run_id, ("report",))["report"]),
        "the task to be green again",
    )
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "47-marked-success")
    check(watcher, "mark failed and success")


def test_48_connections_create_edit_delete(
    session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/connections", re.compile("connections", re.I))

    page.get_by_role("button", name=re.compile("add connection", re.I)).first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("ui_warehouse")
    dialog.get_by_role("combobox").fill("Postgres")
    page.get_by_role("option", name=re.compile("^Postgres", re.I)).first.click()
    dialog.locator("input[name=host]").fill("warehouse.internal")
    dialog.locator("input[name=login]").fill("etl")
    dialog.locator("input[name=password]").fill("not-shown-anywhere")
    dialog.locator("input[name=port]").fill("5432")
    shot(page, artifacts, "48-connection-form")
    created = api_answer(
        page, "POST", "/api/v2/connections", dialog.get_by_role("button", name="Save").click
    )
    assert created.status == 201, created.text()
    assert created.json()["password"] != "not-shown-anywhere"
    row = page.locator("tr", has_text="ui_warehouse")
    row.get_by_text("warehouse.internal").wait_for()
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "49-connection-listed")

    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    host = dialog.locator("input[name=host]")
    host.wait_for()
    assert host.input_value() == "warehouse.internal"
    host.fill("warehouse-2.internal")
    edited = api_answer(
        page,
        "PATCH",
        "/api/v2/connections/ui_warehouse",
        dialog.get_by_role("button", name="Save").click,
    )
    assert edited.status == 200, edited.text()
    row.get_by_text("warehouse-2.internal").wait_for()
    stored = api_get(page, f"{ui_server.url}/api/v2/connections/ui_warehouse")
    assert stored["host"] == "warehouse-2.internal" and stored["login"] == "etl"
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "50-connection-edited")

    row.get_by_role("button", name="Delete Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=re.compile("delete", re.I)).wait_for()
    shot(page, artifacts, "51-connection-delete-dialog")
    deleted = api_answer(
        page,
        "DELETE",
        "/api/v2/connections/ui_warehouse",
        dialog.get_by_role("button", name=re.compile("delete", re.I)).last.click,
    )
    assert deleted.status == 204, deleted.text()
    wait_for(lambda: page.locator("tr", has_text="ui_warehouse").count() == 0, "the row to go")
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "52-connection-deleted")
    check(watcher, "connections")
