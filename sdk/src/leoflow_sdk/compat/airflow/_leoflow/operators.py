"""The operators Leoflow runs: Python, Bash, Empty and HTTP, each mapped to one task type.

Each operator keeps the arguments that have a meaning in ``dag.json`` and refuses the ones that
would change behaviour Leoflow cannot reproduce (a response check callable, a deferrable
request, a Bash output processor …).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .baseoperator import BaseOperator
from .binding import Bindings, bind_call
from .convert import json_literal, seconds
from .entrypoints import entrypoint_of
from .errors import InvalidDagError, NotSupportedError


def _refuse_set(**values: Any) -> None:
    for name, value in values.items():
        if value not in (None, False, {}, [], ()):
            raise NotSupportedError(f"{name}")


class EmptyOperator(BaseOperator):
    """A marker task; the scheduler completes it without dispatching anything."""

    leoflow_type: ClassVar[str] = "empty"

    def __init__(self, *, task_id: str, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)


class PythonOperator(BaseOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)`` in the task's runtime."""

    leoflow_type: ClassVar[str] = "python"
    template_fields: ClassVar[tuple[str, ...]] = ("op_args", "op_kwargs")

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any],
        op_args: list[Any] | tuple[Any, ...] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id=task_id, **kwargs)
        _refuse_set(templates_dict=templates_dict, templates_exts=templates_exts)
        if not callable(python_callable):
            raise InvalidDagError(
                f"python_callable of task '{self.task_id}' is not callable",
                "pass a function",
            )
        self.python_callable = python_callable
        self.entrypoint = entrypoint_of(python_callable, self.task_id)
        self.bindings: Bindings = bind_call(
            self, python_callable, tuple(op_args or ()), dict(op_kwargs or {})
        )
        self.dag.python_callables[self.task_id] = python_callable

    def record(self) -> dict[str, Any]:
        """Entrypoint plus the bound arguments."""
        return {
            **super().record(),
            "entrypoint": self.entrypoint,
            "call_args": self.bindings.call_args,
            "xcom_input": self.bindings.xcom_input,
            "multiple_outputs": self.multiple_outputs,
        }


COMPUTED_COMMAND: Any = object()
"""``bash_command`` of a ``@task.bash`` task: its function returns the command at run time."""


def _skip_codes(value: Any, task_id: str) -> list[int] | None:
    """``skip_on_exit_code`` for ``dag.json``: ``None`` for the default 99, ``[]`` for none."""
    if value is None:
        return []
    codes: list[Any] = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in codes):
        raise InvalidDagError(
            f"skip_on_exit_code of task '{task_id}' is {value!r}",
            "pass an exit code 0-255, a list of them, or None",
        )
    if isinstance(value, (set, frozenset)):
        codes.sort()
    unique = list(dict.fromkeys(codes))
    return None if unique == [99] else unique


class BashOperator(BaseOperator):
    """Runs ``bash_command`` (a Jinja template rendered at run time) with bash.

    ``env`` unset means the command inherits the task's environment (``append_env`` is then
    irrelevant, as in Airflow); ``env`` given with ``append_env=False`` (Airflow's default)
    means the command sees only ``env`` plus Leoflow's own variables.
    """

    leoflow_type: ClassVar[str] = "bash"
    template_fields: ClassVar[tuple[str, ...]] = ("bash_command", "env", "cwd")

    def __init__(
        self,
        *,
        task_id: str,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | list[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if bash_command is not COMPUTED_COMMAND:
            self._check_command(bash_command)
        if output_encoding.lower().replace("-", "") != "utf8":
            raise NotSupportedError(f"output_encoding={output_encoding!r}")
        _refuse_set(output_processor=output_processor)
        if cwd is not None and (not isinstance(cwd, str) or not cwd.strip()):
            raise InvalidDagError(
                f"cwd of task '{self.task_id}' is {cwd!r}", "pass a folder path, or leave it out"
            )
        self.bash_command = None if bash_command is COMPUTED_COMMAND else bash_command
        self.env = self._check_env(env)
        self.append_env = env is None or bool(append_env)
        self.skip_on_exit_code = _skip_codes(skip_on_exit_code, self.task_id)
        self.cwd = cwd

    def _check_command(self, bash_command: Any) -> None:
        if not isinstance(bash_command, str) or not bash_command.strip():
            raise InvalidDagError(
                f"bash_command of task '{self.task_id}' is empty or not a string",
                "pass the command text",
            )
        if bash_command.endswith((".sh", ".bash")):
            raise NotSupportedError(
                "bash_command naming a script template file (.sh/.bash)",
                fix="add a space after the script path so it runs as a command",
            )

    def _check_env(self, env: dict[str, str] | None) -> dict[str, str]:
        for key, value in (env or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidDagError(
                    f"env of task '{self.task_id}' maps {key!r} to a {type(value).__name__}",
                    "give environment variables string names and string values",
                )
        return dict(env or {})

    def record(self) -> dict[str, Any]:
        """The command, its folder and its environment."""
        return {
            **super().record(),
            "entrypoint": self.bash_command,
            "cwd": self.cwd,
            "env": self.env,
            "append_env": self.append_env,
            "skip_on_exit_code": self.skip_on_exit_code,
        }


class HttpOperator(BaseOperator):
    """One HTTP request to an absolute URL (``endpoint``); the task fails on a non-2xx reply."""

    leoflow_type: ClassVar[str] = "http_api"
    template_fields: ClassVar[tuple[str, ...]] = ("endpoint", "data", "headers")

    def __init__(
        self,
        *,
        task_id: str,
        endpoint: str | None = None,
        method: str = "POST",
        data: Any = None,
        headers: dict[str, str] | None = None,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        http_conn_id: str = "http_default",
        log_response: bool = False,
        auth_type: Any = None,
        tcp_keep_alive: bool = True,
        deferrable: bool = False,
        pagination_function: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if deferrable:
            raise NotSupportedError("deferrable operators (HttpOperator deferrable=True)")
        _refuse_set(
            response_check=response_check,
            response_filter=response_filter,
            auth_type=auth_type,
            pagination_function=pagination_function,
        )
        self.request = self._request(endpoint, method, data, headers, dict(extra_options or {}))

    def _request(
        self,
        endpoint: str | None,
        method: str,
        data: Any,
        headers: dict[str, str] | None,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise NotSupportedError(
                "HttpOperator with an endpoint relative to an Airflow connection (http_conn_id)",
                fix="pass the full http:// or https:// URL as endpoint",
            )
        if data is not None and not isinstance(data, str):
            raise NotSupportedError(
                "HttpOperator data that is not a string (form fields or query parameters)",
                fix="pass json.dumps(...) with a Content-Type header, or put parameters in the URL",
            )
        timeout = seconds(options.pop("timeout", None), "extra_options timeout")
        if options:
            raise NotSupportedError(f"HttpOperator extra_options {sorted(options)}")
        request: dict[str, Any] = {
            "method": method.upper(),
            "url": endpoint,
            "headers": json_literal(dict(headers or {}), f"headers of task '{self.task_id}'"),
            "body": data,
            "timeout_seconds": timeout,
        }
        return {key: value for key, value in request.items() if value not in (None, {})}

    def record(self) -> dict[str, Any]:
        """The request to make."""
        return {**super().record(), "http_request": self.request}
