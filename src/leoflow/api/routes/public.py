"""The resource routers of ``/api/v2`` (DAGs, runs, task instances and what hangs off them), in
the order the app includes them."""

from __future__ import annotations

from fastapi import APIRouter

from leoflow.api.routes import (
    assets,
    backfills,
    config,
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
    plugins,
    pools,
    providers,
    task_instances,
    tasks,
    xcom,
)

PUBLIC_ROUTERS: tuple[APIRouter, ...] = (
    dags.router,
    dag_versions.router,
    dag_sources.router,
    tasks.router,
    dag_runs.router,
    xcom.router,
    log.router,
    task_instances.router,
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
)
