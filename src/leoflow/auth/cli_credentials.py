"""Tokens the command line keeps for the servers it talks to: ``<home>/credentials.json``.

``leoflow login`` stores a token per server URL; ``leoflow lite`` stores one for its local admin
at every start, so the CLI on the same machine works without a login step. The file is
owner-only (``0600``), like the signing secret kept next to it, which already lets whoever can
read that folder mint any token: keeping a token there adds no exposure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

CREDENTIALS_FILE = "credentials.json"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def normalize_server(url: str) -> str:
    """``http://127.0.0.1:8088/`` and ``http://127.0.0.1:8088`` are one server."""
    return url.strip().rstrip("/")


def server_aliases(url: str) -> list[str]:
    """The URL and, for a loopback host, its other loopback spellings (same server)."""
    url = normalize_server(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    if shown not in _LOOPBACK:
        return [url]
    port = f":{parts.port}" if parts.port else ""
    rest = parts.path
    return [f"{parts.scheme}://{name}{port}{rest}" for name in _LOOPBACK]


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return {}
    return {str(k): dict(v) for k, v in servers.items() if isinstance(v, dict)}


def _write(path: Path, servers: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"servers": servers}, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(scratch, path)


def load_token(home: Path, server: str) -> tuple[str, str] | None:
    """``(token, username)`` stored for ``server``, if any."""
    servers = _read(home / CREDENTIALS_FILE)
    for alias in server_aliases(server):
        entry = servers.get(alias)
        if entry and entry.get("token"):
            return entry["token"], entry.get("username", "")
    return None


def store_token(home: Path, server: str, token: str, username: str) -> Path:
    """Remember ``token`` for ``server`` (and its loopback aliases); returns the file."""
    path = home / CREDENTIALS_FILE
    servers = _read(path)
    for alias in server_aliases(server):
        servers[alias] = {"token": token, "username": username}
    _write(path, servers)
    return path


def forget_token(home: Path, server: str) -> bool:
    """Drop what is stored for ``server``; whether anything was."""
    path = home / CREDENTIALS_FILE
    servers = _read(path)
    removed = [alias for alias in server_aliases(server) if servers.pop(alias, None)]
    if removed:
        _write(path, servers)
    return bool(removed)
