"""Field and model rules of DagSpec / TaskSpec, and the graph helpers."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from leoflow.spec import (
    XCOM_RETURN_KEY,
    DagSpec,
    IntervalSchedule,
    SpecError,
    TaskSpec,
    TaskType,
    TriggerRule,
    XcomPull,
    cron_of,
    dag_spec_from_data,
    load_dag_json,
    parse_quantity,
)
from leoflow.spec.graph import find_cycle, topological_order


def _dag(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": "1.0",
        "dag_id": "example",
        "source": "# source\n",
        "tasks": [{"task_id": "only", "type": "empty"}],
    }
    data.update(overrides)
    return data


def _problems(data: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        dag_spec_from_data(data)
    return info.value.problems


def _task_problems(**task: Any) -> str:
    return "\n".join(_problems(_dag(tasks=[{"task_id": "t", **task}])))


# --- schedules -------------------------------------------------------------------------------

START = "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "schedule",
    [
        "@once",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@quarterly",
        "@yearly",
        "@annually",
        "*/5 * * * *",
        "0 12 * * MON-FRI",
        "0 0 29 2 *",
    ],
)
def test_accepted_schedules(schedule: str) -> None:
    assert DagSpec.model_validate(_dag(schedule=schedule, start_date=START)).schedule == schedule


def test_interval_schedule_is_an_object() -> None:
    spec = DagSpec.model_validate(_dag(schedule={"interval_seconds": 900}, start_date=START))
    assert spec.schedule == IntervalSchedule(interval_seconds=900)
    assert spec.model_dump(mode="json")["schedule"] == {"interval_seconds": 900}


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("@continuous", "not supported"),
        ("@midnight", "unknown schedule preset '@midnight'"),
        ("* * * *", "has 4 fields"),
        ("0 0 31 2 *", "never fires"),
        ("timedelta:3600", "has 1 field;"),
        ({"interval_seconds": 0}, ">= 1"),
        ({"interval_seconds": True}, ">= 1"),
        ({"interval_seconds": 60, "x": 1}, "exactly"),
        (3600, "is not a schedule"),
    ],
)
def test_refused_schedules(schedule: object, fragment: str) -> None:
    (problem,) = _problems(_dag(schedule=schedule, start_date=START))
    assert problem.startswith("schedule: ")
    assert fragment in problem


def test_cron_of_presets() -> None:
    assert cron_of("@daily") == "0 0 * * *"
    assert cron_of("@quarterly") == "0 0 1 */3 *"
    assert cron_of("@once") is None
    assert cron_of("5 4 * * *") == "5 4 * * *"


def test_manual_dag_needs_no_start_date_but_scheduled_one_does() -> None:
    assert DagSpec.model_validate(_dag()).schedule is None
    assert "needs start_date" in _problems(_dag(schedule="@daily"))[0]


def test_timezone_and_dates() -> None:
    spec = DagSpec.model_validate(
        _dag(
            schedule="0 2 * * *",
            schedule_timezone="America/New_York",
            start_date="2024-03-01T00:00:00-05:00",
            end_date="2024-03-01T05:00:00Z",
        )
    )
    assert spec.start_date == spec.end_date  # the same instant is allowed
    assert "unknown timezone" in _problems(_dag(schedule_timezone="Not/AZone"))[0]
    assert "unknown timezone" in _problems(_dag(schedule_timezone="../etc/passwd"))[0]
    assert "UTC offset" in _problems(_dag(start_date="2024-01-01"))[0]
    assert "got the number" in _problems(_dag(start_date=1_700_000_000))[0]


# --- strictness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("catchup", "yes"),
        ("catchup", 1),
        ("max_active_runs", True),
        ("max_active_runs", "4"),
        ("max_active_runs", 0),
        ("max_active_tasks", 0),
        ("xcom_ttl_seconds", 0),
        ("tags", ["a", "a"]),
        ("tags", [""]),
        ("image", "Not An Image"),
        ("dag_id", "-leading-dash"),
        ("dag_id", "with.dot"),
        ("dag_id", "x" * 201),
        ("params", []),
    ],
)
def test_refused_top_level_values(field: str, value: object) -> None:
    (problem,) = _problems(_dag(**{field: value}))
    assert problem.startswith(f"{field}")


def test_spec_is_immutable() -> None:
    spec = DagSpec.model_validate(_dag())
    with pytest.raises(ValidationError):
        spec.dag_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "image",
    [
        "python:3.12-slim",
        "ghcr.io/acme/etl:1.0",
        "localhost:5000/etl",
        "registry.example.com/team/etl@sha256:" + "a" * 64,
    ],
)
def test_image_references(image: str) -> None:
    assert DagSpec.model_validate(_dag(image=image)).image == image


# --- tasks -----------------------------------------------------------------------------------


def test_task_defaults() -> None:
    task = TaskSpec.model_validate({"task_id": "a", "type": "python", "entrypoint": "m:f"})
    assert task.trigger_rule is TriggerRule.ALL_SUCCESS
    assert task.type is TaskType.PYTHON
    assert task.depends_on == ()
    assert task.retries is None


@pytest.mark.parametrize(
    "entrypoint",
    ["m:f", "pkg.sub.mod:func", "pkg.mod:Class.method", "_private:_f", "mödule:fünction"],
)
def test_python_entrypoints(entrypoint: str) -> None:
    task = {"task_id": "a", "type": "python", "entrypoint": entrypoint}
    assert TaskSpec.model_validate(task).entrypoint == entrypoint


@pytest.mark.parametrize(
    "entrypoint", ["func", "mod:", ":func", "mod:func:x", "mod.:f", "my-mod:f", "class:f", "m: f"]
)
def test_bad_python_entrypoints(entrypoint: str) -> None:
    assert "is not 'module:callable'" in _task_problems(type="python", entrypoint=entrypoint)


def test_task_id_pattern() -> None:
    ok = {"task_id": "group.sub-task_1", "type": "empty"}
    assert TaskSpec.model_validate(ok).task_id == "group.sub-task_1"
    for bad in [".lead", "-lead", "has space", "x" * 251, ""]:
        problems = _problems(_dag(tasks=[{"task_id": bad, "type": "empty"}]))
        assert "task_id" in problems[0], bad


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        ({"type": "bash"}, "needs the command"),
        ({"type": "bash", "entrypoint": "   "}, "needs the command"),
        ({"type": "bash", "entrypoint": "ls", "call_args": {"x": 1}}, "remove call_args"),
        ({"type": "bash", "entrypoint": "ls", "execution_mode": "pod"}, "remove execution_mode"),
        ({"type": "python", "entrypoint": "m:f", "http_request": {"url": "https://x"}}, "only"),
        ({"type": "http_api", "entrypoint": "m:f", "http_request": {"url": "https://x"}}, "runs"),
        (
            {"type": "http_api", "http_request": {"url": "https://x"}, "xcom_input": {"a": ["t"]}},
            "cannot receive XCom inputs",
        ),
        ({"type": "empty", "env": {"A": "1"}}, "env is not allowed on an empty task"),
        ({"type": "empty", "xcom_schema": {"type": "object"}}, "xcom_schema is not allowed"),
        ({"type": "empty", "http_request": {"url": "https://x"}}, "http_request is not allowed"),
        ({"type": "sensor"}, "got 'sensor'"),
        ({"type": "python", "entrypoint": "m:f", "xcom_schema": {"type": "strin"}}, "JSON Schema"),
        ({"type": "python", "entrypoint": "m:f", "xcom_schema": []}, "xcom_schema"),
        ({"type": "python", "entrypoint": "m:f", "xcom_input": {"class": ["u"]}}, "parameter"),
        ({"type": "python", "entrypoint": "m:f", "call_args": {"1x": 1}}, "parameter name"),
        ({"type": "python", "entrypoint": "m:f", "env": {"1A": "x"}}, "variable name"),
        ({"type": "python", "entrypoint": "m:f", "env": {"A": 1}}, "valid string"),
        ({"type": "python", "entrypoint": "m:f", "depends_on": ["u", "u"]}, "twice"),
        ({"type": "python", "entrypoint": "m:f", "retries": -1}, "greater than or equal"),
        ({"type": "python", "entrypoint": "m:f", "execution_timeout_seconds": 0}, "greater"),
    ],
)
def test_task_rules(task: dict[str, Any], fragment: str) -> None:
    assert fragment in _task_problems(**task)


def test_xcom_binding_rules() -> None:
    upstream = {"task_id": "u", "type": "python", "entrypoint": "m:u"}
    task = {
        "task_id": "t",
        "type": "python",
        "entrypoint": "m:f",
        "depends_on": ["u"],
        "xcom_input": {"rows": ["u", "u"]},
        "call_args": {"rows": 1},
    }
    text = "\n".join(_problems(_dag(tasks=[upstream, task])))
    assert "reads the same XCom twice" in text
    assert "bound by both xcom_input and call_args" in text


def test_keyed_xcom_input_reads_one_key_of_a_multiple_outputs_task() -> None:
    upstream = {"task_id": "u", "type": "python", "entrypoint": "m:u", "multiple_outputs": True}
    task = {
        "task_id": "t",
        "type": "python",
        "entrypoint": "m:f",
        "depends_on": ["u"],
        "xcom_input": {
            "a": [{"task_id": "u", "key": "a"}],
            "both": ["u", {"task_id": "u", "key": "b"}],
        },
    }
    spec = DagSpec.model_validate(_dag(tasks=[upstream, task]))
    pulls = spec.task("t").xcom_pulls()
    assert pulls == {
        "a": (XcomPull("u", "a"),),
        "both": (XcomPull("u", XCOM_RETURN_KEY), XcomPull("u", "b")),
    }
    assert spec.model_dump(mode="json")["tasks"][1]["xcom_input"] == task["xcom_input"]
    assert load_dag_json(json.dumps(spec.model_dump(mode="json"))) == spec


def test_two_keys_of_one_task_are_not_a_duplicate() -> None:
    upstream = {"task_id": "u", "type": "python", "entrypoint": "m:u", "multiple_outputs": True}
    refs = [{"task_id": "u", "key": "a"}, {"task_id": "u", "key": "b"}]
    task = {"task_id": "t", "type": "bash", "command_callable": "m:cmd", "depends_on": ["u"]}
    spec = DagSpec.model_validate(_dag(tasks=[upstream, {**task, "xcom_input": {"x": refs}}]))
    assert len(spec.task("t").xcom_pulls()["x"]) == 2
    again = {**task, "xcom_input": {"x": [refs[0], refs[0]]}}
    assert "reads the same XCom twice" in "\n".join(_problems(_dag(tasks=[upstream, again])))


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        ({"type": "bash", "command_callable": "m:cmd", "call_args": {"n": 1}}, None),
        ({"type": "bash", "command_callable": "cmd"}, "is not 'module:callable'"),
        ({"type": "bash", "entrypoint": "ls", "command_callable": "m:cmd"}, "mutually exclusive"),
        ({"type": "python", "entrypoint": "m:f", "command_callable": "m:cmd"}, "only for bash"),
        ({"type": "http_api", "http_request": {"url": "https://x"}, "cwd": "/"}, "remove cwd"),
        ({"type": "python", "entrypoint": "m:f", "multiple_outputs": 1}, "valid boolean"),
        ({"type": "bash", "entrypoint": "ls", "append_env": "no"}, "valid boolean"),
        ({"type": "bash", "entrypoint": "ls", "skip_on_exit_code": [1, 1]}, "twice"),
        ({"type": "bash", "entrypoint": "ls", "skip_on_exit_code": [True]}, "valid integer"),
        ({"type": "empty", "doc_md": "# Start"}, None),
        ({"type": "empty", "multiple_outputs": False, "append_env": True}, None),
        ({"type": "empty", "retry_exponential_backoff": True}, "not allowed on an empty task"),
    ],
)
def test_new_task_field_rules(task: dict[str, Any], fragment: str | None) -> None:
    if fragment is None:
        assert TaskSpec.model_validate({"task_id": "t", **task}).task_id == "t"
    else:
        assert fragment in _task_problems(**task)


def test_skip_codes_default_to_bash_operator_99() -> None:
    bash = TaskSpec.model_validate({"task_id": "b", "type": "bash", "entrypoint": "ls"})
    assert bash.skip_on_exit_code is None
    assert bash.effective_skip_on_exit_code == (99,)
    never = bash.model_copy(update={"skip_on_exit_code": ()})
    assert never.effective_skip_on_exit_code == ()
    python = TaskSpec.model_validate({"task_id": "p", "type": "python", "entrypoint": "m:f"})
    assert python.effective_skip_on_exit_code == ()


def test_params_without_default_are_required_at_trigger() -> None:
    manual = DagSpec.model_validate(
        _dag(params={"n": 1}, params_schema={"who": {"type": "string"}, "n": {"minimum": 0}})
    )
    assert set(manual.params_schema) - set(manual.params) == {"who"}
    scheduled = _dag(schedule="@daily", start_date=START, params_schema={"who": {"type": "string"}})
    assert "param 'who' has no default" in _problems(scheduled)[0]


def test_http_api_rules() -> None:
    base = {"task_id": "h", "type": "http_api", "execution_mode": "inline"}
    text = _task_problems(**{**base, "http_request": {"url": "https://x"}, "resources": {}})
    assert "remove resources" in text
    for request, fragment in [
        ({"url": "example.com/x"}, "absolute http"),
        ({"url": "https://x", "method": "get"}, "got 'get'"),
        ({"url": "https://x", "headers": {"Bad Header": "1"}}, "header name"),
        ({"url": "https://x", "success_status_codes": []}, "at least one code"),
        ({"url": "https://x", "success_status_codes": [200, 200]}, "twice"),
        ({"url": "https://x", "timeout_seconds": 0}, "greater than 0"),
        ({"url": "https://x", "retries": 1}, "unknown key 'retries'"),
    ]:
        assert fragment in _task_problems(**{**base, "http_request": request}), request


def test_http_request_body_keeps_json() -> None:
    task = TaskSpec.model_validate(
        {
            "task_id": "h",
            "type": "http_api",
            "http_request": {"method": "POST", "url": "https://x", "body": {"a": [1, None]}},
        }
    )
    assert task.http_request is not None
    assert task.http_request.body == {"a": [1, None]}
    assert task.http_request.success_status_codes is None


# --- kubernetes fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("0.5", Decimal("0.5")),
        ("128Mi", Decimal(128 * 1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("1.5k", Decimal(1500)),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1 Gi", "1GB", "1gi", "--1", "1.2.3"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def _resources(resources: dict[str, Any]) -> str:
    return _task_problems(type="python", entrypoint="m:f", resources=resources)


@pytest.mark.parametrize("cpu", ["500m", "1", "0.5", "2.25", 1, 0.25])
def test_cpu_quantities(cpu: object) -> None:
    task = {"task_id": "t", "type": "python", "entrypoint": "m:f"}
    spec = TaskSpec.model_validate({**task, "resources": {"limits": {"cpu": cpu}}})
    assert spec.resources is not None and spec.resources.limits is not None
    assert spec.resources.limits.cpu == str(cpu)


@pytest.mark.parametrize(
    ("cpu", "fragment"),
    [("1Gi", "binary suffixes"), ("0", "greater than zero"), ("0.0001", "precision"), ("x", "")],
)
def test_bad_cpu(cpu: str, fragment: str) -> None:
    assert fragment in _resources({"requests": {"cpu": cpu}})


@pytest.mark.parametrize("memory", ["128Mi", "1Gi", "1G", "1e3", "1000", 1073741824])
def test_memory_quantities(memory: object) -> None:
    task = {"task_id": "t", "type": "python", "entrypoint": "m:f"}
    assert TaskSpec.model_validate({**task, "resources": {"requests": {"memory": memory}}})


@pytest.mark.parametrize(
    ("memory", "fragment"),
    [("128m", "did you mean '128Mi'"), ("1GB", "not a Kubernetes quantity"), ("0", "one byte")],
)
def test_bad_memory(memory: str, fragment: str) -> None:
    assert fragment in _resources({"limits": {"memory": memory}})


def test_requests_must_fit_limits() -> None:
    text = _resources({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}})
    assert "requests.cpu '1500m' exceeds limits.cpu '1'" in text
    ok = {"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    task = {"task_id": "t", "type": "python", "entrypoint": "m:f", "resources": ok}
    assert TaskSpec.model_validate(task)


@pytest.mark.parametrize(
    ("execution", "fragment"),
    [
        ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "without 'key'"),
        ({"tolerations": [{"key": "k", "toleration_seconds": 5}]}, "NoExecute"),
        ({"tolerations": [{"key": "k", "effect": "NoRun"}]}, "got 'NoRun'"),
        ({"tolerations": [{"key": "k", "operator": "In"}]}, "got 'In'"),
        ({"node_selector": {"bad key!": "x"}}, "label key"),
        ({"node_selector": {"zone": "-bad"}}, "label value"),
        ({"service_account": "Bad_Name"}, "Kubernetes name"),
        ({"image_pull_policy": "always"}, "got 'always'"),
    ],
)
def test_execution_rules(execution: dict[str, Any], fragment: str) -> None:
    assert fragment in _task_problems(type="python", entrypoint="m:f", execution=execution)


def test_staging() -> None:
    spec = DagSpec.model_validate(_dag(staging={"size": "5Gi"}))
    assert spec.staging is not None and spec.staging.enabled
    assert spec.staging.storage_class is None
    assert "one byte" in _problems(_dag(staging={"size": "0"}))[0]
    assert "unknown key 'sise'" in _problems(_dag(staging={"sise": "1Gi"}))[0]


# --- the DAG as a graph ----------------------------------------------------------------------


def _chain_dag() -> DagSpec:
    tasks = [
        {"task_id": "d", "type": "empty", "depends_on": ["b", "c"]},
        {"task_id": "a", "type": "empty"},
        {"task_id": "c", "type": "empty", "depends_on": ["a"]},
        {"task_id": "b", "type": "empty", "depends_on": ["a"]},
        {"task_id": "e", "type": "empty"},
    ]
    return DagSpec.model_validate(_dag(tasks=tasks))


def test_graph_helpers() -> None:
    spec = _chain_dag()
    assert spec.task_ids == ("d", "a", "c", "b", "e")
    assert spec.topological_order() == ("a", "c", "b", "d", "e")
    assert spec.upstream_of("d") == ("b", "c")
    assert spec.downstream_of("a") == ("c", "b")
    assert spec.downstream_of("d") == ()
    assert spec.task("e").type is TaskType.EMPTY


def test_unknown_task_lookup_lists_known_ids() -> None:
    with pytest.raises(KeyError, match=r"no task 'x'.*known task ids: d, a, c, b, e"):
        _chain_dag().upstream_of("x")
    with pytest.raises(KeyError, match="did you mean 'a'"):
        _chain_dag().downstream_of("aa")


def test_all_graph_problems_are_reported_together() -> None:
    tasks = [
        {"task_id": "a", "type": "empty", "depends_on": ["ghost"]},
        {"task_id": "a", "type": "empty"},
        {"task_id": "b", "type": "bash", "entrypoint": "x", "xcom_input": {"v": ["a"]}},
    ]
    problems = _problems(_dag(tasks=tasks))
    assert len(problems) == 3
    assert problems[0].startswith("duplicate task_id 'a'")
    assert problems[1].startswith("tasks[0] (a): depends_on names unknown task 'ghost'")
    assert problems[2].startswith("tasks[2] (b): xcom_input 'v' reads from 'a'")


def test_cycle_message_shows_the_path() -> None:
    tasks = [
        {"task_id": "start", "type": "empty"},
        {"task_id": "x", "type": "empty", "depends_on": ["start", "z"]},
        {"task_id": "y", "type": "empty", "depends_on": ["x"]},
        {"task_id": "z", "type": "empty", "depends_on": ["y"]},
    ]
    (problem,) = _problems(_dag(tasks=tasks))
    assert "dependency cycle: x -> y -> z -> x" in problem


def test_find_cycle_and_order_on_plain_graphs() -> None:
    assert find_cycle({"a": [], "b": ["a"], "c": ["a", "b"]}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert topological_order({"c": ["a", "b"], "b": ["a"], "a": []}) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="dependency cycle: a -> b -> a"):
        topological_order({"a": ["b"], "b": ["a"]})


def test_long_chains_do_not_recurse() -> None:
    size = 5000
    upstreams = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(size)}
    assert topological_order(upstreams)[-1] == f"t{size - 1}"
    upstreams["t0"] = [f"t{size - 1}"]
    cycle = find_cycle(upstreams)
    assert cycle is not None and len(cycle) == size + 1


# --- error reporting -------------------------------------------------------------------------


def test_spec_error_is_a_value_error_with_problems() -> None:
    with pytest.raises(ValueError) as info:
        load_dag_json(json.dumps(_dag(dag_id="bad id", owner=3)))
    error = info.value
    assert isinstance(error, SpecError)
    assert len(error.problems) == 2
    assert str(error).startswith("invalid dag.json: 2 problems:\n  - ")


def test_nested_unknown_key_suggests_the_right_one() -> None:
    task = {"task_id": "t", "type": "python", "entrypoint": "m:f"}
    resources = {"limits": {"memroy": "1Gi"}}
    (problem,) = _problems(_dag(tasks=[{**task, "resources": resources}]))
    assert problem.startswith("tasks[0] (t).resources.limits.memroy: unknown key 'memroy'")
    assert "did you mean 'memory'?" in problem
    assert "allowed keys here: cpu, memory" in problem


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"dag_id": NaN}', "NaN is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_json_level_errors(text: str | bytes, fragment: str) -> None:
    with pytest.raises(SpecError, match=r"invalid dag\.json") as info:
        load_dag_json(text)
    assert fragment in str(info.value)


def test_unreadable_path(tmp_path: Any) -> None:
    with pytest.raises(SpecError, match="cannot read the file"):
        load_dag_json(tmp_path / "missing.json")


def test_spec_error_survives_pickling() -> None:
    error = SpecError(["a: broken", "b: broken"], document="dag.json", source="x/dag.json")
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == error.problems
    assert str(again) == str(error)


def test_a_str_path_gets_a_hint() -> None:
    with pytest.raises(SpecError, match=r"pass a pathlib\.Path"):
        load_dag_json("build/dag.json")


def test_helpers_follow_a_copied_task_list() -> None:
    spec = _chain_dag()
    assert spec.downstream_of("a") == ("c", "b")
    copied = spec.model_copy(update={"tasks": spec.tasks[1:3]})
    assert copied.downstream_of("a") == ("c",)
    with pytest.raises(KeyError):
        copied.task("d")
