"""``leoflow push FILE``: register a compiled ``dag.json`` with a server.

This is how Pro receives DAGs (CI runs ``leoflow compile --build --push`` then ``leoflow
push``). The server de-duplicates by spec hash, so pushing the same artifact twice is harmless
and says so. The file is validated locally first, so a broken artifact never leaves the
machine; the server validates again and answers 422 with each problem's field path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from leoflow.cli.client import (
    ClientError,
    JsonOption,
    PasswordOption,
    ServerOption,
    TokenOption,
    UserOption,
    _client,
    _fail,
    _q,
)
from leoflow.spec import SpecError, load_dag_json, spec_hash


def push_command(
    file: Annotated[Path, typer.Argument(help="The compiled dag.json to register.")],
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a compiled dag.json with a Leoflow server (idempotent on its content)."""
    try:
        spec = load_dag_json(file)
    except (SpecError, OSError) as exc:
        typer.echo(f"error: {file} is not a valid dag.json: {exc}", err=True)
        raise typer.Exit(1) from None
    body: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    try:
        client = _client(server, token, username, password)
        response = client.request("POST", f"/api/v2/dags/{_q(spec.dag_id)}/versions", json=body)
    except ClientError as exc:
        raise _fail(exc) from None
    result: dict[str, Any] = response.json()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    created = response.status_code == 201
    verb = "registered new version" if created else "already registered as version"
    typer.echo(
        f"{spec.dag_id}: {verb} {result.get('version_number')} "
        f"(spec {spec_hash(spec)[:12]}) on {client.server}"
    )


def register_push_command(app: typer.Typer) -> None:
    """Add ``leoflow push`` to the CLI."""
    app.command("push")(push_command)
