"""Serving a folder of provisioned UI files: fixed types, cache rules, precompressed gzip.

The folder is indexed once when the app is built: a request names a key of that index, never
a filesystem path, so nothing outside the folder can be reached whatever the URL says.

Cache rules follow the file names: the bundler content-hashes everything under ``assets/``,
so those are immutable for a year; everything else (translations, icons) is revalidated with
its ETag. Compressible files are answered from their ``.gz`` sibling, written once at
provisioning, when the browser accepts gzip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
"""Explicit types: the platform's ``mimetypes`` table varies (``.js``, ``.wasm`` notably) and
browsers refuse module scripts and streamed WebAssembly served with the wrong type."""

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def content_type(path: str) -> str:
    """The ``Content-Type`` of a file name."""
    suffix = Path(path).suffix.lower()
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


@dataclass(frozen=True)
class StaticFile:
    """One servable file and the headers it is served with."""

    path: Path
    media_type: str
    cache_control: str
    etag: str
    gzip_path: Path | None


def _etag(path: Path) -> str:
    stat = path.stat()
    digest = hashlib.sha1(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f'"{digest.hexdigest()[:20]}"'


def _accepts_gzip(request: Request) -> bool:
    accepted = request.headers.get("accept-encoding", "")
    return any(part.split(";")[0].strip().lower() == "gzip" for part in accepted.split(","))


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


class StaticFolder:
    """An immutable index of the files under ``root`` (``.gz`` siblings are not listed)."""

    def __init__(self, root: Path, *, immutable_prefixes: tuple[str, ...] = ("assets/",)) -> None:
        self.root = root
        self.files: dict[str, StaticFile] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix == ".gz" or path.is_symlink():
                continue
            key = path.relative_to(root).as_posix()
            packed = path.with_name(path.name + ".gz")
            immutable = key.startswith(immutable_prefixes)
            self.files[key] = StaticFile(
                path=path,
                media_type=content_type(key),
                cache_control=IMMUTABLE if immutable else REVALIDATE,
                etag=_etag(path),
                gzip_path=packed if packed.is_file() else None,
            )

    def get(self, key: str) -> StaticFile | None:
        """The file at ``key`` (a ``/``-separated path relative to the root)."""
        return self.files.get(key)

    def response(self, request: Request, key: str) -> Response | None:
        """The answer for ``key``: the file, its gzip copy, a 304, or ``None`` if unknown."""
        entry = self.files.get(key)
        if entry is None:
            return None
        use_gzip = entry.gzip_path is not None and _accepts_gzip(request)
        etag = entry.etag[:-1] + '-gz"' if use_gzip else entry.etag
        headers = {"Cache-Control": entry.cache_control, "ETag": etag}
        if entry.gzip_path is not None:
            headers["Vary"] = "Accept-Encoding"
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        if use_gzip and entry.gzip_path is not None:
            headers["Content-Encoding"] = "gzip"
            return FileResponse(entry.gzip_path, media_type=entry.media_type, headers=headers)
        return FileResponse(entry.path, media_type=entry.media_type, headers=headers)
