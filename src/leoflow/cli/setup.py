"""``leoflow setup``: prepare this machine to serve the web UI.

Downloads the pinned Apache Airflow web app (see :mod:`leoflow.web.assets`) into
``<home>/assets/airflow-ui/<version>`` once; running it again is a quick no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from leoflow.config import load_settings
from leoflow.web.assets import (
    AIRFLOW_UI_VERSION,
    AssetError,
    default_assets_dir,
    find_assets,
    provision,
)


def setup_command(
    wheel: Annotated[
        Path | None,
        typer.Option(
            help="Use this apache-airflow-core wheel instead of downloading it (air-gapped "
            "machines); its checksum is verified all the same.",
        ),
    ] = None,
    assets_dir: Annotated[
        Path | None,
        typer.Option(help="Where to put the UI files (default: LEOFLOW_UI_ASSETS_DIR or HOME)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Provision again even if already done.")] = False,
) -> None:
    """Download and verify the web UI files (Apache Airflow's web app, unmodified)."""
    settings = load_settings()
    dest = assets_dir or settings.ui_assets_dir or default_assets_dir(settings.home)
    console = Console(stderr=True)
    if find_assets(dest) is not None and not force:
        provision(dest)
        console.print(f"Web UI (Apache Airflow {AIRFLOW_UI_VERSION}) already installed in {dest}")
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total or None)
            progress.update(tasks[step], completed=done, total=total or None)

        try:
            assets = provision(dest, wheel=wheel, force=force, progress=report)
        except AssetError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=1) from None
    console.print(
        f"Web UI (Apache Airflow {assets.version}, Apache-2.0, unmodified) installed in "
        f"{assets.root}"
    )


def register_setup_command(app: typer.Typer) -> None:
    """Add ``leoflow setup`` to the command line."""
    app.command(name="setup")(setup_command)
