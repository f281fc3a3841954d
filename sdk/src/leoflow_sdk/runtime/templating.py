"""Rendering templated fields with Jinja2 and the Airflow context, as Airflow does.

Same environment as Airflow's default: sandboxed, ``StrictUndefined`` (a misspelt name fails
the task instead of rendering as an empty string), the ``do`` extension and the ``ds``/``ts``
filters. Jinja2 is imported only when a value actually contains template syntax, so a task
without templates does not pay for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

_MARKERS = ("{{", "{%", "{#")
_DATE_KEYS = frozenset(
    {
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "logical_date",
        "task_instance_key_str",
    }
)
_environment: Any = None


class TemplateRenderError(ValueError):
    """A templated field that does not render; the message names the field and the cause."""


def has_template(text: str) -> bool:
    """Whether ``text`` contains Jinja syntax."""
    return any(marker in text for marker in _MARKERS)


def _ds(value: dt.date | None) -> str | None:
    return value.strftime("%Y-%m-%d") if value is not None else None


def _ds_nodash(value: dt.date | None) -> str | None:
    return value.strftime("%Y%m%d") if value is not None else None


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ts_nodash(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y%m%dT%H%M%S") if value is not None else None


def _ts_nodash_with_tz(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("-", "").replace(":", "") if value is not None else None


def _env() -> Any:
    global _environment  # noqa: PLW0603 - built once per process, on first use
    if _environment is None:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        environment = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"], cache_size=0
        )
        environment.filters.update(
            ds=_ds,
            ds_nodash=_ds_nodash,
            ts=_ts,
            ts_nodash=_ts_nodash,
            ts_nodash_with_tz=_ts_nodash_with_tz,
        )
        _environment = environment
    return _environment


def _undefined_hint(message: str, context: Mapping[str, Any]) -> str:
    name = message.split("'")[1] if message.count("'") >= 2 else ""
    if name in _DATE_KEYS and "logical_date" not in context:
        return (
            f"; this run has no logical date (Airflow 3 manual runs may have none), so {name} "
            "does not exist: trigger the run with a logical date, or use {{ run_id }}"
        )
    return ""


def render(text: str, context: Mapping[str, Any], what: str) -> str:
    """``text`` rendered with ``context``; ``TemplateRenderError`` naming ``what`` on failure."""
    if not has_template(text):
        return text
    import jinja2

    try:
        return str(_env().from_string(text).render(context))
    except jinja2.UndefinedError as exc:
        raise TemplateRenderError(
            f"{what} does not render: {exc.message}{_undefined_hint(str(exc.message), context)}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(
            f"{what} is not a valid Jinja template: {exc.message} (line {exc.lineno})"
        ) from None


def render_value(value: Any, context: Mapping[str, Any], what: str) -> Any:
    """``value`` with every string inside it rendered (lists and dicts walked, keys kept)."""
    if isinstance(value, str):
        return render(value, context, what)
    if isinstance(value, list):
        return [render_value(item, context, what) for item in value]
    if isinstance(value, dict):
        return {key: render_value(item, context, what) for key, item in value.items()}
    return value


def contains_template(value: Any) -> bool:
    """Whether any string inside ``value`` contains Jinja syntax."""
    if isinstance(value, str):
        return has_template(value)
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    if isinstance(value, dict):
        return any(contains_template(item) for item in value.values())
    return False
