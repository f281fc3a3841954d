"""What runs inside a Leoflow task: the agent, the runtime and the Airflow compatibility shim.

This distribution is installed into every DAG image and every Lite venv, so it depends only on
grpcio, protobuf and jinja2.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leoflow-sdk")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
