"""Leoflow: a Kubernetes-native workflow orchestrator that speaks Apache Airflow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leoflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
