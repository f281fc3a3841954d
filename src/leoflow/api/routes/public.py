"""The resource routers of ``/api/v2`` (DAGs, runs, task instances and what hangs off them), in
the order the app includes them."""

from __future__ import annotations

from fastapi import APIRouter

from leoflow.api.routes import (
    assets,
    backfills,
    config,
    dag_run_bulk,
    dag_run_wait,
    dag_runs,
    dag_sources,
    dag_stats,
    dag_tags,
    dag_versions,
    dag_warnings,
    dags,
    import_errors,
    jobs,
    log,
    not_supported,
    plugins,
    pools,
    providers,
    task_group_instances,
    task_instance_bulk,
    task_instances,
    tasks,
    xcom,
    xcom_writes,
)

PUBLIC_ROUTERS: tuple[APIRouter, ...] = (
    dags.router,
    dag_versions.router,
    dag_sources.router,
    tasks.router,
    dag_runs.router,
    dag_run_bulk.router,
    dag_run_wait.router,
    xcom.router,
    xcom_writes.router,
    log.router,
    task_instances.router,
    task_instance_bulk.router,
    task_group_instances.router,
    import_errors.router,
    dag_stats.router,
    dag_tags.router,
    dag_warnings.router,
    jobs.router,
    plugins.router,
    providers.router,
    pools.router,
    assets.router,
    backfills.router,
    config.router,
    not_supported.router,
)
