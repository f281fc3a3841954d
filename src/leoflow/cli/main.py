"""Entry point of the ``leoflow`` console script: one Typer app, one sub-app per area."""

from __future__ import annotations

from typing import Annotated

import typer

from leoflow import __version__
from leoflow.cli.authoring import register_authoring_commands
from leoflow.cli.client import register_client_commands
from leoflow.cli.db import db_app
from leoflow.cli.lite import register_lite_commands
from leoflow.cli.push import register_push_command
from leoflow.cli.security import connections_app, register_security_commands
from leoflow.cli.setup import register_setup_command

app = typer.Typer(
    name="leoflow",
    help="Leoflow: run your Airflow 3 DAGs fast, isolated and Kubernetes-native.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db", help="Metadata database: migrate and check.")
register_authoring_commands(app)
register_push_command(app)
register_security_commands(app)
register_setup_command(app)
register_lite_commands(app)
register_client_commands(app, connections_app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"leoflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Leoflow command line."""


@app.command()
def server(
    host: Annotated[
        str | None,
        typer.Option(
            help="Address the HTTP server binds (default: LEOFLOW_API_HOST, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="HTTP port (default: LEOFLOW_API_PORT, else 8088).", show_default=False),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="json (one object per line, the default) or console (human-readable); "
            "overrides LEOFLOW_LOG_FORMAT.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run one control-plane replica (Pro): API + UI, agent gRPC, scheduler candidacy.

    The database comes from LEOFLOW_DATABASE_URL and must already be migrated
    (`leoflow db migrate`, the Helm chart's hook): a server never migrates by itself.
    """
    from leoflow.server_cli import run_server

    run_server(host=host, port=port, log_format=log_format)
