"""Lite's workspace sync: the pure plan, and full passes against a real PostgreSQL.

DAG files are compiled by the real compiler in a real child interpreter (this one, which has
``leoflow-sdk``), so no per-DAG venv is built here; the venv path is covered end to end by
``tests/e2e/test_e2e_lite_workspace.py``.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from leoflow.config import Settings
from leoflow.lite.venvs import VenvManager, sdk_source
from leoflow.lite.workspace_sync import (
    ProjectOutcome,
    Report,
    WorkspaceSync,
    is_relevant_change,
    load_owners,
    owning_project,
    plan_workspace,
    save_owners,
    venv_inputs_for,
)
from leoflow.spec import LeoflowYaml
from leoflow.store import dag_queries, import_errors
from leoflow.store.dag_versions import get_dag_version
from leoflow.store.dags import get_dag
from leoflow.store.pool import Pool
from leoflow.store.tenants import get_default_tenant_id

DAG = """
from datetime import datetime
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1))
def {dag_id}():
    @task
    def hello() -> int:
        return 1
{extra}
    hello()


{dag_id}()
"""


def write_project(root: Path, folder: str, dag_id: str, extra: str = "") -> Path:
    project = root / folder
    project.mkdir(parents=True, exist_ok=True)
    (project / "dag.py").write_text(DAG.format(dag_id=dag_id, extra=extra), encoding="utf-8")
    (project / "leoflow.yaml").write_text(f"dag_id: {dag_id}\n", encoding="utf-8")
    return project


# --- the plan (pure) ---------------------------------------------------------------------


def _ok(project: str, dag_id: str) -> ProjectOutcome:
    from leoflow.spec.dag_json import dag_spec_from_data

    spec = dag_spec_from_data(
        {
            "schema_version": "1.0",
            "dag_id": dag_id,
            "tasks": [{"task_id": "t", "type": "empty"}],
            "source": "# dag",
        }
    )
    return ProjectOutcome(Path(project), f"{project}/dag.py", spec=spec, spec_hash=f"h-{dag_id}")


def test_plan_registers_compiled_projects_and_reports_failures() -> None:
    outcomes = {
        Path("/w/a"): _ok("/w/a", "a"),
        Path("/w/b"): ProjectOutcome(Path("/w/b"), "/w/b/dag.py", error="boom", claimed_dag_id="b"),
    }
    plan = plan_workspace(outcomes, {})
    assert set(plan.registrations) == {"a"}
    assert plan.errors["/w/b/dag.py"].dag_id == "b"
    assert plan.owners == {"a": Path("/w/a"), "b": Path("/w/b")}


def test_plan_keeps_the_previous_owner_of_a_duplicated_dag_id() -> None:
    outcomes = {Path("/w/a"): _ok("/w/a", "same"), Path("/w/z"): _ok("/w/z", "same")}
    plan = plan_workspace(outcomes, {"same": Path("/w/z")})
    assert plan.registrations["same"].project == Path("/w/z")
    problem = plan.errors["/w/a/dag.py"]
    assert "/w/a" in problem.stacktrace and "/w/z" in problem.stacktrace
    assert problem.dag_id is None  # the duplicate does not flag the working DAG
    # Without history, the first by path wins.
    assert plan_workspace(outcomes, {}).registrations["same"].project == Path("/w/a")


def test_changes_that_cannot_change_a_dag_are_ignored(tmp_path: Path) -> None:
    assert is_relevant_change(tmp_path / "p" / "dag.py", tmp_path)
    assert is_relevant_change(tmp_path / "p" / "helpers.py", tmp_path)
    for ignored in (
        "p/__pycache__/dag.cpython-311.pyc",
        "p/.git/index",
        "p/dag.json",
        "p/dag.py~",
        ".venv/lib/x.py",
    ):
        assert not is_relevant_change(tmp_path / ignored, tmp_path), ignored
    assert not is_relevant_change(Path("/elsewhere/dag.py"), tmp_path)


def test_a_change_belongs_to_the_deepest_project() -> None:
    projects = [Path("/w"), Path("/w/a"), Path("/w/a/b")]
    assert owning_project(Path("/w/a/b/dag.py"), projects) == Path("/w/a/b")
    assert owning_project(Path("/w/a/util.py"), projects) == Path("/w/a")
    assert owning_project(Path("/other/dag.py"), projects) is None


def test_ownership_is_kept_per_workspace(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    save_owners(state, tmp_path / "ws", {"a": tmp_path / "ws" / "a"})
    assert load_owners(state, tmp_path / "ws") == {"a": tmp_path / "ws" / "a"}
    assert load_owners(state, tmp_path / "other") == {}
    state.write_text("not json")
    assert load_owners(state, tmp_path / "ws") == {}


def test_venv_inputs_from_leoflow_yaml_match_the_compiled_spec(tmp_path: Path) -> None:
    venvs = VenvManager(tmp_path, sdk=sdk_source())
    config = LeoflowYaml.model_validate(
        {"dag_id": "d", "python_version": "3.11", "dependencies": ["b==1", "a>=2"]}
    )
    from leoflow.spec.dag_json import dag_spec_from_data

    spec = dag_spec_from_data(
        {
            "schema_version": "1.0",
            "dag_id": "d",
            "tasks": [{"task_id": "t", "type": "empty"}],
            "python_environment": {"python_version": "3.11", "dependencies": ["a>=2", "b==1"]},
            "source": "# dag",
        }
    )
    assert venv_inputs_for(config, venvs).key() == venvs.inputs_for(spec).key()
    bare = dag_spec_from_data(
        {
            "schema_version": "1.0",
            "dag_id": "d",
            "tasks": [{"task_id": "t", "type": "empty"}],
            "source": "# dag",
        }
    )
    assert venv_inputs_for(None, venvs).key() == venvs.inputs_for(bare).key()


# --- full passes against PostgreSQL --------------------------------------------------------


async def _this_interpreter(_config: LeoflowYaml | None, _report: Report) -> str | None:
    return None


def make_sync(root: Path, home: Path, lines: list[str]) -> WorkspaceSync:
    settings = Settings(home=home)
    return WorkspaceSync(
        root,
        settings,
        VenvManager(home / "venvs"),
        report=lines.append,
        interpreter=_this_interpreter,
    )


async def versions(pool: Pool, dag_id: str) -> list[int]:
    tenant = await get_default_tenant_id(pool)
    dag = await get_dag(pool, tenant, dag_id)
    assert dag is not None
    rows, _ = await dag_queries.list_versions(pool, tenant, dag_ids=[dag_id], limit=100)
    return sorted(row.version_number for row in rows)


async def errors(pool: Pool) -> dict[str, str | None]:
    tenant = await get_default_tenant_id(pool)
    rows, _ = await import_errors.list_import_errors(pool, tenant, limit=100)
    return {row.filename: row.dag_id for row in rows}


async def test_a_workspace_is_registered_reloaded_and_repaired(
    db_pool: Pool, tmp_path: Path
) -> None:
    root, home, lines = tmp_path / "ws", tmp_path / "home", []
    alpha = write_project(root, "alpha", "alpha")
    write_project(root, "beta", "beta")
    sync = make_sync(root, home, lines)
    tenant = await get_default_tenant_id(db_pool)

    await sync.sync(db_pool, None)
    assert await versions(db_pool, "alpha") == [1]
    dag = await get_dag(db_pool, tenant, "beta")
    assert dag is not None and not dag.is_paused  # Lite: new DAGs run
    assert sync.dag_dir_for("alpha") == alpha.resolve()

    # A save that does not change the spec registers nothing; an edit registers version 2.
    (alpha / "dag.py").touch()
    await sync.sync(db_pool, {alpha / "dag.py"})
    assert await versions(db_pool, "alpha") == [1]
    write_project(root, "alpha", "alpha", extra="    hello.override(task_id='again')()\n")
    await sync.sync(db_pool, {alpha / "dag.py"})
    assert await versions(db_pool, "alpha") == [1, 2]

    # A broken file is an import error naming its DAG; fixing it clears the error.
    (alpha / "dag.py").write_text("import nope_not_a_module\n", encoding="utf-8")
    await sync.sync(db_pool, {alpha / "dag.py"})
    found = await errors(db_pool)
    assert found == {str(alpha.resolve() / "dag.py"): "alpha"}
    assert any("nope_not_a_module" in line for line in lines)
    write_project(root, "alpha", "alpha")
    await sync.sync(db_pool, {alpha / "dag.py"})
    assert await errors(db_pool) == {}
    # Back to the first content: no third version, version 1 is the latest again.
    assert await versions(db_pool, "alpha") == [1, 2]
    dag = await get_dag(db_pool, tenant, "alpha")
    assert dag is not None and dag.latest_version_id is not None
    latest = await get_dag_version(db_pool, dag.latest_version_id)
    assert latest is not None and latest.version_number == 1

    # A second project with the same dag_id is refused, naming both folders.
    copy = write_project(root, "copy_of_beta", "beta")
    await sync.sync(db_pool, {copy / "dag.py"})
    (problem,) = (await errors(db_pool)).keys()
    assert problem == str(copy.resolve() / "dag.py")
    tenant_errors, _ = await import_errors.list_import_errors(db_pool, tenant)
    assert "beta" in tenant_errors[0].stacktrace and "both" in tenant_errors[0].stacktrace
    assert sync.dag_dir_for("beta") == (root / "beta").resolve()

    # Removing a project marks its DAG inactive and clears its errors.
    import shutil

    shutil.rmtree(copy)
    shutil.rmtree(root / "beta")
    await sync.sync(db_pool, {copy / "dag.py", root / "beta" / "dag.py"})
    assert await errors(db_pool) == {}
    dag = await get_dag(db_pool, tenant, "beta")
    assert dag is not None and not dag.is_active


async def test_a_restart_converges_on_what_changed_while_stopped(
    db_pool: Pool, tmp_path: Path
) -> None:
    root, home, lines = tmp_path / "ws", tmp_path / "home", []
    write_project(root, "keep", "keep")
    gone = write_project(root, "gone", "gone")
    broken = write_project(root, "broken", "broken")
    (broken / "dag.py").write_text("raise RuntimeError('broken on purpose')\n", encoding="utf-8")
    await make_sync(root, home, lines).sync(db_pool, None)
    assert set((await errors(db_pool)).values()) == {"broken"}

    # While Lite is stopped: a project is deleted and the broken one is fixed.
    import shutil

    shutil.rmtree(gone)
    write_project(root, "broken", "broken")
    restarted = make_sync(root, home, lines)
    await restarted.sync(db_pool, None)
    tenant = await get_default_tenant_id(db_pool)
    dag = await get_dag(db_pool, tenant, "gone")
    assert dag is not None and not dag.is_active
    assert await errors(db_pool) == {}
    assert await versions(db_pool, "keep") == [1]  # no churn across restarts


async def test_saves_are_picked_up_by_the_watcher(db_pool: Pool, tmp_path: Path) -> None:
    root, home, lines = tmp_path / "ws", tmp_path / "home", []
    project = write_project(root, "watched", "watched")
    sync = make_sync(root, home, lines)
    runner = asyncio.create_task(sync.run(db_pool))
    try:
        async with asyncio.timeout(30):
            await sync.wait_for_pass(1)
        await asyncio.sleep(0.3)  # the watcher is armed right after the first pass
        write_project(root, "watched", "watched", extra="    hello.override(task_id='b')()\n")
        async with asyncio.timeout(30):
            await sync.wait_for_pass(2)
            while await versions(db_pool, "watched") != [1, 2]:
                await sync.wait_for_pass(sync.passes + 1)  # a later batch of the same save
        assert sync.dag_dir_for("watched") == project.resolve()
    finally:
        sync.stop()
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


def test_unsupported_constructs_become_import_errors(tmp_path: Path) -> None:
    """A compile error is recorded with its problems first, then the detail (not raised)."""
    from leoflow.compiler.errors import CompileError
    from leoflow.lite.workspace_sync import error_text

    text = error_text(CompileError("dag", ["line 3: Foo is not supported; use Bar"], "trace"))
    assert text.splitlines()[0] == "line 3: Foo is not supported; use Bar"
    assert text.endswith("trace")
    assert textwrap.dedent(text) == text
