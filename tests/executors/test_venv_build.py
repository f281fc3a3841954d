"""Real DAG venv builds: built once, usable (leoflow-sdk importable), rebuilt after a crash,
with uv and with plain venv + pip."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from leoflow.lite.venvs import VenvInputs, VenvManager, current_python_version, sdk_source

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("installer", ["uv", "pip"])
async def test_build_once_and_reuse(tmp_path: Path, installer: str) -> None:
    manager = VenvManager(tmp_path, installer=installer, sdk=sdk_source())  # type: ignore[arg-type]
    inputs = VenvInputs(current_python_version(), (), manager.sdk)
    progress: list[str] = []
    first, second = await asyncio.gather(
        manager.ensure(inputs, progress.append), manager.ensure(inputs, progress.append)
    )
    assert first.path == second.path == manager.path_for(inputs)
    assert sum("building the DAG virtualenv" in line for line in progress) == 1
    assert any("ready in" in line for line in progress)
    out = subprocess.run(
        [str(first.python), "-c", "import leoflow_sdk.agent, sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()) == first.path
    (first.path / ".leoflow-ready").unlink()  # as if the build had crashed before the end
    progress.clear()
    rebuilt = await manager.ensure(inputs, progress.append)
    assert rebuilt.path == first.path and any("building" in line for line in progress)


async def test_a_bad_dependency_fails_with_the_installer_output(tmp_path: Path) -> None:
    from leoflow.lite.venvs import VenvBuildError

    manager = VenvManager(tmp_path, installer="uv", sdk=sdk_source())
    missing = tmp_path / "no-such-project"  # a local path: fails without asking any index
    inputs = VenvInputs(current_python_version(), (str(missing),), manager.sdk)
    with pytest.raises(VenvBuildError, match=r"leoflow\.yaml"):
        await manager.ensure(inputs)
    assert manager.ready(inputs) is None
    assert not manager.path_for(inputs).exists()
