"""Lite's web editor: ``/ide`` (Monaco beside a file tree of the workspace) and its files API.

A Lite user edits DAG files in the browser and saves; the workspace sync sees the file change
and compiles and registers the DAG within a second, exactly as for a save from a desktop
editor, so the editor needs no reload hook of its own.

What a request may touch is the part that matters. The files API acts on paths *relative to
the workspace folder* and refuses, before any filesystem call:

* absolute paths (``/etc/passwd``, ``C:\\…``, ``~user``), ``..`` and ``.`` segments, empty
  segments, backslashes, NUL and other control characters, over-long names and paths;

and, on the filesystem:

* anything whose real path (symlinks resolved) is outside the workspace, so a symlink in the
  workspace pointing elsewhere leads nowhere;
* anything but regular files and folders (devices, pipes, sockets), opened without following
  a last-moment symlink and without blocking on a pipe;
* files over :data:`MAX_FILE_BYTES`, and contents that are not UTF-8 text.

Writes go to a temporary file beside the target (a hidden ``.tmp`` name the workspace sync
ignores) and replace it atomically, so the sync never compiles a half-written file. A save
carries the ``ETag`` the file was opened with; a file changed on disk since is not silently
overwritten (412). Every route needs a login with the right to push DAG versions (editing a
workspace file registers one), writes also need the ``X-Leoflow-IDE`` header (a cross-site
form cannot send it), and the whole of ``/ide`` answers 404 in Pro, where DAGs come from CI,
not from a folder on the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, JSONResponse, Response

from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.config import Settings
from leoflow.web import branding
from leoflow.web.editor_assets import (
    MONACO_VERSION,
    EditorAssets,
    default_editor_dir,
    editor_hint,
    find_editor_assets,
)
from leoflow.web.static import StaticFolder

MAX_FILE_BYTES = 1024 * 1024
"""Largest file the editor opens or saves: DAG code is far smaller; anything bigger is data."""
MAX_PATH_CHARS = 1024
MAX_NAME_BYTES = 255
MAX_TREE_ENTRIES = 5000
TREE_SKIPPED = frozenset(
    {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
)
"""Folders left out of the tree (tools' caches and environments, not something one edits)."""
WRITE_HEADER = "X-Leoflow-IDE"
CLIENT_DIR = Path(__file__).with_name("ide_client")
_DRIVE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
}


class FileRefused(Exception):
    """A files API request that cannot be done; ``status`` is the HTTP answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class FileEntry:
    """One file or folder of the tree, by its path relative to the workspace."""

    path: str
    kind: Literal["file", "folder"]
    size: int | None = None


@dataclass(frozen=True)
class FileContent:
    """A file's bytes and the ETag a later save must present."""

    path: str
    data: bytes
    etag: str


def etag_of(data: bytes) -> str:
    """The ETag of a file's content (content-based: a touch does not count as a change)."""
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def parse_relative(raw: str) -> tuple[str, ...]:
    """The segments of a workspace-relative path, or :class:`FileRefused` (400).

    Purely lexical: whatever the filesystem holds, a path refused here never reaches it.
    """
    if not raw:
        raise FileRefused(400, "a path relative to the workspace is required")
    if len(raw) > MAX_PATH_CHARS:
        raise FileRefused(400, f"the path is longer than {MAX_PATH_CHARS} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise FileRefused(400, "the path contains control characters")
    if "\\" in raw:
        raise FileRefused(400, "use / to separate folders (backslashes are refused)")
    if raw.startswith(("/", "~")) or (len(raw) > 1 and raw[1] == ":" and raw[0] in _DRIVE):
        raise FileRefused(400, "the path must be relative to the workspace")
    parts = tuple(raw.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise FileRefused(400, "the path may not contain empty, '.' or '..' segments")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise FileRefused(400, f"a name is longer than {MAX_NAME_BYTES} bytes")
    return parts


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


class Workspace:
    """The files of one workspace folder, reachable only through workspace-relative paths."""

    def __init__(self, root: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = Path(os.path.realpath(root))
        self.max_file_bytes = max_file_bytes

    # --- confinement ----------------------------------------------------------------------

    def _inside(self, real: str) -> bool:
        root = str(self.root)
        return real == root or os.path.commonpath([root, real]) == root

    def _resolved(self, parts: tuple[str, ...]) -> Path:
        """The real path of ``parts`` (every symlink followed), which must be in the root."""
        real = os.path.realpath(self.root.joinpath(*parts))
        if not self._inside(real):
            raise FileRefused(403, f"{'/'.join(parts)} leads outside the workspace")
        return Path(real)

    def _entry(self, parts: tuple[str, ...]) -> Path:
        """The directory entry ``parts`` names (its folder resolved, the name itself not), for
        operations on the entry rather than on what a symlink points to. A symlink leading
        out of the workspace is refused here too: it is not the editor's to move or delete."""
        entry = self._resolved(parts[:-1]) / parts[-1]
        if not entry.is_symlink():
            return entry
        try:
            real = os.path.realpath(entry, strict=True)
        except FileNotFoundError:
            real = os.path.realpath(entry)  # dangling: judged by where it would lead
        except OSError:
            raise FileRefused(403, f"{'/'.join(parts)} is a symlink loop") from None
        if not self._inside(real):
            raise FileRefused(403, f"{'/'.join(parts)} leads outside the workspace")
        return entry

    def _display(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix()

    # --- reading --------------------------------------------------------------------------

    def tree(self) -> tuple[list[FileEntry], bool]:
        """Every folder and regular file (symlinks only when they stay inside, symlinked
        folders not descended into), sorted by path; ``True`` when the listing was cut at
        :data:`MAX_TREE_ENTRIES`."""
        entries: list[FileEntry] = []
        pending = [self.root]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(folder) as listing:
                    children = sorted(listing, key=lambda e: e.name)
            except OSError:
                continue
            for child in children:
                if child.name in TREE_SKIPPED:
                    continue
                kind = self._kind(child)
                if kind is None:
                    continue
                if len(entries) >= MAX_TREE_ENTRIES:
                    return entries, True
                relative = Path(child.path).relative_to(self.root).as_posix()
                size = _size(child) if kind == "file" else None
                entries.append(FileEntry(relative, kind, size))
                if kind == "folder" and not child.is_symlink():
                    pending.append(Path(child.path))
        entries.sort(key=lambda e: e.path.split("/"))
        return entries, False

    def _kind(self, child: os.DirEntry[str]) -> Literal["file", "folder"] | None:
        try:
            if child.is_symlink() and not self._inside(os.path.realpath(child.path)):
                return None
            mode = child.stat().st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode):
            return "folder"
        if stat.S_ISREG(mode):
            return "file"
        return None

    def read(self, raw: str) -> FileContent:
        """A text file's content; folders, special files, big and binary files are refused."""
        parts = parse_relative(raw)
        real = self._resolved(parts)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(real, flags)
        except FileNotFoundError:
            raise FileRefused(404, f"{raw} does not exist") from None
        except OSError as exc:
            raise FileRefused(403, f"{raw} cannot be opened ({exc.strerror})") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise FileRefused(400, f"{raw} is a folder")
            raise FileRefused(403, f"{raw} is not a regular file (device, pipe or socket)")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise FileRefused(413, f"{raw} is larger than {self.max_file_bytes} bytes")
        if not _is_text(data):
            raise FileRefused(415, f"{raw} is not a UTF-8 text file")
        return FileContent(self._display(real), data, etag_of(data))

    # --- writing --------------------------------------------------------------------------

    def write(
        self, raw: str, data: bytes, *, if_match: str | None = None, create_only: bool = False
    ) -> tuple[FileContent, bool]:
        """Replace (or create) a text file atomically; returns its new state and whether it
        was created. ``if_match`` is the ETag the caller last read (412 if it changed);
        ``create_only`` refuses an existing file (412)."""
        if len(data) > self.max_file_bytes:
            raise FileRefused(413, f"the content is larger than {self.max_file_bytes} bytes")
        if not _is_text(data):
            raise FileRefused(415, "only UTF-8 text can be saved")
        parts = parse_relative(raw)
        real = self._resolved(parts)
        existing = _lstat(real)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise FileRefused(409, f"{raw} is a folder")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise FileRefused(403, f"{raw} is not a regular file (device, pipe or socket)")
        if existing is not None and create_only:
            raise FileRefused(412, f"{raw} already exists")
        if if_match is not None:
            current = self.read(raw).etag if existing is not None else None
            if current != if_match:
                raise FileRefused(412, f"{raw} changed on disk since it was opened")
        if not real.parent.is_dir():
            self._make_folders(real.parent)
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o644
        _replace_atomically(real, data, mode)
        return FileContent(self._display(real), data, etag_of(data)), existing is None

    def create(self, raw: str, kind: Literal["file", "folder"]) -> str:
        """Create an empty file or a folder (and the folders above it); 409 if it exists."""
        parts = parse_relative(raw)
        entry = self._entry(parts)
        if _lstat(entry) is not None:
            raise FileRefused(409, f"{raw} already exists")
        if kind == "file":
            return self.write(raw, b"", create_only=True)[0].path
        self._make_folders(entry.parent)
        try:
            os.mkdir(entry)
        except FileExistsError:
            raise FileRefused(409, f"{raw} already exists") from None
        return self._display(entry)

    def rename(self, raw: str, to_raw: str) -> str:
        """Move a file or folder (a symlink itself, not what it points to) to ``to_raw``."""
        source = self._entry(parse_relative(raw))
        target = self._entry(parse_relative(to_raw))
        found = _lstat(source)
        if found is None:
            raise FileRefused(404, f"{raw} does not exist")
        _refuse_special(raw, found)
        if _lstat(target) is not None:
            raise FileRefused(409, f"{to_raw} already exists")
        if stat.S_ISDIR(found.st_mode) and (target == source or source in target.parents):
            raise FileRefused(400, f"{raw} cannot be moved into itself")
        self._make_folders(target.parent)
        os.rename(source, target)
        return self._display(target)

    def delete(self, raw: str) -> None:
        """Delete a file, a symlink (not its target) or a folder with what it holds."""
        entry = self._entry(parse_relative(raw))
        found = _lstat(entry)
        if found is None:
            raise FileRefused(404, f"{raw} does not exist")
        _refuse_special(raw, found)
        if stat.S_ISDIR(found.st_mode):
            shutil.rmtree(entry)  # never follows symlinks below it
        else:
            os.unlink(entry)

    def _make_folders(self, real: Path) -> None:
        if not self._inside(os.path.realpath(real)):
            raise FileRefused(403, "the folder leads outside the workspace")
        try:
            real.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise FileRefused(409, f"{self._display(real)} is a file, not a folder") from None
        except NotADirectoryError:
            raise FileRefused(409, "a file stands where a folder is needed") from None


def _size(entry: os.DirEntry[str]) -> int | None:
    try:
        return entry.stat().st_size
    except OSError:
        return None


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _refuse_special(raw: str, found: os.stat_result) -> None:
    mode = found.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        raise FileRefused(403, f"{raw} is not a regular file (device, pipe or socket)")


def _replace_atomically(target: Path, data: bytes, mode: int) -> None:
    # Hidden and ending in .tmp: the workspace sync ignores it, so only the final rename is a
    # change it reacts to.
    temporary = target.parent / f".leoflow-{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- the web layer ---------------------------------------------------------------------------


@dataclass
class IdeState:
    """What the editor of one app serves (``app.state.ide``)."""

    settings: Settings
    editor_dir: Path
    page_template: str
    workspace: Workspace | None = None
    editor: EditorAssets | None = None
    monaco: StaticFolder | None = None

    def editor_files(self) -> StaticFolder | None:
        """Monaco's files, looked for again while missing, so that running ``leoflow setup``
        beside a running Lite is enough (a reload of the page, no restart)."""
        if self.monaco is None:
            self.editor = find_editor_assets(self.editor_dir)
            if self.editor is not None:
                self.monaco = StaticFolder(self.editor.vs_dir, immutable_prefixes=("",))
        return self.monaco

    @property
    def available(self) -> bool:
        """Whether ``/ide`` exists on this server (Lite, serving a workspace)."""
        return self.settings.edition != "pro" and self.workspace is not None

    def nav_entry(self, principal: Principal) -> dict[str, Any] | None:
        """The "IDE" button of the web app's navigation bar, as an Airflow plugin's external
        view (a top-level link the web app opens in a new tab), or ``None`` where there is no
        editor or the caller may not use it."""
        if not self.available or not principal.can(Permission.DAG_VERSIONS_PUSH):
            return None
        return {
            "name": "IDE",
            "href": "ide",
            "icon": "ide/static/icon.svg",
            "icon_dark_mode": None,
            "url_route": None,
            "category": None,
            "nav_top_level": True,
            "destination": "nav",
        }


def _state(request: Request) -> IdeState:
    state: IdeState | None = getattr(request.app.state, "ide", None)
    if state is None or not state.available:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return state


def _workspace(request: Request) -> Workspace:
    workspace = _state(request).workspace
    assert workspace is not None  # _state refused a server without one
    return workspace


def _writes_allowed(request: Request) -> None:
    if request.headers.get(WRITE_HEADER) != "1":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"changes need the {WRITE_HEADER}: 1 request header"
        )


Editor = Annotated[Principal, Depends(require(Permission.DAG_VERSIONS_PUSH))]
Files = Annotated[Workspace, Depends(_workspace)]

router = APIRouter(prefix="/ide", dependencies=[Depends(_state)], include_in_schema=False)
writes = [Depends(_writes_allowed)]


async def _in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except FileRefused as refused:
        raise HTTPException(refused.status_code, refused.detail) from None


class CreateRequest(BaseModel):
    """``POST /ide/api/files/{path}``: what to create there."""

    kind: Literal["file", "folder"] = "file"


class RenameRequest(BaseModel):
    """``PATCH /ide/api/files/{path}``: the new path, relative to the workspace."""

    to: str = Field(min_length=1, max_length=MAX_PATH_CHARS)


class SavedFile(BaseModel):
    """A file as saved."""

    path: str
    size: int
    etag: str


class TreeEntry(BaseModel):
    """One entry of the file tree."""

    path: str
    kind: Literal["file", "folder"]
    size: int | None = None


class FileTree(BaseModel):
    """The workspace's files, for the editor's tree."""

    root: str
    entries: list[TreeEntry]
    truncated: bool
    max_file_bytes: int


@router.get("")
async def ide_page(request: Request) -> Response:
    """The editor page (the page's script sends a visitor without a login to the login page,
    as the Airflow web app does)."""
    state = _state(request)
    root = str(request.scope.get("root_path", "")).rstrip("/") + "/"
    name = branding.instance_name(state.settings)
    missing = "" if state.editor_files() is not None else editor_hint(state.editor_dir)
    page = (
        state.page_template.replace("{{base}}", html.escape(root, quote=True))
        .replace("{{title}}", html.escape(f"IDE - {name}"))
        .replace("{{name}}", html.escape(name))
        .replace("{{monaco}}", f"ide/monaco/{MONACO_VERSION}/vs")
        .replace("{{missing}}", html.escape(missing, quote=True))
    )
    return HTMLResponse(page, headers=_PAGE_HEADERS)


@router.get("/static/{name}")
async def client_file(request: Request, name: str) -> Response:
    """The editor page's own script, style and icon."""
    folder: StaticFolder = request.app.state.ide_client
    response = folder.response(request, name)
    if response is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return response


@router.get("/monaco/{version}/vs/{path:path}")
async def monaco_file(request: Request, version: str, path: str) -> Response:
    """Monaco's files, same-origin; immutable, since the version is in the URL."""
    state = _state(request)
    monaco = state.editor_files()
    if monaco is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, editor_hint(state.editor_dir))
    response = monaco.response(request, path) if version == MONACO_VERSION else None
    if response is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return response


@router.get("/api/files")
async def file_tree(principal: Editor, workspace: Files) -> FileTree:
    """Every folder and text-editable file of the workspace."""
    entries, truncated = await _in_thread(workspace.tree)
    return FileTree(
        root=str(workspace.root),
        entries=[TreeEntry(path=e.path, kind=e.kind, size=e.size) for e in entries],
        truncated=truncated,
        max_file_bytes=workspace.max_file_bytes,
    )


@router.get("/api/files/{path:path}")
async def read_file(principal: Editor, workspace: Files, path: str) -> Response:
    """A file's content as UTF-8 text, with the ETag to save it back with."""
    content: FileContent = await _in_thread(workspace.read, path)
    return Response(
        content.data,
        media_type="text/plain; charset=utf-8",
        headers={"ETag": content.etag, "Cache-Control": "no-store"},
    )


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the content is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the content is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.put("/api/files/{path:path}", dependencies=writes)
async def save_file(request: Request, principal: Editor, workspace: Files, path: str) -> Response:
    """Save a file (the request body is its new UTF-8 content).

    ``If-Match: <etag>`` refuses the save (412) when the file changed since it was read;
    ``If-None-Match: *`` refuses it when the file exists.
    """
    data = await _body(request, workspace.max_file_bytes)
    if_match = request.headers.get("if-match")
    create_only = request.headers.get("if-none-match", "").strip() == "*"
    saved, created = await _in_thread(
        workspace.write, path, data, if_match=if_match, create_only=create_only
    )
    await record_action(request, principal, "ide_save_file", path=saved.path)
    body = SavedFile(path=saved.path, size=len(saved.data), etag=saved.etag)
    return JSONResponse(
        body.model_dump(), status_code=201 if created else 200, headers={"ETag": saved.etag}
    )


@router.post("/api/files/{path:path}", status_code=201, dependencies=writes)
async def create_entry(
    request: Request, principal: Editor, workspace: Files, path: str, body: CreateRequest
) -> dict[str, str]:
    """Create an empty file or a folder."""
    created: str = await _in_thread(workspace.create, path, body.kind)
    await record_action(request, principal, f"ide_create_{body.kind}", path=created)
    return {"path": created, "kind": body.kind}


@router.patch("/api/files/{path:path}", dependencies=writes)
async def rename_entry(
    request: Request, principal: Editor, workspace: Files, path: str, body: RenameRequest
) -> dict[str, str]:
    """Rename or move a file or folder inside the workspace."""
    moved: str = await _in_thread(workspace.rename, path, body.to)
    await record_action(request, principal, "ide_rename", path=path, to=moved)
    return {"path": moved}


@router.delete("/api/files/{path:path}", status_code=204, dependencies=writes)
async def delete_entry(request: Request, principal: Editor, workspace: Files, path: str) -> None:
    """Delete a file, or a folder and everything in it."""
    await _in_thread(workspace.delete, path)
    await record_action(request, principal, "ide_delete", path=path)


def install_ide(app: FastAPI, settings: Settings) -> IdeState:
    """Add ``/ide`` to ``app``; it answers 404 until :func:`enable_ide` names a workspace
    (and always in Pro)."""
    editor_dir = settings.editor_assets_dir or default_editor_dir(Path(settings.home))
    page = (CLIENT_DIR / "page.html").read_text(encoding="utf-8")
    state = IdeState(settings=settings, editor_dir=editor_dir, page_template=page)
    app.state.ide = state
    app.state.ide_client = StaticFolder(CLIENT_DIR, immutable_prefixes=())
    app.include_router(router)
    return state


def enable_ide(app: FastAPI, workspace: Path) -> None:
    """Serve the editor over ``workspace`` (Lite's launcher calls this with its workspace)."""
    state: IdeState = app.state.ide
    if state.settings.edition == "pro":
        return
    state.workspace = Workspace(workspace)
    state.editor_files()
    web = getattr(app.state, "web", None)  # leoflow.web.spa.WebState
    if web is not None:
        web.head_extra = '<script defer src="ide/static/nav.js"></script>'
