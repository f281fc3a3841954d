"""Generated files kept in the repository, and the check that they match their sources.

Three families of files are generated and committed: the JSON Schemas of the spec models
(``docs/schemas/``), the Python stubs of the agent protocol (inside ``leoflow_sdk``) and the
Grafana dashboard (``helm/dashboards/`` and the chart's copy).
``--check`` fails (exit 1) when any committed file differs from what its source produces now;
``--write`` regenerates them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

Renderer = Callable[[], dict[Path, str]]


def _renderers() -> list[Renderer]:
    from leoflow.devtools.dashboards import render_dashboards
    from leoflow.devtools.proto_codegen import render_proto_stubs
    from leoflow.spec.schema_export import render_schemas

    return [render_schemas, render_proto_stubs, render_dashboards]


def render_all() -> dict[Path, str]:
    """Every generated file (path relative to the repository root) with its expected content."""
    files: dict[Path, str] = {}
    for render in _renderers():
        files.update(render())
    return files


def find_drift(root: Path = REPO_ROOT) -> list[Path]:
    """Generated files that are missing or differ from what their source produces."""
    return [
        rel
        for rel, content in sorted(render_all().items())
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != content
    ]


def write_all(root: Path = REPO_ROOT) -> list[Path]:
    """Regenerate every generated file; returns the paths written."""
    written = []
    for rel, content in sorted(render_all().items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        written.append(rel)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if generated files drifted")
    mode.add_argument("--write", action="store_true", help="regenerate the files")
    args = parser.parse_args(argv)
    if args.write:
        for rel in write_all():
            print(f"wrote {rel}")
        return 0
    drift = find_drift()
    for rel in drift:
        print(f"out of date: {rel} (run `make regen` and commit the result)", file=sys.stderr)
    if not drift:
        print("generated files are up to date")
    return 1 if drift else 0


if __name__ == "__main__":
    raise SystemExit(main())
