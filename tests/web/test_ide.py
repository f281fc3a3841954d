"""Lite's web editor over HTTP: the files API is confined to the workspace, needs a login with
the right to push DAG versions, and does not exist in Pro.

The traversal test throws hostile paths (absolute, ``..``, encoded, backslashes, NUL, drive
letters, symlinks leading out, a pipe, a socket, over-long names) at every operation of the
files API and checks that each is refused and that nothing outside the workspace was read,
written, created, moved or deleted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from harness.airflow_api import public_contract
from harness.api import api_settings, bearer, create_test_user, security_of
from harness.web import provisioned_editor
from leoflow.api.app import create_app
from leoflow.store import tenants
from leoflow.store.pool import Pool
from leoflow.web.assets import UiAssets
from leoflow.web.editor_assets import MONACO_VERSION
from leoflow.web.ide import (
    MAX_FILE_BYTES,
    WRITE_HEADER,
    FileRefused,
    Workspace,
    enable_ide,
    parse_relative,
)

SECRET = "TOP SECRET: outside the workspace"
DAG = '"""A DAG."""\nfrom airflow.sdk import dag\n'
WRITE = {WRITE_HEADER: "1"}


def _raw(path: str) -> str:
    """Every byte percent-encoded: the server sees exactly ``path`` (no client-side
    normalization of ``..`` or ``//``)."""
    return "".join(f"%{byte:02X}" for byte in path.encode("utf-8", "surrogatepass"))


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``(workspace, outside)``: a workspace with a project, symlinks in and out, a pipe and a
    socket; and a sibling folder holding a secret the API must never reach."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    workspace = tmp_path / "ws"
    (workspace / "proj").mkdir(parents=True)
    (workspace / "proj" / "dag.py").write_text(DAG, encoding="utf-8")
    (workspace / "proj" / "leoflow.yaml").write_text("dag_id: proj\n", encoding="utf-8")
    (workspace / "escape").symlink_to(outside, target_is_directory=True)
    (workspace / "escape.txt").symlink_to(outside / "secret.txt")
    (workspace / "proj" / "relative_escape").symlink_to(Path("..") / ".." / "outside")
    (workspace / "null").symlink_to("/dev/null")
    (workspace / "etc").symlink_to("/etc", target_is_directory=True)
    (workspace / "loop").symlink_to(workspace / "loop")
    (workspace / "inner.py").symlink_to(workspace / "proj" / "dag.py")
    os.mkfifo(workspace / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(workspace / "sock"))
    try:
        yield workspace, outside
    finally:
        server.close()


def _snapshot(folder: Path) -> dict[str, tuple[bytes | str, int]]:
    """Every entry under ``folder`` with its content (or link target) and mtime."""
    found: dict[str, tuple[bytes | str, int]] = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        if path.is_symlink():
            found[str(path)] = (os.readlink(path), stat.st_mtime_ns)
        elif path.is_file():
            found[str(path)] = (path.read_bytes(), stat.st_mtime_ns)
        else:
            found[str(path)] = ("", stat.st_mtime_ns)
    return found


@pytest.fixture
async def ide_app(db_pool: Pool, layout: tuple[Path, Path]) -> AsyncIterator[FastAPI]:
    """A Lite app whose editor serves the workspace of ``layout``."""
    app = create_app(db_pool, api_settings(edition="lite"))
    enable_ide(app, layout[0])
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(ide_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ide_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _headers(app: FastAPI, pool: Pool, role: str) -> dict[str, str]:
    user = await create_test_user(pool, role)
    issued = security_of(app).auth.tokens.mint(user.username, tenants.DEFAULT_TENANT)
    return bearer(issued.token)


@pytest.fixture
async def op(ide_app: FastAPI, db_pool: Pool) -> dict[str, str]:
    """Headers of a user who may push DAG versions (so may use the editor)."""
    return await _headers(ide_app, db_pool, "Op")


HOSTILE = [
    "/etc/passwd",
    "//etc/passwd",
    "/proc/self/environ",
    "/dev/null",
    "..",
    ".",
    "../outside/secret.txt",
    "../../etc/passwd",
    "proj/../../outside/secret.txt",
    "proj/../..",
    "proj/..",
    "./proj/dag.py",
    "proj/./dag.py",
    "proj//dag.py",
    "proj/dag.py/",
    "~/outside/secret.txt",
    "~root/.bashrc",
    "C:/Windows/win.ini",
    "c:\\windows\\win.ini",
    "..\\outside\\secret.txt",
    "proj\\..\\..\\outside\\secret.txt",
    "proj/dag.py\x00.txt",
    "\x00",
    "proj/\n/dag.py",
    "escape",
    "escape/secret.txt",
    "escape/new.txt",
    "escape.txt",
    "proj/relative_escape/secret.txt",
    "proj/relative_escape",
    "null",
    "etc/passwd",
    "etc",
    "loop",
    "pipe",
    "sock",
    "a" * 300,
    "x/" * 600 + "y",
]
"""Paths that every operation of the files API must refuse."""


def test_there_are_enough_hostile_paths() -> None:
    assert len(HOSTILE) >= 30


async def test_hostile_paths_never_escape(
    client: httpx.AsyncClient, op: dict[str, str], layout: tuple[Path, Path]
) -> None:
    workspace, outside = layout
    before_outside = _snapshot(outside)
    before_workspace = _snapshot(workspace)
    answers: list[tuple[str, str, int]] = []
    for path in HOSTILE:
        url = f"/ide/api/files/{_raw(path)}"
        headers = {**op, **WRITE}
        attempts = [
            ("GET", await client.get(url, headers=op)),
            ("PUT", await client.put(url, headers=headers, content=b"pwned")),
            ("POST file", await client.post(url, headers=headers, json={"kind": "file"})),
            ("POST folder", await client.post(url, headers=headers, json={"kind": "folder"})),
            ("PATCH from", await client.patch(url, headers=headers, json={"to": "proj/moved"})),
            (
                "PATCH to",
                await client.patch(
                    "/ide/api/files/proj/leoflow.yaml", headers=headers, json={"to": path}
                ),
            ),
            ("DELETE", await client.delete(url, headers=headers)),
        ]
        for operation, response in attempts:
            answers.append((repr(path), operation, response.status_code))
            assert SECRET not in response.text, (path, operation)
            assert "root:" not in response.text, (path, operation)
    accepted = [answer for answer in answers if not 400 <= answer[2] < 500]
    assert not accepted, f"hostile requests not refused: {accepted}"
    assert len(answers) >= 30 * 7
    _assert_untouched(layout, before_workspace, before_outside)


def _assert_untouched(
    layout: tuple[Path, Path],
    workspace_before: dict[str, tuple[bytes | str, int]],
    outside_before: dict[str, tuple[bytes | str, int]],
) -> None:
    workspace, outside = layout
    assert _snapshot(outside) == outside_before
    assert _snapshot(workspace) == workspace_before
    assert sorted(p.name for p in workspace.parent.iterdir()) == ["outside", "ws"]


@pytest.mark.parametrize("path", HOSTILE)
def test_each_hostile_path_is_refused_by_the_workspace_itself(
    layout: tuple[Path, Path], path: str
) -> None:
    workspace = Workspace(layout[0])
    calls: list[tuple[str, Any]] = [
        ("read", lambda: workspace.read(path)),
        ("write", lambda: workspace.write(path, b"pwned")),
        ("create", lambda: workspace.create(path, "file")),
        ("rename", lambda: workspace.rename(path, "proj/moved")),
        ("rename to", lambda: workspace.rename("proj/leoflow.yaml", path)),
        ("delete", lambda: workspace.delete(path)),
    ]
    for name, call in calls:
        with pytest.raises(FileRefused) as refused:
            call()
        assert 400 <= refused.value.status_code < 500, name


@pytest.mark.parametrize(
    "path",
    ["proj/dag.py", "inner.py", "proj/new folder/é.py", "a" * 255, ".airflowignore", "%2e%2e"],
)
def test_ordinary_paths_are_accepted(path: str) -> None:
    assert "/".join(parse_relative(path)) == path


async def test_tree_lists_what_the_editor_can_open(
    client: httpx.AsyncClient, op: dict[str, str], layout: tuple[Path, Path]
) -> None:
    workspace = layout[0]
    (workspace / "proj" / "__pycache__").mkdir()
    (workspace / "proj" / "__pycache__" / "dag.cpython-311.pyc").write_bytes(b"\0")
    answer = await client.get("/ide/api/files", headers=op)
    assert answer.status_code == 200
    body = answer.json()
    assert body["root"] == str(workspace.resolve())
    assert body["truncated"] is False and body["max_file_bytes"] == MAX_FILE_BYTES
    listed = {entry["path"]: entry["kind"] for entry in body["entries"]}
    assert listed == {
        "inner.py": "file",
        "proj": "folder",
        "proj/dag.py": "file",
        "proj/leoflow.yaml": "file",
    }


async def test_open_edit_save_create_rename_delete(
    client: httpx.AsyncClient, op: dict[str, str], layout: tuple[Path, Path]
) -> None:
    workspace = layout[0]
    headers = {**op, **WRITE}
    opened = await client.get("/ide/api/files/proj/dag.py", headers=op)
    assert opened.status_code == 200 and opened.text == DAG
    assert opened.headers["content-type"] == "text/plain; charset=utf-8"
    etag = opened.headers["etag"]

    edited = DAG + "# edited\n"
    saved = await client.put(
        "/ide/api/files/proj/dag.py", headers={**headers, "If-Match": etag}, content=edited
    )
    assert saved.status_code == 200, saved.text
    assert (workspace / "proj" / "dag.py").read_text() == edited
    assert saved.json() == {
        "path": "proj/dag.py",
        "size": len(edited),
        "etag": saved.headers["etag"],
    }
    assert not [p for p in (workspace / "proj").iterdir() if p.suffix == ".tmp"]

    stale = await client.put(
        "/ide/api/files/proj/dag.py", headers={**headers, "If-Match": etag}, content="lost"
    )
    assert stale.status_code == 412 and "changed on disk" in stale.json()["detail"]
    assert (workspace / "proj" / "dag.py").read_text() == edited

    through_link = await client.get("/ide/api/files/inner.py", headers=op)
    assert through_link.status_code == 200 and through_link.text == edited

    new = await client.put(
        "/ide/api/files/other/dag.py", headers={**headers, "If-None-Match": "*"}, content=DAG
    )
    assert new.status_code == 201 and (workspace / "other" / "dag.py").read_text() == DAG
    again = await client.put(
        "/ide/api/files/other/dag.py", headers={**headers, "If-None-Match": "*"}, content="x"
    )
    assert again.status_code == 412

    folder = await client.post("/ide/api/files/other/sql", headers=headers, json={"kind": "folder"})
    assert folder.status_code == 201 and (workspace / "other" / "sql").is_dir()
    empty = await client.post("/ide/api/files/other/sql/q.sql", headers=headers, json={})
    assert empty.status_code == 201 and (workspace / "other" / "sql" / "q.sql").read_text() == ""
    exists = await client.post("/ide/api/files/other/sql", headers=headers, json={"kind": "file"})
    assert exists.status_code == 409

    moved = await client.patch(
        "/ide/api/files/other", headers=headers, json={"to": "renamed/other"}
    )
    assert moved.status_code == 200 and moved.json() == {"path": "renamed/other"}
    assert (workspace / "renamed" / "other" / "sql" / "q.sql").is_file()
    into_itself = await client.patch(
        "/ide/api/files/renamed", headers=headers, json={"to": "renamed/inside"}
    )
    assert into_itself.status_code == 400
    taken = await client.patch(
        "/ide/api/files/renamed/other/dag.py", headers=headers, json={"to": "proj/dag.py"}
    )
    assert taken.status_code == 409

    gone = await client.delete("/ide/api/files/renamed", headers=headers)
    assert gone.status_code == 204 and not (workspace / "renamed").exists()
    missing = await client.delete("/ide/api/files/renamed", headers=headers)
    assert missing.status_code == 404
    folder_read = await client.get("/ide/api/files/proj", headers=op)
    assert folder_read.status_code == 400


async def test_big_binary_and_special_files_are_refused(
    client: httpx.AsyncClient, op: dict[str, str], layout: tuple[Path, Path]
) -> None:
    workspace = layout[0]
    (workspace / "big.txt").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    (workspace / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert (await client.get("/ide/api/files/big.txt", headers=op)).status_code == 413
    assert (await client.get("/ide/api/files/blob.bin", headers=op)).status_code == 415
    too_big = await client.put(
        "/ide/api/files/proj/dag.py",
        headers={**op, **WRITE},
        content=b"#" * (MAX_FILE_BYTES + 1),
    )
    assert too_big.status_code == 413
    binary = await client.put(
        "/ide/api/files/proj/dag.py", headers={**op, **WRITE}, content=b"\xff\xfe\x00"
    )
    assert binary.status_code == 415
    assert (workspace / "proj" / "dag.py").read_text() == DAG
    pipe = await client.get("/ide/api/files/pipe", headers=op)  # must not block on the pipe
    assert pipe.status_code == 403 and "regular file" in pipe.json()["detail"]


async def test_login_and_the_push_permission_are_required(
    client: httpx.AsyncClient, ide_app: FastAPI, db_pool: Pool
) -> None:
    assert (await client.get("/ide/api/files")).status_code == 401
    assert (await client.get("/ide/api/files/proj/dag.py")).status_code == 401
    viewer = await _headers(ide_app, db_pool, "Viewer")
    user = await _headers(ide_app, db_pool, "User")
    for headers in (viewer, user):
        assert (await client.get("/ide/api/files", headers=headers)).status_code == 403
        refused = await client.put(
            "/ide/api/files/proj/dag.py", headers={**headers, **WRITE}, content="x"
        )
        assert refused.status_code == 403
    admin = await _headers(ide_app, db_pool, "Admin")
    assert (await client.get("/ide/api/files", headers=admin)).status_code == 200


async def test_writes_need_the_editor_header(
    client: httpx.AsyncClient, op: dict[str, str], layout: tuple[Path, Path]
) -> None:
    for method in ("PUT", "POST", "PATCH", "DELETE"):
        answer = await client.request(
            method, "/ide/api/files/proj/dag.py", headers=op, json={"to": "proj/x.py"}
        )
        assert answer.status_code == 403, method
        assert WRITE_HEADER in answer.json()["detail"]
    assert (layout[0] / "proj" / "dag.py").read_text() == DAG


async def test_the_page_and_the_nav_button(
    client: httpx.AsyncClient, op: dict[str, str], db_pool: Pool, ide_app: FastAPI
) -> None:
    page = await client.get("/ide")
    assert page.status_code == 200
    assert '<base href="/">' in page.text and "IDE - Leoflow Lite" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    script = await client.get("/ide/static/ide.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await client.get("/ide/nothing")).status_code == 404

    plugins = await client.get("/api/v2/plugins", headers=op)
    body = plugins.json()
    public_contract().validate_response("GET", "/api/v2/plugins", body)
    views = [view for plugin in body["plugins"] for view in plugin["external_views"]]
    assert views == [
        {
            "name": "IDE",
            "href": "ide",
            "icon": "ide/static/icon.svg",
            "icon_dark_mode": None,
            "url_route": None,
            "category": None,
            "nav_top_level": True,
            "destination": "nav",
        }
    ]
    viewer = await _headers(ide_app, db_pool, "Viewer")
    assert (await client.get("/api/v2/plugins", headers=viewer)).json()["plugins"] == []


@pytest.mark.parametrize("edition", ["lite", "pro"])
async def test_the_web_app_page_loads_the_nav_button_script_only_with_an_editor(
    db_pool: Pool, tmp_path: Path, ui_assets: UiAssets, edition: str
) -> None:
    app = create_app(db_pool, api_settings(edition=edition, ui_assets_dir=ui_assets.root))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        before = await http.get("/dags")
        enable_ide(app, tmp_path)
        after = await http.get("/dags")
        script = await http.get("/ide/static/nav.js")
    assert before.status_code == after.status_code == 200
    assert "nav.js" not in before.text
    assert ('<script defer src="ide/static/nav.js"></script>' in after.text) is (edition == "lite")
    assert script.status_code == (200 if edition == "lite" else 404)


@pytest.mark.parametrize("enable", [True, False])
async def test_the_editor_does_not_exist_in_pro_or_without_a_workspace(
    db_pool: Pool, tmp_path: Path, enable: bool
) -> None:
    edition = "pro" if enable else "lite"
    app = create_app(db_pool, api_settings(edition=edition))
    if enable:
        enable_ide(app, tmp_path)  # ignored in Pro
    async with app.router.lifespan_context(app):
        user = await create_test_user(db_pool, "Admin")
        issued = security_of(app).auth.tokens.mint(user.username, tenants.DEFAULT_TENANT)
        headers = {**bearer(issued.token), **WRITE}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for method, url in [
                ("GET", "/ide"),
                ("GET", "/ide/static/ide.js"),
                ("GET", "/ide/api/files"),
                ("GET", "/ide/api/files/dag.py"),
                ("PUT", "/ide/api/files/dag.py"),
                ("DELETE", "/ide/api/files/dag.py"),
            ]:
                assert (await http.request(method, url)).status_code == 404, (method, url)
                answer = await http.request(method, url, headers=headers)
                assert answer.status_code == 404, (method, url)
            plugins = await http.get("/api/v2/plugins", headers=headers)
            assert plugins.json() == {"plugins": [], "total_entries": 0}
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - one look after the requests


async def test_monaco_is_served_same_origin_and_found_once_provisioned(
    db_pool: Pool, tmp_path: Path
) -> None:
    editor = provisioned_editor()
    later = tmp_path / "editor"
    app = create_app(db_pool, api_settings(edition="lite", editor_assets_dir=later))
    enable_ide(app, tmp_path)
    base = f"/ide/monaco/{MONACO_VERSION}/vs"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        missing = await http.get(f"{base}/loader.js")
        page = await http.get("/ide")
        assert missing.status_code == 503 and "leoflow setup" in missing.json()["detail"]
        assert 'data-missing="Run `leoflow setup`' in page.text
        await asyncio.to_thread(shutil.copytree, editor.root, later)
        loader = await http.get(f"{base}/loader.js", headers={"Accept-Encoding": "gzip"})
        assert loader.status_code == 200
        assert loader.headers["content-type"] == "text/javascript; charset=utf-8"
        assert loader.headers["content-encoding"] == "gzip"
        assert "immutable" in loader.headers["cache-control"]
        assert (await http.get("/ide")).text.count('data-missing=""') == 1
        assert (await http.get("/ide/monaco/0.0.1/vs/loader.js")).status_code == 404
        assert (await http.get(f"{base}/../../../manifest.json")).status_code == 404
