"""Answers for bad input that only the database notices.

Request validation catches most bad input, but some values are only refused by PostgreSQL: a
NUL character in a text field or in ``conf``, an integer beyond 32 bits in a path or query.
Those are the caller's mistake, so they are answered 400 with PostgreSQL's reason in Airflow's
``{"detail": …}`` shape, never a 500.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse


async def _invalid_value(request: Request, exc: Exception) -> JSONResponse:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return JSONResponse(
        {"detail": f"Invalid value in the request: {reason}"},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer values PostgreSQL refuses (``DataError``) with 400 instead of 500."""
    app.add_exception_handler(psycopg.DataError, _invalid_value)
