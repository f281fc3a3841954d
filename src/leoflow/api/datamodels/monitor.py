"""Health and version models (Airflow's ``HealthInfoResponse``, ``VersionInfo``)."""

from __future__ import annotations

from leoflow.api.datamodels.common import BaseModel


class BaseInfoResponse(BaseModel):
    """Health of one component."""

    status: str | None


class SchedulerInfoResponse(BaseInfoResponse):
    """Health of the scheduler and when it last reported."""

    latest_scheduler_heartbeat: str | None


class TriggererInfoResponse(BaseInfoResponse):
    """Health of the triggerer (deferred tasks wait inside the scheduler in Leoflow)."""

    latest_triggerer_heartbeat: str | None


class DagProcessorInfoResponse(BaseInfoResponse):
    """Health of the DAG processor (Leoflow has none: DAGs are compiled before upload)."""

    latest_dag_processor_heartbeat: str | None


class HealthInfoResponse(BaseModel):
    """Health of the deployment as ``/api/v2/monitor/health`` reports it."""

    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None


class VersionInfo(BaseModel):
    """Version of the server."""

    version: str
    git_version: str | None
