"""FastAPI application factory (the composition root wires the database pool into it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from leoflow import __version__
from leoflow.api.errors import install_error_handlers
from leoflow.api.middleware import install_telemetry
from leoflow.api.routes import auth as auth_routes
from leoflow.api.routes import connections, event_logs, monitor, variables
from leoflow.api.routes import ui as ui_routes
from leoflow.api.routes.public import PUBLIC_ROUTERS
from leoflow.api.security import install_security
from leoflow.auth.bootstrap import bootstrap_from_settings
from leoflow.config import Settings, load_settings
from leoflow.web.spa import install_web


def create_app(pool: AsyncConnectionPool, settings: Settings | None = None) -> FastAPI:
    """Build the API application around an open database pool owned by the caller.

    ``settings`` defaults to the environment's; the security layer (tokens, throttling,
    connection cipher) is built from it before the first request, and the lifespan seeds the
    built-in roles and the bootstrap admin.
    """
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = pool
        await bootstrap_from_settings(pool, settings)
        yield

    app = FastAPI(
        title="Leoflow API",
        version=__version__,
        description="Airflow 3 compatible REST API served by Leoflow.",
        lifespan=lifespan,
        # FastAPI's own pages load their JavaScript from a CDN: /docs is Leoflow's (Scalar,
        # served from this origin) and so is /openapi.json (it may require a caller).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.pool = pool
    app.state.settings = settings
    install_security(app, pool, settings)
    app.include_router(monitor.router)
    app.include_router(auth_routes.router)
    app.include_router(variables.router)
    app.include_router(connections.router)
    app.include_router(event_logs.router)
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    app.include_router(ui_routes.router)
    app.include_router(ui_routes.absent_public_router)
    # Imported here: the editor's routes use this package's security, so a module-level
    # import would make importing leoflow.web.ide first a cycle.
    from leoflow.web.api_docs import install_api_docs
    from leoflow.web.ide import install_ide

    install_api_docs(app, settings)  # /openapi.json, /docs (Scalar) and its bundle
    install_ide(app, settings)  # answers 404 until Lite's launcher names its workspace
    install_web(app, settings)  # the web app answers whatever no API route matched
    install_telemetry(app)
    install_error_handlers(app)
    return app
