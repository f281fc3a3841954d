"""``leoflow setup``: prepare this machine to serve the web UI.

Downloads the pinned Apache Airflow web app (see :mod:`leoflow.web.assets`) into
``<home>/assets/airflow-ui/<version>``, for Lite's web editor the pinned code editor (see
:mod:`leoflow.web.editor_assets`) into ``<home>/assets/monaco-editor/<version>``, and the
renderer of the API reference at ``/docs`` (see :mod:`leoflow.web.docs_assets`) into
``<home>/assets/scalar-api-reference/<version>``, once each; running it again is a quick
no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from leoflow.config import load_settings
from leoflow.web.assets import (
    AIRFLOW_UI_VERSION,
    AssetError,
    ProgressCallback,
    default_assets_dir,
    find_assets,
    provision,
)
from leoflow.web.docs_assets import (
    SCALAR_VERSION,
    docs_assets_dir,
    find_docs_assets,
    provision_docs,
)
from leoflow.web.editor_assets import (
    MONACO_VERSION,
    default_editor_dir,
    find_editor_assets,
    provision_editor,
)


@contextmanager
def _progress(console: Console) -> Iterator[ProgressCallback]:
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

        yield report


def _run(console: Console, step: Callable[[ProgressCallback], str]) -> None:
    try:
        with _progress(console) as report:
            done = step(report)
    except AssetError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    console.print(done)


def setup_command(
    *,
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
    editor: Annotated[
        bool,
        typer.Option(
            help="Also fetch the code editor of Lite's web editor (/ide) with npm; a server "
            "image for Pro does not need it.",
        ),
    ] = True,
    editor_tarball: Annotated[
        Path | None,
        typer.Option(
            help=f"Use this monaco-editor-{MONACO_VERSION}.tgz instead of running npm pack "
            "(air-gapped machines); its checksum is verified all the same.",
        ),
    ] = None,
    docs: Annotated[
        bool,
        typer.Option(
            help="Also fetch the renderer of the API reference at /docs (Scalar) with npm.",
        ),
    ] = True,
    docs_tarball: Annotated[
        Path | None,
        typer.Option(
            help=f"Use this scalar-api-reference-{SCALAR_VERSION}.tgz instead of running npm "
            "pack (air-gapped machines, image builds); its checksum is verified all the same.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Provision again even if already done.")] = False,
) -> None:
    """Download and verify the web UI files (Apache Airflow's web app, unmodified), the code
    editor of Lite's web editor and the renderer of the API reference (/docs)."""
    settings = load_settings()
    console = Console(stderr=True)
    dest = assets_dir or settings.ui_assets_dir or default_assets_dir(settings.home)
    if find_assets(dest) is not None and not force:
        provision(dest)
        console.print(f"Web UI (Apache Airflow {AIRFLOW_UI_VERSION}) already installed in {dest}")
    else:

        def web_ui(report: ProgressCallback) -> str:
            assets = provision(dest, wheel=wheel, force=force, progress=report)
            return (
                f"Web UI (Apache Airflow {assets.version}, Apache-2.0, unmodified) installed in "
                f"{assets.root}"
            )

        _run(console, web_ui)
    if editor:
        editor_dest = settings.editor_assets_dir or default_editor_dir(settings.home)
        _setup_editor(console, editor_dest, editor_tarball, force)
    if docs:
        _setup_docs(console, docs_assets_dir(settings), docs_tarball, force)


def _setup_editor(console: Console, editor_dest: Path, tarball: Path | None, force: bool) -> None:
    if find_editor_assets(editor_dest) is not None and not force:
        console.print(
            f"Code editor (monaco-editor {MONACO_VERSION}) already installed in {editor_dest}"
        )
        return

    def code_editor(report: ProgressCallback) -> str:
        found = provision_editor(editor_dest, tarball=tarball, force=force, progress=report)
        return (
            f"Code editor (monaco-editor {found.version}, MIT, unmodified) installed in "
            f"{found.root}"
        )

    _run(console, code_editor)


def _setup_docs(console: Console, dest: Path, tarball: Path | None, force: bool) -> None:
    if find_docs_assets(dest) is not None and not force:
        console.print(
            f"API reference renderer (@scalar/api-reference {SCALAR_VERSION}) already "
            f"installed in {dest}"
        )
        return

    def renderer(report: ProgressCallback) -> str:
        found = provision_docs(dest, tarball=tarball, force=force, progress=report)
        return (
            f"API reference renderer (@scalar/api-reference {found.version}, MIT, unmodified) "
            f"installed in {found.root}"
        )

    _run(console, renderer)


def register_setup_command(app: typer.Typer) -> None:
    """Add ``leoflow setup`` to the command line."""
    app.command(name="setup")(setup_command)
