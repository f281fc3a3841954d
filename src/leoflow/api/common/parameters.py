"""Query parameters shared by the list routes, as small FastAPI dependencies.

Airflow's conventions: ``limit`` (capped at 100) and ``offset``; ``order_by`` repeated, with a
``-`` prefix for descending and a 400 for an unknown attribute; ``<name>_gte``/``_gt``/``_lte``
/``_lt`` bounds; repeated keys for any-of filters. Routes declare these instead of parsing.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the
# dependencies built below, and they refer to the factories' local variables.
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query

from leoflow.api.routes._listing import page_limit, parse_order_by
from leoflow.store._filters import Range

WILDCARD = "~"
"""``dag_id``/``dag_run_id``/``task_id`` path value meaning "every one"."""


@dataclass(frozen=True)
class Page:
    """Which slice of a list to answer."""

    limit: int
    offset: int


def pagination(
    limit: Annotated[int, Query(ge=0)] = 50, offset: Annotated[int, Query(ge=0)] = 0
) -> Page:
    """``limit`` (capped at Airflow's maximum page size) and ``offset``."""
    return Page(limit=page_limit(limit), offset=offset)


OrderTerms = list[tuple[str, bool]]


def sort_param(allowed: Collection[str], default: str) -> Callable[..., OrderTerms]:
    """A dependency parsing repeated ``order_by`` values against ``allowed`` attributes."""

    def dependency(
        order_by: Annotated[
            list[str],
            Query(
                description="Attributes to order by, multi criteria sort is supported. Prefix "
                "with `-` for descending order. Supported attributes: "
                f"`{', '.join(allowed)}`"
            ),
        ] = [default],  # noqa: B006 - FastAPI copies query defaults per request
    ) -> OrderTerms:
        return parse_order_by(order_by, allowed, default)

    return dependency


def utc(value: datetime | None) -> datetime | None:
    """A query datetime as an aware UTC value (a naive one is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def datetime_range(name: str) -> Callable[..., Range[datetime]]:
    """A dependency reading ``{name}_gte``, ``{name}_gt``, ``{name}_lte``, ``{name}_lt``."""

    def dependency(
        gte: Annotated[datetime | None, Query(alias=f"{name}_gte")] = None,
        gt: Annotated[datetime | None, Query(alias=f"{name}_gt")] = None,
        lte: Annotated[datetime | None, Query(alias=f"{name}_lte")] = None,
        lt: Annotated[datetime | None, Query(alias=f"{name}_lt")] = None,
    ) -> Range[datetime]:
        return Range(gte=utc(gte), gt=utc(gt), lte=utc(lte), lt=utc(lt))

    return dependency


def number_range(name: str) -> Callable[..., Range[float]]:
    """A dependency reading numeric ``{name}_gte`` … bounds."""

    def dependency(
        gte: Annotated[float | None, Query(alias=f"{name}_gte")] = None,
        gt: Annotated[float | None, Query(alias=f"{name}_gt")] = None,
        lte: Annotated[float | None, Query(alias=f"{name}_lte")] = None,
        lt: Annotated[float | None, Query(alias=f"{name}_lt")] = None,
    ) -> Range[float]:
        return Range(gte=gte, gt=gt, lte=lte, lt=lt)

    return dependency


def body_range(body: Any, name: str) -> Range[Any]:
    """The ``{name}_gte`` … bounds of a batch request body."""
    return Range(
        gte=getattr(body, f"{name}_gte"),
        gt=getattr(body, f"{name}_gt"),
        lte=getattr(body, f"{name}_lte"),
        lt=getattr(body, f"{name}_lt"),
    )


def order_terms(value: str | None, allowed: Collection[str], default: str) -> OrderTerms:
    """One ``order_by`` value of a batch body (``None`` = ``default``)."""
    return parse_order_by([value] if value else None, allowed, default)


def one_or_all(value: str) -> list[str] | None:
    """A path id as a filter: ``~`` means no restriction."""
    return None if value == WILDCARD else [value]
