"""Shared pieces of paginated, sortable list queries (``limit``, ``offset``, ``order_by``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OrderBy = Sequence[tuple[str, bool]]
"""Sort terms as ``(attribute, descending)``; attributes are keys of a module's sort map."""


def order_clause(order_by: OrderBy, columns: Mapping[str, str], tiebreak: str) -> str:
    """``ORDER BY`` text from whitelisted attributes; a stable tiebreak always ends it.

    Only SQL from ``columns`` (module constants) reaches the query, never request text.
    """
    terms: list[str] = []
    for attribute, descending in order_by:
        column = columns.get(attribute)
        if column is None:
            raise ValueError(f"cannot order by {attribute!r}")
        terms.append(f"{column} {'DESC' if descending else 'ASC'}")
    first_desc = bool(order_by) and order_by[0][1]
    terms.append(f"{tiebreak} {'DESC' if first_desc else 'ASC'}")
    return "ORDER BY " + ", ".join(terms)


def _terms(value: str) -> list[str]:
    if "|" in value:
        terms = [term.strip() for term in value.split("|") if term.strip()]
        if terms:
            return terms
    return [value]


def contains_condition(column: str, value: str, name: str) -> tuple[str, dict[str, Any]]:
    """Airflow's ``*_pattern`` filter: case-insensitive substring (``%``/``_`` are wildcards),
    ``|`` separates alternatives, ``~`` matches everything.

    ``column`` is SQL from a module constant; ``name`` prefixes the bind parameters.
    """
    if value == "~":
        return "TRUE", {}
    params = {f"{name}_{i}": f"%{term}%" for i, term in enumerate(_terms(value))}
    sql = " OR ".join(f"{column} ILIKE %({key})s" for key in params)
    return f"({sql})", params


def prefix_condition(column: str, value: str, name: str) -> tuple[str, dict[str, Any]]:
    """Airflow's ``*_prefix_pattern`` filter: case-sensitive prefix taken literally, trailing
    non-alphanumeric characters dropped, ``|`` separates alternatives, ``~`` matches all."""
    if value == "~":
        return "TRUE", {}
    params: dict[str, Any] = {}
    for i, term in enumerate(_terms(value)):
        stripped = term
        while stripped and not stripped[-1].isalnum():
            stripped = stripped[:-1]
        params[f"{name}_{i}"] = like_prefix(stripped)
    sql = " OR ".join(f"{column} LIKE %({key})s" for key in params)
    return f"({sql})", params


def like_prefix(prefix: str) -> str:
    """A ``LIKE`` pattern matching values that start with ``prefix`` taken literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def ilike_contains(fragment: str) -> str:
    """An ``ILIKE`` pattern for a substring search; ``%`` and ``_`` in it act as wildcards,
    as in Airflow's ``*_pattern`` filters."""
    return f"%{fragment}%"
