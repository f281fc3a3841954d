"""A real pod run: the executor's own manifest, run by podman, its agent completing the task.

The executor creates the try's Secret and Pod on the stand-in API server; ``PodmanKubelet``
runs that pod with ``podman kube play`` (runc) from a DAG image built on
``leoflow/python-runtime:3.11``; the agent inside (PID 1, non-root, read-only root filesystem)
dials the real AgentService over TLS on 127.0.0.1, fetches its spec, runs the task, pushes the
XCom and reports success; the executor sees the pod finish and later garbage-collects it.

Slow group: podman, buildah, mmdebstrap and catatonit are installed on first use, the runtime
image is built once and cached (see ``tests/images``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import importlib.util
import ipaddress
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.containers import (
    build_runtime_image,
    podman,
    provision_tools,
    remove_images,
    write_containers_conf,
)
from harness.execution import SECRET, advance, dag_json, running_run, task

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NEEDED = ("leoflow_sdk.agent.__main__", "leoflow.agentapi.service")
PROVISION = Path(__file__).with_name("provision_kube_play.sh")
DAG_SOURCE = """\
import os


def extract():
    print("hello from a pod")
    with open("/tmp/scratch.txt", "w") as handle:  # /tmp is the pod's only writable place
        handle.write("ok")
    return {"rows": 3, "uid": os.getuid()}
"""


def _missing_piece() -> str | None:
    for module in NEEDED:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


@pytest.fixture(scope="module")
def kube_play_tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    missing = _missing_piece()
    if missing is not None:
        pytest.skip(f"the real pod run needs {missing}, which does not exist yet")
    provision_tools()
    done = subprocess.run(["bash", str(PROVISION)], capture_output=True, text=True, check=False)
    if done.returncode == 3:
        if os.environ.get("CI"):
            pytest.fail(done.stderr, pytrace=False)
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    conf = write_containers_conf(tmp_path_factory.mktemp("containers") / "containers.conf")
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = previous


@pytest.fixture(scope="module")
def dag_image(kube_play_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DAG image on the runtime image (unique tag: the image store is shared)."""
    runtime = build_runtime_image("3.11")
    context = tmp_path_factory.mktemp("dag-image")
    (context / "dag.py").write_text(DAG_SOURCE, encoding="utf-8")
    (context / "Dockerfile").write_text(
        f"FROM {runtime.tag}\nCOPY dag.py /opt/leoflow/dag/dag.py\n", encoding="utf-8"
    )
    tag = f"localhost/leoflow-test/kube-play-{uuid.uuid4().hex[:10]}:1"
    podman("build", "--network=none", "--pull=never", "--tag", tag, str(context))
    try:
        yield tag
    finally:
        remove_images([tag])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 (the agent verifies it with it as its CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leoflow-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.crt", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """Secrets folders bind-mounted into the container; kept short and world-readable."""
    folder = Path(f"/tmp/lf-kp-{uuid.uuid4().hex[:8]}")
    folder.mkdir(mode=0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def control_plane(db_pool: Any, database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    from leoflow.agentapi.server import AgentServer
    from leoflow.agentapi.service import AgentService
    from leoflow.config import load_settings
    from leoflow.logs import FileLogStorage, MemoryLogTail, TaskLogs
    from leoflow.scheduler.dag_catalog import DagCatalog
    from leoflow.scheduler.state_reports import TaskReporter
    from leoflow.xcom import PostgresXComBackend, XComPolicy, XComService

    cert, key = self_signed(tmp_path)
    settings = load_settings(
        database_url=database_url,
        home=tmp_path / "home",
        edition="pro",
        grpc_host="127.0.0.1",
        grpc_port=0,
        agent_tls_cert_file=cert,
        agent_tls_key_file=key,
        agent_heartbeat_interval_seconds=1.0,
    )
    catalog = DagCatalog(db_pool, settings.task_defaults)
    woken: list[Any] = []
    reporter = TaskReporter(db_pool, catalog, woken.append)
    xcom = XComService(PostgresXComBackend(db_pool), XComPolicy())
    logs = TaskLogs(FileLogStorage(tmp_path / "home" / "logs"), MemoryLogTail())
    service = AgentService(
        db=db_pool,
        settings=settings,
        jwt_secret=SECRET,
        xcom=xcom,
        logs=logs,
        reporter=reporter,
        catalog=catalog,
    )
    server = AgentServer(service, settings)
    endpoint = await server.start()
    try:
        yield {
            "settings": settings,
            "endpoint": endpoint,
            "catalog": catalog,
            "reporter": reporter,
            "xcom": xcom,
            "logs": logs,
            "ca": cert,
        }
    finally:
        await server.stop(grace=None)


async def _final_phase(standin: Any, name: str, timeout: float = 60) -> str:
    """The pod's phase once the kubelet stand-in reported its end."""
    deadline = time.monotonic() + timeout
    for _ in iter(lambda: time.monotonic() < deadline, False):
        pod = standin.get("pods", name)
        phase = str(pod["status"]["phase"]) if pod else "Gone"
        if phase in ("Succeeded", "Failed", "Gone"):
            return phase
        await asyncio.sleep(0.2)
    return "Timeout"


async def test_executor_pod_runs_under_podman_and_its_agent_completes_the_task(
    db_pool: Any, database_url: str, dag_image: str, control_plane: Any, short_tmp: Path
) -> None:
    from kube_podman import PodmanKubelet
    from kube_standin import StandInApiServer

    from leoflow.agentapi.tokens import AgentTokenIssuer
    from leoflow.executors.base import TaskLaunch
    from leoflow.executors.kubernetes import KubernetesExecutor
    from leoflow.logs import TryLogRef
    from leoflow.states import TaskState
    from leoflow.store.task_instances import get_task_instance
    from leoflow.xcom import RunScope, XComAddress

    started = time.monotonic()
    cp = control_plane
    data = dag_json("kube_play", [task("extract")], image=dag_image, source=DAG_SOURCE)
    handle = await running_run(db_pool, data)
    ti = handle.tis["extract"]
    await advance(db_pool, ti.id, TaskState.QUEUED)
    async with StandInApiServer().serve() as standin:
        await standin._create(
            "secrets",
            "tasks",
            {
                "metadata": {"name": "leoflow-agent-tls"},
                "data": {"ca.crt": base64.b64encode(cp["ca"].read_bytes()).decode()},
            },
        )
        kubelet = PodmanKubelet(standin, short_tmp)
        kubelet.attach()
        settings = cp["settings"].model_copy(
            update={
                "kubernetes": cp["settings"].kubernetes.model_copy(
                    update={
                        "namespace": "tasks",
                        "api_url": standin.url,
                        "agent_tls_secret": "leoflow-agent-tls",
                        "gc_delay_seconds": 0,
                        "report_grace_seconds": 5,
                        "default_resources": {"limits": {"memory": "512Mi", "cpu": "1"}},
                    }
                )
            }
        )
        executor = KubernetesExecutor(
            reporter=cp["reporter"],
            db=db_pool,
            settings=settings,
            tokens=AgentTokenIssuer(SECRET, db_pool),
            logs=cp["logs"],
            agent_address=cp["endpoint"].address,
            agent_tls=True,
            catalog=cp["catalog"],
        )
        launch = TaskLaunch(
            ti_id=ti.id,
            run_uuid=handle.run.id,
            dag_id="kube_play",
            run_id=handle.run.run_id,
            task_id="extract",
            map_index=-1,
            try_number=1,
            task_type="python",
            dag_version_id=handle.version_id,
            logical_date=None,
        )
        try:
            await executor.submit(launch)
            name = standin.names("pods")[0]
            deadline = time.monotonic() + 180
            while True:
                row = await get_task_instance(db_pool, ti.id)
                assert row is not None
                if row.state not in (TaskState.QUEUED, TaskState.RUNNING):
                    break
                assert time.monotonic() < deadline, f"still {row.state}: {kubelet.outputs}"
                await asyncio.sleep(0.2)
            assert row.state is TaskState.SUCCESS, kubelet.outputs.get(name)
            phase = await _final_phase(standin, name)
            assert phase == "Succeeded", kubelet.outputs.get(name)
            assert executor.failures == []
            stored = await cp["xcom"].pull(
                XComAddress(
                    RunScope("default", "kube_play", handle.run.id),
                    "extract",
                    "return_value",
                    -1,
                )
            )
            assert stored is not None
            assert b'"rows": 3' in stored.value or b'"rows":3' in stored.value
            assert b'"uid": 10001' in stored.value or b'"uid":10001' in stored.value
            text = await cp["logs"].read_text(
                TryLogRef("default", "kube_play", handle.run.run_id, "extract", 1)
            )
            assert "hello from a pod" in text
            await executor.reconcile()  # gc_delay 0: the finished pod and its Secret go
            assert standin.names("pods") == []
            assert standin.names("secrets") == ["leoflow-agent-tls"]
        finally:
            await executor.close()
            await kubelet.close()
    print(f"\nreal pod run took {time.monotonic() - started:.1f} s")
