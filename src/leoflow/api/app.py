"""FastAPI application factory (the composition root wires the database pool into it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from leoflow import __version__
from leoflow.api.routes import monitor


def create_app(pool: AsyncConnectionPool) -> FastAPI:
    """Build the API application around an open database pool owned by the caller."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = pool
        yield

    app = FastAPI(
        title="Leoflow API",
        version=__version__,
        description="Airflow 3 compatible REST API served by Leoflow.",
        lifespan=lifespan,
    )
    app.state.pool = pool
    app.include_router(monitor.router)
    return app
