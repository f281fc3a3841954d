"""Answers for bad input that only the database or the calendar notices.

Request validation catches most bad input, but some values are only refused by PostgreSQL: a
NUL character in a text field or in ``conf``, an integer beyond 32 bits in a path or query.
Others are valid ISO 8601 but fall outside the calendar once converted: a time zone offset
pushes ``0001-01-01T00:00:00+05:00`` before year 1 in UTC (``OverflowError``). Those are the
caller's mistake, so they are answered 400 with the reason in Airflow's ``{"detail": …}``
shape, never a 500.
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
    """Answer values PostgreSQL refuses (``DataError``) and values beyond the calendar
    (``OverflowError``) with 400 instead of 500."""
    app.add_exception_handler(psycopg.DataError, _invalid_value)
    app.add_exception_handler(OverflowError, _invalid_value)
