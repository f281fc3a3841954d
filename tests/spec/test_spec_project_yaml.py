"""leoflow.yaml: loading, duplicate keys, readable errors, task override checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.spec import (
    LeoflowYaml,
    SpecError,
    TriggerRule,
    check_task_overrides,
    load_leoflow_yaml,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "spec" / "leoflow_yaml"


def _error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_leoflow_yaml(text)
    return info.value


def test_full_example_loads() -> None:
    project = load_leoflow_yaml(GOLDEN / "full.yaml")
    assert project.dag_id == "taskflow_etl"
    assert project.python_version == "3.12"
    assert project.dag_source == "dags/etl.py"
    assert project.build is not None and project.build.builder == "podman"
    assert project.defaults is not None and project.defaults.resources is not None
    limits = project.defaults.resources.limits
    assert limits is not None and limits.cpu == "1"  # YAML int kept as quantity text
    assert project.staging is not None and project.staging.enabled
    assert project.tasks["load"].trigger_rule is TriggerRule.ALL_DONE
    assert project.defaults.retry_exponential_backoff is True
    assert project.tasks["load"].retry_exponential_backoff is False
    check_task_overrides(project, ["extract", "transform", "load", "notify"])


def test_minimal_example_gets_defaults() -> None:
    project = load_leoflow_yaml(GOLDEN / "minimal.yaml")
    assert project == LeoflowYaml(dag_id="hello")
    assert project.dag_source == "dag.py"
    assert project.tasks == {}


def test_duplicate_key_is_named_with_its_lines() -> None:
    error = _error("dag_id: etl\ntasks:\n  load:\n    retries: 2\n    retries: 3\n")
    assert error.problems == [
        "line 5: duplicate key 'retries' (first defined at line 4); keep only one"
    ]


def test_duplicate_top_level_and_task_keys_are_all_reported() -> None:
    error = _error("dag_id: a\ntasks:\n  load: {}\n  load: {}\ndag_id: b\n")
    assert [p.split(":")[0] for p in error.problems] == ["line 4", "line 5"]
    assert "duplicate key 'load'" in error.problems[0]
    assert "duplicate key 'dag_id'" in error.problems[1]


def test_unknown_task_override_lists_real_ids() -> None:
    project = load_leoflow_yaml("dag_id: etl\ntasks:\n  lod: {retries: 1}\n  extract: {}\n")
    with pytest.raises(SpecError) as info:
        check_task_overrides(project, ["extract", "transform", "load"])
    (problem,) = info.value.problems
    assert "'lod' is not a task of DAG 'etl'" in problem
    assert "did you mean 'load'?" in problem
    assert "extract, transform, load" in problem


def test_unknown_key_names_the_key_line_and_the_allowed_keys() -> None:
    error = _error("dag_id: etl\ndefaults:\n  retry: 3\n")
    (problem,) = error.problems
    assert problem.startswith("defaults.retry (line 3): unknown key 'retry'")
    assert "did you mean 'retries'?" in problem
    assert "retry_delay_seconds" in problem


def test_every_model_problem_is_listed_with_its_location() -> None:
    error = _error(
        "dag_id: bad id\n"
        "python_version: 3.10\n"
        "tasks:\n"
        "  load:\n"
        "    retries: -1\n"
        "    resources: {limits: {memory: 512m}}\n"
    )
    text = str(error)
    assert "4 problems" in text
    assert "dag_id (line 1): dag_id 'bad id' is invalid" in text
    assert "python_version (line 2)" in text and "add quotes" in text
    assert "tasks.load.retries (line 5)" in text
    assert "tasks.load.resources.limits.memory (line 6)" in text and "'512Mi'" in text


def test_missing_dag_id() -> None:
    error = _error("owner: me\n")
    assert error.problems == ["dag_id: required key is missing; add it"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "got an empty document"),
        ("- a\n- b\n", "got list"),
        ("dag_id: [\n", "not valid YAML"),
        ("dag_id: !!python/object:os.system x\n", "not valid YAML"),
        ('dag_id: etl\npython_version: "3.9"\n', "too old"),
        ("dag_id: etl\ndependencies: ['--index-url https://x']\n", "is a pip option"),
        ("dag_id: etl\ndag_source: ../outside.py\n", "inside the project folder"),
        ("dag_id: etl\ndag_source: /abs/dag.py\n", "must be relative"),
        ("dag_id: etl\nregistry: ghcr.io/acme:latest\n", "registry"),
        ("dag_id: etl\nbuild: {builder: kaniko}\n", "build.builder"),
        ("dag_id: etl\nsystem_packages: ['Bad Name']\n", "system package 'Bad Name'"),
        ("dag_id: etl\ntasks:\n  a: {env: {LEOFLOW_X: '1'}}\n", "LEOFLOW_"),
        ("dag_id: etl\ntasks:\n  a: {trigger_rule: sometimes}\n", "got 'sometimes'"),
    ],
)
def test_bad_documents(text: str, fragment: str) -> None:
    assert fragment in str(_error(text))


def test_path_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "leoflow.yaml"
    with pytest.raises(SpecError) as info:
        load_leoflow_yaml(missing)
    assert str(missing) in str(info.value)
    missing.write_text("dag_id: etl\ndag_id: etl\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_leoflow_yaml(missing)
    assert str(missing) in str(info.value) and "duplicate key 'dag_id'" in str(info.value)


def test_merge_keys_are_not_duplicates() -> None:
    project = load_leoflow_yaml(
        "dag_id: etl\n"
        "tasks:\n"
        "  a: &common {retries: 1, retry_delay_seconds: 5}\n"
        "  b:\n"
        "    <<: *common\n"
        "    retries: 4\n"
    )
    assert project.tasks["b"].retries == 4
    assert project.tasks["b"].retry_delay_seconds == 5


def test_a_str_path_gets_a_hint() -> None:
    assert "pass a pathlib.Path" in str(_error("projects/etl/leoflow.yaml"))
