"""DAG venvs are keyed by their inputs: what changes the key, what does not."""

from __future__ import annotations

from pathlib import Path

from leoflow.lite.venvs import (
    SdkSource,
    VenvInputs,
    VenvManager,
    current_python_version,
    sdk_source,
)
from leoflow.spec import dag_spec_from_data

SDK = SdkSource("leoflow-sdk==0.1.0", fingerprint="leoflow-sdk==0.1.0")


def _inputs(*deps: str, python: str = "3.11", sdk: SdkSource = SDK) -> VenvInputs:
    return VenvInputs(python_version=python, dependencies=deps, sdk=sdk)


def test_key_ignores_order_and_duplicates() -> None:
    assert _inputs("a==1", "b>=2").key() == _inputs("b>=2", "a==1", "a==1").key()


def test_key_changes_with_every_input() -> None:
    base = _inputs("a==1").key()
    assert _inputs("a==2").key() != base
    assert _inputs("a==1", "b").key() != base
    assert _inputs("a==1", python="3.12").key() != base
    other_sdk = SdkSource("-e /x", Path("/x"), "editable:/x:abc")
    assert _inputs("a==1", sdk=other_sdk).key() != base


def test_inputs_come_from_the_compiled_spec() -> None:
    data = {
        "schema_version": "1.0",
        "dag_id": "d",
        "source": "x",
        "tasks": [{"task_id": "t", "type": "python", "entrypoint": "dag:t"}],
    }
    plain = VenvInputs.for_spec(dag_spec_from_data(data), SDK)
    assert plain.python_version == current_python_version() and plain.dependencies == ()
    data["python_environment"] = {"python_version": "3.12", "dependencies": ["pendulum>=3"]}
    declared = VenvInputs.for_spec(dag_spec_from_data(data), SDK)
    assert (declared.python_version, declared.dependencies) == ("3.12", ("pendulum>=3",))
    assert declared.key() != plain.key()


def test_manager_paths_and_readiness(tmp_path: Path) -> None:
    manager = VenvManager(tmp_path, sdk=SDK)
    inputs = _inputs("a==1")
    path = manager.path_for(inputs)
    assert path.parent == tmp_path and path.name == inputs.key()[:24]
    assert manager.ready(inputs) is None
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").touch()
    assert manager.ready(inputs) is None  # no marker: a crashed build is never used
    (path / ".leoflow-ready").write_text("x")
    ready = manager.ready(inputs)
    assert ready is not None and ready.python == path / "bin" / "python"


def test_development_installs_use_the_checkout_sdk() -> None:
    source = sdk_source()
    assert source.editable_path is not None
    assert (source.editable_path / "src" / "leoflow_sdk").is_dir()
    assert source.install_args() == ["-e", str(source.editable_path)]
    assert sdk_source("leoflow-sdk==9.9").install_args() == ["leoflow-sdk==9.9"]
