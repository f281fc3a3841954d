"""Packaging contracts: the SDK stays small, and both distributions share one version."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires, version

import leoflow
import leoflow_sdk


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0].lower() for req in requirements}


def test_sdk_depends_only_on_grpcio_protobuf_and_jinja2() -> None:
    assert _names(requires("leoflow-sdk") or []) == {"grpcio", "protobuf", "jinja2"}


def test_both_distributions_have_the_same_version() -> None:
    assert version("leoflow") == version("leoflow-sdk") == leoflow.__version__
    assert leoflow_sdk.__version__ == leoflow.__version__


def test_sdk_imports_without_the_control_plane() -> None:
    """The SDK is what a task image holds; it must never import ``leoflow`` (the server)."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'leoflow' or name.startswith('leoflow.'):\n"
        "            raise ImportError('control plane is not installed in task images')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import leoflow_sdk, leoflow_sdk.protocol\n"
        "from leoflow_sdk.proto_gen.leoflow.agent.v1 import agent_pb2, agent_pb2_grpc\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
