"""Entry point of the ``leoflow`` console script: one Typer app, one sub-app per area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leoflow import __version__
from leoflow.cli.authoring import register_authoring_commands
from leoflow.cli.db import db_app
from leoflow.cli.security import register_security_commands
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
register_security_commands(app)
register_setup_command(app)


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
def lite(
    workspace: Annotated[
        Path | None, typer.Argument(help="Folder of DAG projects (default ~/leoflow).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address the HTTP server binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8088,
    postgres: Annotated[
        str,
        typer.Option(
            help="auto: LEOFLOW_DATABASE_URL if set, else embedded; embedded; external.",
        ),
    ] = "auto",
) -> None:
    """Start Leoflow Lite: one process on this machine with an embedded database."""
    from leoflow.lite.launcher import LiteOptions, run_lite

    run_lite(LiteOptions(workspace=workspace, host=host, port=port, postgres=postgres))


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Address the HTTP server binds.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
) -> None:
    """Run one control-plane replica (Pro): API + UI, agent gRPC, scheduler candidacy.

    The database comes from LEOFLOW_DATABASE_URL and must already be migrated
    (`leoflow db migrate`, the Helm chart's hook): a server never migrates by itself.
    """
    from leoflow.server_cli import run_server

    run_server(host=host, port=port)
