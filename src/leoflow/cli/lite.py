"""``leoflow lite …`` and ``leoflow doctor``: start Lite, recover its admin, back it up.

``leoflow lite [WORKSPACE] [OPTIONS]`` starts Lite (the same as ``leoflow lite start``); the
other subcommands work on a *stopped* or running Lite's home folder and database:
``reset-password``, ``backup`` and ``restore``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from leoflow.config import Settings, load_settings

DEFAULT_COMMAND = "start"
EXIT_FAILED = 1
EXIT_USAGE = 2

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", help="The workspace folder (default ~/leoflow).", show_default=False
    ),
]
PostgresOption = Annotated[
    str,
    typer.Option(help="auto: LEOFLOW_DATABASE_URL if set, else embedded; embedded; external."),
]


class _LiteGroup(TyperGroup):
    """``leoflow lite ARGS`` runs ``leoflow lite start ARGS`` unless ARGS names a subcommand,
    so ``leoflow lite ~/dags --port 9000`` keeps working beside ``leoflow lite backup``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


lite_app = typer.Typer(
    cls=_LiteGroup,
    help="Leoflow Lite: `leoflow lite [WORKSPACE]` starts it (API + UI + scheduler + tasks).",
    add_completion=False,
)


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@lite_app.command(DEFAULT_COMMAND)
def start(
    workspace: Annotated[
        Path | None, typer.Argument(help="Folder of DAG projects (default ~/leoflow).")
    ] = None,
    *,
    host: Annotated[
        str, typer.Option(help="Address the HTTP server binds (loopback unless login is on).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8088,
    postgres: PostgresOption = "auto",
    executor: Annotated[
        str,
        typer.Option(
            help="auto: kubernetes when a configured cluster answers, else subprocess; "
            "subprocess; kubernetes."
        ),
    ] = "auto",
    fresh: Annotated[
        bool,
        typer.Option(help="Start over: delete the embedded database, logs and run state first."),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm --fresh without a prompt.")
    ] = False,
    no_login: Annotated[
        bool,
        typer.Option(
            "--no-login",
            help="Developer mode: requests from this machine need no login (loopback only).",
        ),
    ] = False,
    ui: Annotated[
        bool, typer.Option(help="Download the web UI files on first start if missing.")
    ] = True,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="console (default in an interactive terminal) or json (one object per line, "
            "the default otherwise).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start Leoflow Lite: one process on this machine with an embedded database."""
    from leoflow.lite.launcher import LiteOptions, run_lite

    if log_format not in (None, "json", "console"):
        raise _fail(f"--log-format must be json or console, not {log_format!r}", EXIT_USAGE)

    run_lite(
        LiteOptions(
            workspace=workspace,
            host=host,
            port=port,
            postgres=postgres,
            executor=executor,
            fresh=fresh,
            yes=yes,
            no_login=no_login,
            provision_ui=ui,
            log_format=log_format,
        )
    )


@contextmanager
def lite_database(settings: Settings, postgres: str) -> Iterator[str]:
    """The DSN of Lite's database, migrated; an embedded server started here is stopped after
    (one that Lite is running keeps running: the server counts its users)."""
    from leoflow.lite.embedded_db import stop_embedded_postgres
    from leoflow.lite.launcher import LiteStartupError, choose_database
    from leoflow.store.schema import SchemaError, migrate

    try:
        db = choose_database(postgres, settings)
    except LiteStartupError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    try:
        try:
            migrate(db.dsn)
        except SchemaError as exc:
            raise _fail(str(exc)) from None
        yield db.dsn
    finally:
        if db.embedded_dir is not None:
            stop_embedded_postgres(db.embedded_dir)


@lite_app.command("reset-password")
def reset_password(
    username: Annotated[str | None, typer.Option(help="Account (default: Lite's admin).")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="New password (default: a generated one, shown once).", hidden=True),
    ] = None,
    prompt: Annotated[
        bool, typer.Option("--prompt", help="Type the new password (hidden) instead.")
    ] = False,
    postgres: PostgresOption = "auto",
) -> None:
    """Set a new password for Lite's admin (creates the admin if it is missing)."""
    from leoflow.auth.bootstrap import LITE_ADMIN, ensure_admin, with_lite_secrets
    from leoflow.auth.passwords import (
        PasswordPolicyError,
        check_password_policy,
        generate_password,
        hash_password_async,
    )
    from leoflow.store import users
    from leoflow.store.pool import create_pool

    settings = with_lite_secrets(load_settings())
    name = username or settings.admin_username or LITE_ADMIN
    secret = password
    if prompt:
        secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    generated = secret is None
    secret = secret or generate_password()
    try:
        check_password_policy(secret)
    except PasswordPolicyError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None

    async def work(dsn: str) -> None:
        pool = await create_pool(dsn, min_size=1, max_size=2, application_name="leoflow-cli")
        try:
            user = await users.get_user_by_username(pool, name)
            if user is None:
                await ensure_admin(pool, name, secret)
            else:
                await users.set_password_hash(pool, user.id, await hash_password_async(secret))
        finally:
            await pool.close()

    with lite_database(settings, postgres) as dsn:
        asyncio.run(work(dsn))
    if generated:
        typer.echo(f"New password of {name}: {secret}  (shown once)")
    else:
        typer.echo(f"Password of {name} changed.")


def _default_workspace(workspace: Path | None) -> Path:
    return (workspace or Path.home() / "leoflow").expanduser().resolve()


@lite_app.command("backup")
def backup(
    archive: Annotated[
        Path | None,
        typer.Argument(help="Archive to write (default ./leoflow-backup-<time>.tar.gz)."),
    ] = None,
    workspace: WorkspaceOption = None,
    postgres: PostgresOption = "auto",
) -> None:
    """Back up the database (pg_dump), the workspace and the secrets into one archive."""
    import os

    from leoflow.auth.bootstrap import with_lite_secrets
    from leoflow.lite.backup import BackupError, create_backup

    settings = with_lite_secrets(load_settings())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = (archive or Path(f"leoflow-backup-{stamp}.tar.gz")).expanduser().resolve()
    config_file = os.environ.get("LEOFLOW_CONFIG_FILE")
    with lite_database(settings, postgres) as dsn:
        try:
            summary = create_backup(
                dsn,
                Path(settings.home),
                _default_workspace(workspace),
                target,
                config_file=Path(config_file) if config_file else None,
            )
        except BackupError as exc:
            raise _fail(str(exc)) from None
    size = summary.path.stat().st_size / (1 << 20)
    typer.echo(
        f"Backup written to {summary.path} ({size:.1f} MiB): database, workspace "
        f"{summary.workspace}, {', '.join(summary.config_files) or 'no secrets'}. It holds "
        "secrets: keep it private."
    )


@lite_app.command("restore")
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive made by `leoflow lite backup`.")],
    workspace: WorkspaceOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Restore the embedded database, the workspace and the secrets from a backup.

    Lite must be stopped. What is there now is moved aside (``*.before-restore-<time>``),
    never deleted.
    """
    from leoflow.lite.backup import BackupError, read_manifest, restore_backup
    from leoflow.lite.launcher import embedded_data_dir, embedded_server_running

    settings = load_settings()
    if settings.database_dsn() is not None:
        raise _fail(
            "restore writes Lite's embedded database; with LEOFLOW_DATABASE_URL set, restore "
            "database.dump from the archive with pg_restore yourself (unset it to restore "
            "into the embedded database)",
            EXIT_USAGE,
        )
    data_dir = embedded_data_dir(settings)
    if embedded_server_running(data_dir):
        raise _fail(f"the database in {data_dir} is in use: stop Lite first (Ctrl+C)")
    try:
        manifest = read_manifest(archive)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    target = _default_workspace(workspace)
    if not yes and not typer.confirm(
        f"Restore the backup of {manifest['created_at']} into {data_dir} and {target}? "
        "(the current ones are moved aside)"
    ):
        raise typer.Exit(EXIT_FAILED)
    try:
        lines = restore_backup(archive, Path(settings.home), target, data_dir)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    for line in lines:
        typer.echo(line)
    typer.echo("Restored. Start Lite with `leoflow lite`.")


_SYMBOLS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "info": "info"}


def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check what works on this host for Leoflow, with advice for what does not.

    Python, embedded PostgreSQL, uv, container tools, Kubernetes, free disk, web UI files and
    the HTTP port.
    """
    from leoflow.lite.doctor import run_checks

    checks = run_checks(load_settings())
    failed = any(check.status == "fail" for check in checks)
    if as_json:
        payload: dict[str, Any] = {"ok": not failed, "checks": [c.to_json() for c in checks]}
        typer.echo(json.dumps(payload, indent=2))
    else:
        for check in checks:
            typer.echo(f"[{_SYMBOLS[check.status]}] {check.name}: {check.detail}")
            if check.advice and check.status != "ok":
                typer.echo(f"       → {check.advice}")
        typer.echo(
            "Some checks failed: fix them before starting Leoflow."
            if failed
            else "Leoflow can run here."
        )
    if failed:
        raise typer.Exit(EXIT_FAILED)


def register_lite_commands(app: typer.Typer) -> None:
    """Add ``lite`` (with its subcommands) and ``doctor`` to the ``leoflow`` app."""
    app.add_typer(lite_app, name="lite")
    app.command("doctor")(doctor_command)


__all__ = ["lite_app", "register_lite_commands"]
