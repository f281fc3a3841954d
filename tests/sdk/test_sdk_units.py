"""Pure parts of the agent and runtime: outcome decisions, settings, connection URIs, JSON
errors, templates, argument binding; and the SDK's import hygiene."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leoflow_sdk.agent.outcome import StopRequest, decide
from leoflow_sdk.agent.settings import AgentSettings, SettingsError
from leoflow_sdk.agent.supervisor import AGENT_VERSION
from leoflow_sdk.runtime.binding import BindingError, bind_arguments
from leoflow_sdk.runtime.connection_uri import (
    connection_uri,
    parse_connection_json,
    parse_connection_uri,
)
from leoflow_sdk.runtime.json_values import NotJsonSerializable, serialize
from leoflow_sdk.runtime.templating import TemplateRenderError, render

BASH = {"type": "bash"}
PYTHON = {"type": "python", "multiple_outputs": True}


def _decide(task: dict[str, Any], code: int, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "outcome": None,
        "stop": None,
        "last_stdout_line": None,
        "return_value": None,
    }
    options.update(kwargs)
    return decide(task, exit_code=code, **options)


def test_bash_outcomes_follow_exit_codes() -> None:
    assert _decide(BASH, 0, last_stdout_line="42").return_value == '"42"'
    assert _decide(BASH, 0).return_value is None
    assert _decide(BASH, 99).state == "skipped"
    assert _decide({**BASH, "skip_on_exit_code": []}, 99).state == "failed"
    assert _decide({**BASH, "skip_on_exit_code": [1, 2]}, 2).state == "skipped"
    killed = _decide(BASH, -signal.SIGKILL)
    assert (killed.state, killed.error) == ("failed", "bash command was killed by signal SIGKILL")


def test_python_outcomes_come_from_the_outcome_file() -> None:
    success = _decide(PYTHON, 0, outcome={"state": "success"}, return_value='{"a":1}')
    assert (success.state, success.return_value, success.multiple_outputs) == (
        "success",
        '{"a":1}',
        True,
    )
    failed = _decide(PYTHON, 1, outcome={"state": "failed", "error": "ValueError: x"})
    assert (failed.state, failed.error, failed.exit_code) == ("failed", "ValueError: x", 1)
    assert _decide(PYTHON, 0, outcome={"state": "skipped"}).state == "skipped"
    crashed = _decide(PYTHON, -signal.SIGKILL)
    assert crashed.error == (
        "the task process was killed by signal SIGKILL before reporting an outcome (out of memory?)"
    )
    assert "exited with code 0 before reporting" in _decide(PYTHON, 0).error


def test_a_stop_wins_over_what_the_process_said() -> None:
    stop = StopRequest("timeout", "timed out after 5 s")
    result = _decide(PYTHON, -15, outcome={"state": "failed", "error": "terminated"}, stop=stop)
    assert (result.state, result.error, result.exit_code) == ("failed", "timed out after 5 s", -15)


def _env(**values: str) -> dict[str, str]:
    return {"LEOFLOW_AGENT_ADDRESS": "127.0.0.1:1", "LEOFLOW_AGENT_TOKEN": "t", **values}


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    settings = AgentSettings.from_env(_env())
    assert settings.retry_deadline_seconds >= 120
    assert (settings.insecure, settings.kill_grace_seconds, settings.log_flush_seconds) == (
        False,
        10.0,
        0.2,
    )
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    settings = AgentSettings.from_env(
        {
            "LEOFLOW_AGENT_ADDRESS": "cp:7443",
            "LEOFLOW_AGENT_TOKEN_FILE": str(token_file),
            "LEOFLOW_AGENT_INSECURE": "true",
            "LEOFLOW_AGENT_LOG_FLUSH_SECONDS": "5",
            "LEOFLOW_TI_TRY_NUMBER": "3",
            "LEOFLOW_DAG_DIR": str(tmp_path),
        }
    )
    assert settings.token == "from-file"
    assert settings.insecure and settings.log_flush_seconds == 1.0
    assert settings.expected.try_number == 3 and settings.dag_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LEOFLOW_AGENT_ADDRESS": ""}, "LEOFLOW_AGENT_ADDRESS is not set"),
        ({"LEOFLOW_AGENT_TOKEN": ""}, "LEOFLOW_AGENT_TOKEN (or LEOFLOW_AGENT_TOKEN_FILE)"),
        ({"LEOFLOW_AGENT_INSECURE": "maybe"}, "is not a boolean"),
        ({"LEOFLOW_AGENT_RETRY_DEADLINE_SECONDS": "soon"}, "is not a number of seconds"),
        ({"LEOFLOW_AGENT_TLS_CA": "/nonexistent.pem"}, "is not a readable file"),
        ({"LEOFLOW_TI_TRY_NUMBER": "two"}, "is not a whole number"),
    ],
)
def test_bad_settings_name_the_variable(values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AgentSettings.from_env(_env(**values))


def test_agent_version_matches_the_distribution() -> None:
    assert version("leoflow-sdk") == AGENT_VERSION


def test_connection_uri_matches_airflow_format() -> None:
    uri = connection_uri(
        conn_type="google_cloud_platform",
        host="db.example.com",
        schema="analytics",
        login="user@corp",
        password="p@ss:word/1",
        port=5432,
        extra='{"timeout": 5}',
    )
    assert uri == (
        "google-cloud-platform://user%40corp:p%40ss%3Aword%2F1@db.example.com:5432/analytics"
        "?__extra__=%7B%22timeout%22%3A+5%7D"
    )
    assert parse_connection_uri(uri) == {
        "conn_type": "google_cloud_platform",
        "host": "db.example.com",
        "schema": "analytics",
        "login": "user@corp",
        "password": "p@ss:word/1",
        "port": 5432,
        "extra": '{"timeout": 5}',
    }
    assert connection_uri(conn_type="http", host="https://api.example.com") == (
        "http://https://api.example.com"
    )
    assert parse_connection_uri("http://https://api.example.com")["host"] == (
        "https://api.example.com"
    )
    assert parse_connection_uri("postgresql://h/db?a=1")["extra"] == '{"a": "1"}'
    assert (
        parse_connection_json('{"conn_type": "http", "port": "80", "extra": {"a": 1}}')["extra"]
        == '{"a": 1}'
    )


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)


@given(login=_TEXT, password=_TEXT, schema=_TEXT, port=st.integers(1, 65535))
def test_connection_uri_round_trips(login: str, password: str, schema: str, port: int) -> None:
    uri = connection_uri(
        conn_type="postgres",
        host="db.internal",
        schema=schema or None,
        login=login or None,
        password=password or None,
        port=port,
        extra='{"k": [1, "two"]}',
    )
    fields = parse_connection_uri(uri)
    assert (fields["login"], fields["password"], fields["schema"], fields["port"]) == (
        login or None,
        password or None,
        schema or None,
        port,
    )
    assert fields["extra"] == '{"k": [1, "two"]}'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"when": dt.date(2024, 1, 1)}, "a datetime.date at ['when']"),
        ([1, {2: "x"}], "a dict key of type int at [1]"),
        ({"x": float("nan")}, "the float nan at ['x']"),
        ({1, 2}, "a builtins.set"),
    ],
)
def test_non_json_values_are_located(value: Any, problem: str) -> None:
    with pytest.raises(NotJsonSerializable) as excinfo:
        serialize(value, "the return value of task 't'")
    assert str(excinfo.value).startswith(
        f"the return value of task 't' is not JSON-serializable: {problem}"
    )


def test_json_values_serialize_compactly() -> None:
    assert serialize({"a": [1, 2.5, None, "é"], "b": (True,)}, "x") == (
        '{"a":[1,2.5,null,"é"],"b":[true]}'
    )


def test_templates_fail_loudly_and_name_the_field() -> None:
    context = {"ds": "2024-01-02", "params": {"x": 1}}
    assert render("{{ ds }}-{{ params.x }}", context, "f") == "2024-01-02-1"
    assert render("no template", {}, "f") == "no template"
    with pytest.raises(TemplateRenderError, match="bash_command does not render: 'nope' is"):
        render("{{ nope }}", context, "bash_command")
    with pytest.raises(TemplateRenderError, match="this run has no logical date"):
        render("{{ ds }}", {}, "bash_command")
    with pytest.raises(TemplateRenderError, match="not a valid Jinja template"):
        render("{% for %}", context, "cwd")


def test_binding_prefers_bound_values_over_context() -> None:
    def function(a: int, /, b: int, *, ds: str = "", ti: Any = None, **rest: Any) -> None: ...

    args, kwargs = bind_arguments(
        function, {"a": 1, "b": 2, "ds": "bound"}, {"ds": "c", "ti": 3, "x": 4}
    )
    assert args == [1]
    assert kwargs == {"b": 2, "ds": "bound", "ti": 3, "x": 4}


def test_binding_errors_name_the_parameter() -> None:
    def function(rows: list[int]) -> None: ...

    with pytest.raises(BindingError, match=r"parameter 'rows' of .*function.* gets no value"):
        bind_arguments(function, {}, {})
    with pytest.raises(BindingError, match="does not declare the bound parameter"):
        bind_arguments(function, {"rows": [], "extra": 1}, {})


def test_agent_and_runtime_never_import_the_control_plane() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'leoflow' or name.startswith('leoflow.'):\n"
        "            raise ImportError('control plane is not installed in task images')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import leoflow_sdk.agent.__main__, leoflow_sdk.agent.supervisor\n"
        "import leoflow_sdk.runtime.main, leoflow_sdk.runtime.session\n"
        "import leoflow_sdk.runtime.python_task, leoflow_sdk.runtime.bash_task\n"
        "import leoflow_sdk.runtime.http_task\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_agent_does_not_load_the_runtime_or_jinja() -> None:
    """What the agent process imports is what every task start pays for."""
    code = (
        "import sys\n"
        "import leoflow_sdk.agent.__main__, leoflow_sdk.agent.supervisor\n"
        "heavy = [m for m in ('jinja2', 'importlib.metadata', 'airflow',"
        " 'leoflow_sdk.runtime.session') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
