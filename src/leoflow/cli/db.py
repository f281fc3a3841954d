"""``leoflow db``: migrate the metadata database, or check it matches this Leoflow.

The database comes from ``LEOFLOW_DATABASE_URL`` (or the config file), the same setting the
server uses, so the command always works on the database the server will open. ``check`` is
meant for init containers and deploy scripts: it exits non-zero, with the fix spelled out,
whenever the server would refuse to start.
"""

from __future__ import annotations

import typer

from leoflow.config import load_settings
from leoflow.store.dsn import InvalidDatabaseURL, redact
from leoflow.store.schema import SchemaError, SchemaState, check, migrate

db_app = typer.Typer(
    help="Metadata database: apply migrations, or check the schema matches this Leoflow.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_NOT_CONFIGURED = 2
EXIT_SCHEMA_MISMATCH = 1


def _database_url() -> str:
    dsn = load_settings().database_dsn()
    if not dsn:
        typer.echo(
            "LEOFLOW_DATABASE_URL is not set. Point it at the PostgreSQL database Leoflow "
            "should use, e.g. LEOFLOW_DATABASE_URL=postgresql://leoflow:secret@localhost:5432/"
            "leoflow (Lite starts an embedded database by itself: `leoflow lite`).",
            err=True,
        )
        raise typer.Exit(EXIT_NOT_CONFIGURED)
    return dsn


@db_app.command("migrate")
def migrate_command() -> None:
    """Apply every pending migration (a no-op when the schema is up to date)."""
    dsn = _database_url()
    try:
        result = migrate(dsn)
    except (SchemaError, InvalidDatabaseURL) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    where = redact(dsn)
    if result.applied:
        before = result.previous or "empty"
        typer.echo(
            f"Migrated {where} from {before} to {result.current} "
            f"({len(result.applied)} revision(s) applied)."
        )
    else:
        typer.echo(f"{where} is already up to date (revision {result.current}).")


@db_app.command("check")
def check_command() -> None:
    """Exit 0 if the schema matches this Leoflow; otherwise say why and how to fix it."""
    dsn = _database_url()
    try:
        status = check(dsn)
    except (SchemaError, InvalidDatabaseURL) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if status.state is SchemaState.UP_TO_DATE:
        typer.echo(status.message)
        return
    typer.echo(status.message, err=True)
    raise typer.Exit(EXIT_SCHEMA_MISMATCH)
