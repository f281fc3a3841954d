"""Fixtures of the image tests: provisioned tools, the runtime base image, a loopback registry.

Everything here is expensive and shared per session; the fast golden and unit tests in this
folder use none of it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.containers import (
    RuntimeImage,
    build_runtime_image,
    build_server_image,
    docker_daemon,
    loopback_registry,
    provision_tools,
    write_containers_conf,
)
from leoflow.compiler.image_build import BUILD_FLAGS_ENV


@pytest.fixture(scope="session")
def container_tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """podman & co. installed, and set up for this host for every process the tests start.

    ``CONTAINERS_CONF`` makes podman and buildah use runc and rlimits within the hard limits;
    ``LEOFLOW_BUILD_FLAGS`` keeps ``leoflow compile --build`` builds off any network.
    """
    provision_tools()
    conf = write_containers_conf(tmp_path_factory.mktemp("containers") / "containers.conf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTAINERS_CONF", str(conf))
        patch.setenv(BUILD_FLAGS_ENV, "--network=none --pull=never")
        yield


@pytest.fixture(scope="session")
def runtime_image(container_tools: None) -> RuntimeImage:
    """``leoflow/python-runtime:3.11``, built offline (cached between runs)."""
    return build_runtime_image("3.11")


@pytest.fixture(scope="session")
def server_image(container_tools: None) -> RuntimeImage:
    """``leoflow/leoflow-server:<version>``, built offline (cached between runs)."""
    return build_server_image()


@pytest.fixture
def registry(tmp_path: Path, container_tools: None) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry that lives for one test."""
    with loopback_registry(tmp_path / "registry") as address:
        yield address


@pytest.fixture
def docker_host(container_tools: None) -> Iterator[str]:
    """``DOCKER_HOST`` of a Docker engine started for one test (its state in a temp dir).

    The folder is short on purpose: containerd's sockets live under it, and a pytest
    ``tmp_path`` can push their paths past the 108-byte limit of a Unix socket address.
    """
    provision_tools("--docker")
    workdir = Path(tempfile.mkdtemp(prefix="lf-dk-", dir="/tmp"))
    try:
        with docker_daemon(workdir) as host:
            yield host
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
