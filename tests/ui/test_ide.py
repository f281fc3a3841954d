"""Lite's web editor in the browser: the "IDE" button of the web app opens ``/ide`` in a new
tab, a DAG file of the workspace is edited in Monaco and saved, and Leoflow registers a new
version of the DAG by itself (the workspace sync reacts to the save); files are created,
renamed and deleted from the tree.

The editor page is watched like the web app: any console error, page error or non-2xx answer
to ``/ide/api`` fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ui.browsing import SETTLE_MS, Watcher, api_answer, api_get, check, shot, visit, wait_for
from ui.conftest import IDE_DAG_ID, UiServer

pytestmark = pytest.mark.ui

EDIT_MARK = "# edited in the Leoflow IDE"
DAG_FILE = f"{IDE_DAG_ID}/dag.py"


def _versions(page: Any, ui_server: UiServer) -> int:
    url = f"{ui_server.url}/api/v2/dags/{IDE_DAG_ID}/dagVersions"
    total: int = api_get(page, url)["total_entries"]
    return total


@pytest.fixture(scope="module")
def ide(session: tuple[Any, Watcher], ui_server: UiServer) -> Iterator[tuple[Any, Watcher]]:
    """The editor, opened from the web app's navigation bar in a new tab."""
    page, watcher = session
    watcher.armed = True
    visit(page, f"{ui_server.url}/dags", IDE_DAG_ID)
    button = page.get_by_test_id("nav-sidebar").get_by_role("button", name="IDE")
    assert button.get_attribute("target") == "_blank"
    with page.context.expect_page() as opened:
        button.click()
    editor = opened.value
    editor_watcher = Watcher(base=ui_server.url, armed=True)
    editor_watcher.attach(editor)
    editor.set_default_timeout(20_000)
    editor.wait_for_load_state()
    try:
        yield editor, editor_watcher
    finally:
        editor.close()


def _row(editor: Any, path: str) -> Any:
    return editor.locator(f"#tree .row[data-path='{path}']")


def _answer_dialog(editor: Any, value: str | None, button: str) -> None:
    dialog = editor.locator("dialog#ask")
    dialog.wait_for(state="visible")
    if value is not None:
        dialog.locator("input").fill(value)
    dialog.get_by_role("button", name=button).click()


def test_60_the_ide_button_opens_the_editor_in_a_new_tab(
    ide: tuple[Any, Watcher], session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    editor, watcher = ide
    assert editor.url == f"{ui_server.url}/ide"
    editor.locator("body[data-ready=true]").wait_for()
    _row(editor, DAG_FILE).wait_for()
    assert editor.title().startswith("IDE - Leoflow Lite")
    shot(editor, artifacts, "60-ide")
    check(watcher, "the editor page")
    check(session[1], "the web app's page with the IDE button")


def test_61_edit_a_dag_in_the_ide_and_see_its_new_version(
    ide: tuple[Any, Watcher], session: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    editor, watcher = ide
    page = session[0]
    before = wait_for(lambda: _versions(page, ui_server), "the workspace DAG to be registered")

    _row(editor, DAG_FILE).click()
    editor.locator("#current", has_text=DAG_FILE).wait_for()
    editor.locator(".view-lines", has_text="hello from the workspace").wait_for()
    editor.locator(".monaco-editor textarea").focus()
    editor.keyboard.press("Control+End")
    editor.keyboard.type(f"{EDIT_MARK}\n")
    editor.locator("#dirty").wait_for(state="visible")
    shot(editor, artifacts, "61-ide-edited")
    saved = api_answer(
        editor,
        "PUT",
        f"/ide/api/files/{DAG_FILE}",
        lambda: editor.keyboard.press("Control+s"),
    )
    assert saved.status == 200, saved.text()
    assert saved.request.headers.get("if-match"), "a save carries the ETag the file was read with"
    editor.locator("#dirty").wait_for(state="hidden")
    editor.locator("#status", has_text="Saved").wait_for()
    assert EDIT_MARK in (ui_server.workspace / DAG_FILE).read_text(encoding="utf-8")

    wait_for(
        lambda: _versions(page, ui_server) == before + 1,
        "the workspace sync to register a new version of the edited DAG",
        timeout=30,
    )
    source = api_get(page, f"{ui_server.url}/api/v2/dagSources/{IDE_DAG_ID}")
    assert EDIT_MARK in source["content"]
    shot(editor, artifacts, "62-ide-saved")
    check(watcher, "edit and save")

    visit(page, f"{ui_server.url}/dags/{IDE_DAG_ID}/code", "edited in the Leoflow IDE")
    shot(page, artifacts, "63-new-version-code")
    check(session[1], "the new version's code")


def test_64_create_rename_and_delete_files_from_the_tree(
    ide: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    editor, watcher = ide
    workspace = ui_server.workspace

    editor.get_by_role("button", name="New file").click()
    created = api_answer(
        editor,
        "POST",
        "/ide/api/files/notes/todo.md",
        lambda: _answer_dialog(editor, "notes/todo.md", "Create"),
    )
    assert created.status == 201, created.text()
    _row(editor, "notes/todo.md").wait_for()
    editor.locator("#current", has_text="notes/todo.md").wait_for()
    editor.keyboard.type("Ship it")
    saved = api_answer(
        editor,
        "PUT",
        "/ide/api/files/notes/todo.md",
        editor.get_by_role("button", name="Save").click,
    )
    assert saved.status == 200, saved.text()
    assert (workspace / "notes" / "todo.md").read_text(encoding="utf-8") == "Ship it"
    shot(editor, artifacts, "64-ide-new-file")

    editor.get_by_role("button", name="Rename").click()
    renamed = api_answer(
        editor,
        "PATCH",
        "/ide/api/files/notes/todo.md",
        lambda: _answer_dialog(editor, "notes/done.md", "Rename"),
    )
    assert renamed.status == 200, renamed.text()
    _row(editor, "notes/done.md").wait_for()
    assert _row(editor, "notes/todo.md").count() == 0
    editor.locator("#current", has_text="notes/done.md").wait_for()
    assert not (workspace / "notes" / "todo.md").exists()
    assert (workspace / "notes" / "done.md").read_text(encoding="utf-8") == "Ship it"

    _row(editor, "notes").click()
    editor.get_by_role("button", name="Delete").click()
    deleted = api_answer(
        editor,
        "DELETE",
        "/ide/api/files/notes",
        lambda: _answer_dialog(editor, None, "Delete"),
    )
    assert deleted.status == 204, deleted.text()
    wait_for(lambda: _row(editor, "notes").count() == 0, "the folder to leave the tree")
    assert not (workspace / "notes").exists()
    editor.locator("#current", has_text="No file open").wait_for()
    editor.wait_for_timeout(SETTLE_MS // 3)
    shot(editor, artifacts, "65-ide-after-delete")
    check(watcher, "create, rename, delete")


def test_66_a_save_over_a_file_changed_on_disk_is_refused(
    ide: tuple[Any, Watcher], ui_server: UiServer, artifacts: Path
) -> None:
    editor, watcher = ide
    _row(editor, DAG_FILE).click()
    editor.locator("#current", has_text=DAG_FILE).wait_for()
    target = ui_server.workspace / DAG_FILE
    target.write_text(target.read_text(encoding="utf-8") + "# changed elsewhere\n", "utf-8")
    editor.locator(".monaco-editor textarea").focus()
    editor.keyboard.press("Control+End")
    editor.keyboard.type("# and in the browser\n")
    watcher.expected.add((412, f"/ide/api/files/{DAG_FILE}"))
    refused = api_answer(
        editor, "PUT", f"/ide/api/files/{DAG_FILE}", lambda: editor.keyboard.press("Control+s")
    )
    assert refused.status == 412
    editor.locator("#status", has_text=re.compile("changed on disk")).wait_for()
    assert "# and in the browser" not in target.read_text(encoding="utf-8")
    shot(editor, artifacts, "66-ide-conflict")
    overwritten = api_answer(
        editor,
        "PUT",
        f"/ide/api/files/{DAG_FILE}",
        editor.get_by_role("button", name="Overwrite it").click,
    )
    assert overwritten.status == 200
    assert "# and in the browser" in target.read_text(encoding="utf-8")
    watcher.expected.clear()
    check(watcher, "conflicting save")
