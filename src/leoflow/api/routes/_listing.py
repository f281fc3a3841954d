"""Query conventions shared by list routes: ``limit``/``offset`` and ``order_by`` with ``-``."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from fastapi import HTTPException

MAX_PAGE_LIMIT = 100
"""Airflow's ``[api] maximum_page_limit`` default: larger limits are silently capped."""
MAX_SORT_PARAMS = 10


def page_limit(limit: int) -> int:
    """``limit`` capped at :data:`MAX_PAGE_LIMIT`, as Airflow does."""
    return min(limit, MAX_PAGE_LIMIT)


def parse_order_by(
    values: Sequence[str] | None, allowed: Collection[str], default: str = "id"
) -> list[tuple[str, bool]]:
    """``["-key", "id"]`` → ``[("key", True), ("id", False)]``, with Airflow's 400 answers."""
    terms = list(values) if values else [default]
    if len(terms) > MAX_SORT_PARAMS:
        raise HTTPException(
            400,
            f"Ordering with more than {MAX_SORT_PARAMS} parameters is not allowed. "
            f"Provided: {terms}",
        )
    parsed: list[tuple[str, bool]] = []
    for term in terms:
        name = term.lstrip("-")
        if name not in allowed:
            raise HTTPException(
                400,
                f"Ordering with '{name}' is disallowed or "
                "the attribute does not exist on the model",
            )
        parsed.append((name, term.startswith("-")))
    return parsed
