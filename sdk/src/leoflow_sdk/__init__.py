"""What runs inside a Leoflow task: the agent, the runtime and the Airflow compatibility shim.

This distribution is installed into every DAG image and every Lite venv, so it depends only on
grpcio, protobuf and jinja2.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # Resolved on first use: importlib.metadata costs tens of milliseconds, and the agent and
    # the runtime start once per task and never need the version on their hot path.
    if name != "__version__":
        raise AttributeError(f"module 'leoflow_sdk' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("leoflow-sdk")
    except PackageNotFoundError:  # pragma: no cover
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
