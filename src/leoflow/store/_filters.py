"""Building the ``WHERE`` clause of read-model queries from typed filters.

List endpoints combine many optional filters (ranges, any-of lists, patterns). Each query module
declares its filterable columns as constants and feeds request values through :class:`Where`,
which only ever places *values* in parameters: SQL text comes from the calling module, never
from a request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from leoflow.store._listing import like_prefix

T = TypeVar("T")

MATCH_ALL = "~"
"""The pattern value that matches everything (Airflow's alias)."""


@dataclass(frozen=True)
class Range(Generic[T]):
    """Optional bounds on one column (Airflow's ``*_gte``/``*_gt``/``*_lte``/``*_lt``)."""

    gte: T | None = None
    gt: T | None = None
    lte: T | None = None
    lt: T | None = None

    def is_empty(self) -> bool:
        """No bound is set."""
        return self.gte is None and self.gt is None and self.lte is None and self.lt is None


_TRAILING_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+$")


def pattern_terms(pattern: str) -> list[str] | None:
    """The OR-terms of a ``*_pattern`` value; ``None`` when it matches everything.

    ``|`` separates alternatives and ``~`` alone matches everything, as in Airflow.
    """
    if pattern == MATCH_ALL:
        return None
    terms = [term.strip() for term in pattern.split("|") if term.strip()]
    return terms or [pattern]


def prefix_terms(pattern: str) -> list[str] | None:
    """The OR-terms of a ``*_prefix_pattern`` value; ``None`` when it matches everything.

    Trailing non-alphanumeric characters are dropped (Airflow does the same so that
    ``s3://`` and ``test_`` behave identically under any collation).
    """
    if pattern == MATCH_ALL:
        return None
    terms = [_TRAILING_NON_ALNUM.sub("", term.strip()) for term in pattern.split("|")]
    kept = [term for term in terms if term]
    return kept if kept else None


class Where:
    """Conditions joined with ``AND`` and the parameters they reference."""

    def __init__(self) -> None:
        self._conditions: list[str] = []
        self.params: dict[str, Any] = {}
        self._counter = 0

    def _name(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def add(self, condition: str, **params: Any) -> None:
        """A condition written by the calling module; ``params`` fill its placeholders."""
        self._conditions.append(condition)
        self.params.update(params)

    def equals(self, column: str, value: Any) -> None:
        """``column = value`` unless ``value`` is ``None``."""
        if value is None:
            return
        name = self._name("eq")
        self.add(f"{column} = %({name})s", **{name: value})

    def any_of(self, column: str, values: Sequence[Any] | None, sql_type: str = "text") -> None:
        """``column`` equals one of ``values``; nothing when ``values`` is empty or ``None``."""
        if not values:
            return
        name = self._name("any")
        self.add(f"{column} = ANY(%({name})s::{sql_type}[])", **{name: list(values)})

    def range(self, column: str, bounds: Range[Any] | None) -> None:
        """The bounds of ``bounds`` that are set, on ``column``."""
        if bounds is None:
            return
        for operator, value in (
            (">=", bounds.gte),
            (">", bounds.gt),
            ("<=", bounds.lte),
            ("<", bounds.lt),
        ):
            if value is not None:
                name = self._name("bound")
                self.add(f"{column} {operator} %({name})s", **{name: value})

    def pattern(self, column: str, pattern: str | None) -> None:
        """Case-insensitive substring match; ``%`` and ``_`` act as wildcards."""
        if pattern is None:
            return
        terms = pattern_terms(pattern)
        if terms is None:
            return
        names = []
        for term in terms:
            name = self._name("ilike")
            self.params[name] = f"%{term}%"
            names.append(f"{column} ILIKE %({name})s")
        self._conditions.append("(" + " OR ".join(names) + ")")

    def prefix(self, column: str, pattern: str | None) -> None:
        """Case-sensitive, index-friendly prefix match; the pattern is taken literally."""
        if pattern is None:
            return
        terms = prefix_terms(pattern)
        if terms is None:
            return
        names = []
        for term in terms:
            name = self._name("prefix")
            self.params[name] = like_prefix(term)
            names.append(f"{column} LIKE %({name})s")
        self._conditions.append("(" + " OR ".join(names) + ")")

    def sql(self) -> str:
        """``WHERE …`` (or an empty string when there is no condition)."""
        if not self._conditions:
            return ""
        return "WHERE " + " AND ".join(self._conditions)
