"""Leoflow's name and logo inside the Airflow web app.

The web app shows the pinwheel (an Apache trademark) unless its config names another icon,
and titles pages with ``instance_name``. Leoflow sets both, so a person sees which product
they are using and nothing suggests the Apache Software Foundation endorses it.
"""

from __future__ import annotations

from leoflow.config import Settings

BRAND_PATH = "_leoflow"
"""URL folder (under the base path) of Leoflow's own small UI files."""

_LOGO = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img"
 aria-label="{label}"><title>{label}</title>
<rect x="2" y="2" width="60" height="60" rx="14" fill="#0f766e"/>
<path d="M18 14v30h22" fill="none" stroke="#fff" stroke-width="7" stroke-linecap="round"
 stroke-linejoin="round"/>
<circle cx="44" cy="22" r="6" fill="#fbbf24"/>
{badge}</svg>
"""
_LITE_BADGE = """<rect x="26" y="46" width="36" height="16" rx="5" fill="#fbbf24"/>
<text x="44" y="58.5" font-family="sans-serif" font-size="11" font-weight="700"
 text-anchor="middle" fill="#0f172a">LITE</text>
"""


def instance_name(settings: Settings) -> str:
    """The name shown in titles and on the dashboard."""
    if settings.instance_name:
        return settings.instance_name
    return "Leoflow Lite" if settings.edition == "lite" else "Leoflow"


def logo_svg(settings: Settings) -> str:
    """The logo shown in the navigation bar (with a "LITE" badge in Lite)."""
    lite = settings.edition == "lite"
    return _LOGO.format(label=instance_name(settings), badge=_LITE_BADGE if lite else "")


def logo_url(base_href: str) -> str:
    """URL of the logo for a page whose ``<base href>`` is ``base_href``."""
    return f"{base_href}{BRAND_PATH}/logo.svg"
