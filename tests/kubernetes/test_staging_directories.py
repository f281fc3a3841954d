"""Lite's per-run staging folders: the same lifecycle as Pro's claims, on a real PostgreSQL."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.execution import RunHandle, dag_json, running_run, task
from leoflow.executors.base import ExecutorRefused, TaskLaunch
from leoflow.spec.kubernetes import Staging
from leoflow.staging import DirectoryStaging, staging_directory
from leoflow.states import RunState
from leoflow.store.dag_runs import transition_dag_run
from leoflow.store.pool import Pool
from leoflow.store.staging_volumes import get_volume, list_volumes

STAGED = dag_json("lite_staged", [task("a")], staging={"enabled": True})


async def test_folder_lifecycle_matches_the_claims(db_pool: Pool, tmp_path: Path) -> None:
    staging = DirectoryStaging(db_pool, tmp_path / "staging", orphan_grace_seconds=60)
    ok = await running_run(db_pool, STAGED, run_id="manual__2025-01-01T00:00:00+00:00")
    bad = await running_run(db_pool, STAGED, run_id="manual__bad")
    ok_dir = await staging.prepare(
        tenant="default", dag_id="lite_staged", run_id=ok.run.run_id, run_uuid=ok.run.id
    )
    again = await staging.prepare(
        tenant="default", dag_id="lite_staged", run_id=ok.run.run_id, run_uuid=ok.run.id
    )
    assert (
        again
        == ok_dir
        == staging_directory(tmp_path / "staging", "default", "lite_staged", ok.run.run_id)
    )
    (ok_dir / "data.csv").write_text("1,2\n")
    bad_dir = await staging.prepare(
        tenant="default", dag_id="lite_staged", run_id="manual__bad", run_uuid=bad.run.id
    )
    orphan = tmp_path / "staging" / "default" / "gone_dag" / "manual__x"
    orphan.mkdir(parents=True)
    old = time.time() - 600
    os.utime(orphan, (old, old))
    fresh_orphan = tmp_path / "staging" / "default" / "gone_dag" / "manual__y"
    fresh_orphan.mkdir()
    assert await staging.sweep() == [("default/gone_dag/manual__x", "orphaned")]

    await transition_dag_run(db_pool, ok.run.id, RunState.SUCCESS)
    await transition_dag_run(db_pool, bad.run.id, RunState.FAILED)
    deleted = await staging.sweep()
    name = ok_dir.relative_to(tmp_path / "staging").as_posix()
    assert deleted == [(name, "run succeeded")]
    assert not ok_dir.exists() and bad_dir.exists() and fresh_orphan.exists()
    row = await get_volume(db_pool, name)
    assert row is not None and row.kind == "directory" and row.state == "deleted"
    assert row.deleted_reason == "run succeeded"

    later = DirectoryStaging(db_pool, tmp_path / "staging", failed_retention_seconds=0)
    assert await later.sweep() == [
        ("default/lite_staged/manual__bad", "run failed; retention elapsed")
    ]
    assert not bad_dir.exists()


def _launch(handle: RunHandle, dag_id: str, task_id: str = "a") -> TaskLaunch:
    return TaskLaunch(
        ti_id=handle.tis[task_id].id,
        run_uuid=handle.run.id,
        dag_id=dag_id,
        run_id=handle.run.run_id,
        task_id=task_id,
        map_index=-1,
        try_number=1,
        task_type="python",
        dag_version_id=handle.version_id,
        logical_date=None,
    )


async def test_a_launch_gets_its_folder_only_when_its_dag_enables_staging(
    db_pool: Pool, tmp_path: Path
) -> None:
    staging = DirectoryStaging(db_pool, tmp_path / "staging")
    staged = await running_run(db_pool, STAGED, run_id="manual__on")
    plain_dag = dag_json("lite_plain", [task("a")])
    plain = await running_run(db_pool, plain_dag, run_id="manual__off")

    folder = await staging.prepare_launch(_launch(staged, "lite_staged"), "default", Staging())
    assert folder == staging_directory(tmp_path / "staging", "default", "lite_staged", "manual__on")
    assert folder.is_dir()
    [row] = await list_volumes(db_pool, staged.run.id)
    assert (row.kind, row.state) == ("directory", "active")

    off = Staging(enabled=False)
    assert await staging.prepare_launch(_launch(plain, "lite_plain"), "default", off) is None
    assert await staging.prepare_launch(_launch(plain, "lite_plain"), "default", None) is None
    assert await list_volumes(db_pool, plain.run.id) == []
    assert not (tmp_path / "staging" / "default" / "lite_plain").exists()

    # Swept after success, then cleared and run again: the folder and its row come back.
    await transition_dag_run(db_pool, staged.run.id, RunState.SUCCESS)
    assert [reason for _, reason in await staging.sweep()] == ["run succeeded"]
    assert not folder.exists()
    again = await staging.prepare_launch(_launch(staged, "lite_staged"), "default", Staging())
    assert again == folder and folder.is_dir()
    [row] = await list_volumes(db_pool, staged.run.id)
    assert row.state == "active" and row.deleted_reason is None


async def test_a_folder_that_cannot_be_made_refuses_the_launch_with_the_reason(
    db_pool: Pool, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the staging root should be\n")
    staging = DirectoryStaging(db_pool, blocker)
    handle = await running_run(db_pool, STAGED, run_id="manual__blocked")
    with pytest.raises(ExecutorRefused) as info:
        await staging.prepare_launch(_launch(handle, "lite_staged"), "default", Staging())
    assert "cannot create the run's staging folder" in str(info.value)
    assert str(blocker) in str(info.value)
