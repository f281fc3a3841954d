"""Shared helpers for compiler tests: corpus paths and a project-folder factory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DAGS = CORPUS / "dags"
GOLDEN = CORPUS / "golden"

MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project folder: ``dag.py`` (dedented) and optionally ``leoflow.yaml``."""

    def make(dag: str, config: str | None = None, name: str = "dag.py") -> Path:
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(textwrap.dedent(dag), encoding="utf-8")
        if config is not None:
            (folder / "leoflow.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
        return folder

    return make


@pytest.fixture(scope="session")
def _leoflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leoflow-home")


@pytest.fixture(autouse=True)
def _isolated_leoflow_home(_leoflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``leoflow validate/compile`` build DAG venvs under LEOFLOW_HOME: one per session, never
    the user's ``~/.leoflow``."""
    monkeypatch.setenv("LEOFLOW_HOME", str(_leoflow_home))
