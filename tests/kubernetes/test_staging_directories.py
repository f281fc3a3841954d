"""Lite's per-run staging folders: the same lifecycle as Pro's claims, on a real PostgreSQL."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.execution import dag_json, running_run, task
from leoflow.staging import DirectoryStaging, staging_directory
from leoflow.states import RunState
from leoflow.store.dag_runs import transition_dag_run
from leoflow.store.pool import Pool
from leoflow.store.staging_volumes import get_volume

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
