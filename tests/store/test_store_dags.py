"""DAGs and DAG versions: upsert, pause, and version registration de-duplicated by hash."""

from __future__ import annotations

import asyncio

from harness.factories import spec_for, spec_hash
from leoflow.store.dag_versions import (
    get_dag_version,
    get_latest_dag_version,
    register_dag_version,
)
from leoflow.store.dags import get_dag, set_dag_paused, upsert_dag
from leoflow.store.pool import Pool
from leoflow.store.tenants import get_default_tenant_id


async def test_upsert_dag_creates_paused_then_keeps_the_pause_flag(db_pool: Pool) -> None:
    tenant = await get_default_tenant_id(db_pool)
    dag = await upsert_dag(db_pool, tenant, "etl", owners=["ana"], tags=["daily"])
    assert dag.is_paused and dag.is_active
    assert dag.owners == ("ana",) and dag.tags == ("daily",)

    unpaused = await set_dag_paused(db_pool, tenant, "etl", False)
    assert unpaused is not None and not unpaused.is_paused

    again = await upsert_dag(db_pool, tenant, "etl", description="new", tags=["hourly"])
    assert again.id == dag.id
    assert not again.is_paused, "a re-upsert must not undo a person's unpause"
    assert again.description == "new" and again.tags == ("hourly",)
    assert await set_dag_paused(db_pool, tenant, "missing", True) is None


async def test_register_version_deduplicates_on_hash(db_pool: Pool) -> None:
    tenant = await get_default_tenant_id(db_pool)
    spec_a = spec_for("etl", ("a",))
    spec_b = spec_for("etl", ("a", "b"))

    v1, created1 = await register_dag_version(
        db_pool, tenant, "etl", spec_a, spec_hash(spec_a), image="etl:1"
    )
    v1_again, created_again = await register_dag_version(
        db_pool, tenant, "etl", spec_a, spec_hash(spec_a), image="etl:1"
    )
    v2, created2 = await register_dag_version(db_pool, tenant, "etl", spec_b, spec_hash(spec_b))

    assert (created1, created_again, created2) == (True, False, True)
    assert v1_again == v1
    assert (v1.version_number, v2.version_number) == (1, 2)
    assert v1.spec == spec_a and v1.image == "etl:1"

    dag = await get_dag(db_pool, tenant, "etl")
    assert dag is not None and dag.is_paused, "a DAG created by its first push starts paused"
    assert dag.latest_version_id == v2.id
    assert await get_dag_version(db_pool, v1.id) == v1
    latest = await get_latest_dag_version(db_pool, dag.id)
    assert latest == v2


async def test_register_accepts_json_text(db_pool: Pool) -> None:
    tenant = await get_default_tenant_id(db_pool)
    version, created = await register_dag_version(
        db_pool, tenant, "etl", '{"dag_id": "etl", "tasks": []}', "h1"
    )
    assert created and version.spec == {"dag_id": "etl", "tasks": []}


async def test_concurrent_pushes_get_distinct_version_numbers(db_pool: Pool) -> None:
    tenant = await get_default_tenant_id(db_pool)
    specs = [spec_for("etl", (f"t{i}",)) for i in range(5)]
    results = await asyncio.gather(
        *(register_dag_version(db_pool, tenant, "etl", s, spec_hash(s)) for s in specs),
        *(register_dag_version(db_pool, tenant, "etl", s, spec_hash(s)) for s in specs),
    )
    versions = {v.id: v.version_number for v, _ in results}
    assert sorted(versions.values()) == [1, 2, 3, 4, 5]
    assert sum(created for _, created in results) == 5


async def test_dag_created_unpaused_when_asked(db_pool) -> None:  # type: ignore[no-untyped-def]
    from leoflow.store.dag_versions import register_dag_version
    from leoflow.store.dags import get_dag
    from leoflow.store.tenants import get_default_tenant_id

    tenant = await get_default_tenant_id(db_pool)
    spec = {"schema_version": "1.0", "dag_id": "lite_dag", "tasks": []}
    await register_dag_version(db_pool, tenant, "lite_dag", spec, "h1", paused_on_create=False)
    dag = await get_dag(db_pool, tenant, "lite_dag")
    assert dag is not None and dag.is_paused is False
