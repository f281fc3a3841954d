"""Which DAG versions get a runtime template, and when templates start, are refused and close
(``leoflow.executors.runtime_templates``), with real template processes.

Covered: only DAGs with Python source and at least ``min_tasks`` tasks get one, keyed by the
exact source; the first request starts it in the background and later ones get it once ready;
a refusal is remembered (that version is never tried again); the least recently used template
is closed beyond the limit; closing removes every template and its source folder.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from leoflow.compiler import compile_project
from leoflow.executors import runtime_templates
from leoflow.executors.runtime_templates import RuntimeTemplate, RuntimeTemplates, TemplateKey
from leoflow.spec import DagSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="templates are Linux-only")

WIDE = """
from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2024, 1, 1))
def wide_{name}():
    @task
    def noop(index):
        return index

    for index in range({count}):
        noop.override(task_id=f"noop_{{index}}")(index)
{extra}
wide_{name}()
"""


def _dag(root: Path, name: str, count: int, extra: str = "") -> tuple[DagSpec, Path]:
    folder = root / name
    folder.mkdir(parents=True)
    source = WIDE.format(name=name, count=count, extra=extra)
    (folder / "dag.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return compile_project(folder).spec, folder


async def _ready(
    templates: RuntimeTemplates, key: TemplateKey, spec: DagSpec
) -> RuntimeTemplate | None:
    async def poll() -> RuntimeTemplate | None:
        while (found := templates.ready(key, Path(sys.executable), {}, spec.source or "")) is None:
            if key in templates._refused:
                return None
            await asyncio.sleep(0.05)
        return found

    return await asyncio.wait_for(poll(), 60)


def test_only_large_dags_with_python_source_get_a_key(tmp_path: Path) -> None:
    templates = RuntimeTemplates(tmp_path / "templates", min_tasks=5)
    small, small_dir = _dag(tmp_path, "small", 4)
    large, large_dir = _dag(tmp_path, "large", 5)
    assert templates.key_for("venv", small, small_dir) is None
    key = templates.key_for("venv", large, large_dir)
    assert key is not None and key.module == large.source_module
    assert key.dag_dir == str(large_dir) and key.venv == "venv"
    edited = large.model_copy(update={"source": (large.source or "") + "\n# edited\n"})
    other = templates.key_for("venv", edited, large_dir)
    assert other is not None and other.digest != key.digest  # another version, another key
    assert templates.key_for("venv", large.model_copy(update={"source": None}), large_dir) is None


async def test_a_template_starts_on_first_request_and_is_used_once_ready(tmp_path: Path) -> None:
    templates = RuntimeTemplates(tmp_path / "templates", min_tasks=1)
    spec, folder = _dag(tmp_path, "first", 3)
    key = templates.key_for("venv", spec, folder)
    assert key is not None
    try:
        assert templates.ready(key, Path(sys.executable), {}, spec.source or "") is None
        template = await _ready(templates, key, spec)
        assert template is not None
        runtime = await templates._templates[key].spawn()
        runtime.release()
        sources = list((tmp_path / "templates").iterdir())
        assert len(sources) == 1 and (sources[0] / f"{key.module}.py").read_text() == spec.source
    finally:
        await templates.close()
    assert list((tmp_path / "templates").iterdir()) == []  # closed, and its source removed


async def test_a_refusal_is_remembered(tmp_path: Path) -> None:
    templates = RuntimeTemplates(tmp_path / "templates", min_tasks=1)
    spec, folder = _dag(tmp_path, "refused", 2, extra='import os\nX = os.environ.get("LEOFLOW_X")')
    key = templates.key_for("venv", spec, folder)
    assert key is not None
    try:
        assert await _ready(templates, key, spec) is None
        assert "$LEOFLOW_X" in templates._refused[key]
        assert templates.ready(key, Path(sys.executable), {}, spec.source or "") is None
        assert key not in templates._templates  # not started again
    finally:
        await templates.close()


async def test_the_least_recently_used_template_is_closed_beyond_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_templates, "MAX_TEMPLATES", 1)
    templates = RuntimeTemplates(tmp_path / "templates", min_tasks=1)
    first, first_dir = _dag(tmp_path, "one", 2)
    second, second_dir = _dag(tmp_path, "two", 2)
    first_key = templates.key_for("venv", first, first_dir)
    second_key = templates.key_for("venv", second, second_dir)
    assert first_key is not None and second_key is not None
    try:
        old = await _ready(templates, first_key, first)
        assert old is not None
        assert await _ready(templates, second_key, second) is not None
        templates.ready(second_key, Path(sys.executable), {}, second.source or "")
        assert first_key not in templates._templates and second_key in templates._templates
        assert old.closed
    finally:
        await templates.close()
