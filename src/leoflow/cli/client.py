"""Client commands over the REST API: ``login``, ``dags``, ``runs``, ``variables``, ``connections``.

They talk to a running server (Lite or Pro) the way any Airflow client does, through
``/api/v2``, so they need no database access and work against a remote server too.

* Server: ``--server`` or ``LEOFLOW_SERVER`` (default ``http://127.0.0.1:8088``, Lite's).
* Token, first found: ``--token`` / ``LEOFLOW_TOKEN`` (e.g. from ``leoflow auth token``);
  ``--username`` + ``--password`` / ``LEOFLOW_USERNAME`` + ``LEOFLOW_PASSWORD`` (a login per
  command); the token ``leoflow login`` stored (``leoflow lite`` stores one for its local
  admin at every start); else none (a Lite started with ``--no-login`` needs none).

Every command prints a short human answer, or the API's JSON with ``--json``; errors say what
went wrong and how to fix it, and exit non-zero (1 for a refusal or failure, 2 for usage).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import typer
from rich.console import Console
from rich.table import Table

from leoflow.auth.cli_credentials import forget_token, load_token, normalize_server, store_token

DEFAULT_SERVER = "http://127.0.0.1:8088"
EXIT_FAILED = 1
EXIT_USAGE = 2
_TERMINAL_RUN_STATES = frozenset({"success", "failed"})

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="LEOFLOW_SERVER",
        help=f"Leoflow server URL (default {DEFAULT_SERVER}).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="LEOFLOW_TOKEN", help="Bearer token to send.", show_default=False
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option("--username", envvar="LEOFLOW_USERNAME", help="Log in as this user."),
]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password", envvar="LEOFLOW_PASSWORD", help="Password for --username.", hidden=True
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


class ClientError(Exception):
    """A request failed; the message says why and what to do."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _home() -> Path:
    configured = os.environ.get("LEOFLOW_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".leoflow"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                lines.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                lines.append(str(item))
        return "\n  ".join(lines)
    return detail if isinstance(detail, str) else json.dumps(detail)


class ApiClient:
    """A thin ``/api/v2`` client: one server, one token, errors turned into advice."""

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.server = normalize_server(server or DEFAULT_SERVER)
        self._http = httpx.Client(base_url=self.server, timeout=timeout, trust_env=False)
        self.token = token
        if self.token is None and username:
            if not password:
                raise ClientError("--username needs --password (or LEOFLOW_PASSWORD)", EXIT_USAGE)
            self.token = self.login(username, password, cli=True)
        if self.token is None:
            stored = load_token(_home(), self.server)
            self.token = stored[0] if stored else None

    def close(self) -> None:
        self._http.close()

    def login(self, username: str, password: str, *, cli: bool = False) -> str:
        """A token for ``username`` (``/auth/token/cli`` lives shorter, as Airflow's)."""
        path = "/auth/token/cli" if cli else "/auth/token"
        response = self._send("POST", path, json={"username": username, "password": password})
        if response.status_code == 401:
            raise ClientError(f"login to {self.server} failed: invalid username or password")
        self._raise_for(response)
        token: str = response.json()["access_token"]
        return token

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(
                f"cannot reach Leoflow at {self.server} ({exc.__class__.__name__}): is it "
                "running? Start it with `leoflow lite`, or point --server / LEOFLOW_SERVER at it"
            ) from None

    def _raise_for(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        detail = _detail(response)
        if response.status_code == 401:
            raise ClientError(
                f"{self.server} wants a login ({detail}): run `leoflow login --server "
                f"{self.server}`, or set LEOFLOW_TOKEN (`leoflow auth token USER`)"
            )
        if response.status_code == 403:
            raise ClientError(
                f"refused by {self.server} ({detail}): log in again (`leoflow login`), or ask "
                "an admin for a role that allows this"
            )
        raise ClientError(f"{response.status_code}: {detail}")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request with the token; ``ClientError`` for anything but a 2xx."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self._send(method, path, headers=headers, **kwargs)
        self._raise_for(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()


def _q(value: str) -> str:
    return quote(value, safe="")


def _client(
    server: str | None,
    token: str | None,
    username: str | None = None,
    password: str | None = None,
) -> ApiClient:
    return ApiClient(server, token, username=username, password=password)


def _fail(error: ClientError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(error.code)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _table(*columns: str) -> Table:
    """A plain table; ids (``dag_id``, ``run_id``, ``task_id``) are never cut, so they can be
    copied into the next command."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in columns:
        table.add_column(name, no_wrap=name.endswith("_id") or name == "key")
    return table


def _console() -> Console:
    return Console(soft_wrap=True)


def _show(table: Table) -> None:
    """Print a table, giving id columns their full width (others shrink first)."""
    for column in table.columns:
        if column.no_wrap:
            column.min_width = max((len(str(cell)) for cell in column.cells), default=0)
    _console().print(table)


# --- login / logout --------------------------------------------------------------------------


def login_command(
    server: ServerOption = None,
    username: Annotated[str, typer.Option(help="User to log in as.")] = "admin",
    password: Annotated[
        str | None, typer.Option(help="Password (prompted, hidden, when omitted).")
    ] = None,
) -> None:
    """Log in to a server and keep the token for the next commands."""
    secret = password if password is not None else typer.prompt("Password", hide_input=True)
    client = ApiClient(server, token="")
    try:
        token = client.login(username, secret)
    except ClientError as exc:
        raise _fail(exc) from None
    finally:
        client.close()
    path = store_token(_home(), client.server, token, username)
    typer.echo(f"Logged in to {client.server} as {username} (token kept in {path}).")


def logout_command(server: ServerOption = None) -> None:
    """Revoke and forget the token kept for a server."""
    client = ApiClient(server)
    try:
        if client.token:
            client._send(
                "GET", "/api/v2/auth/logout", headers={"Authorization": f"Bearer {client.token}"}
            )
    except ClientError:
        pass  # offline: forgetting the token locally is still what the user asked for
    finally:
        client.close()
    forgot = forget_token(_home(), client.server)
    typer.echo(
        f"Logged out of {client.server}." if forgot else f"No token kept for {client.server}."
    )


# --- dags ------------------------------------------------------------------------------------

dags_app = typer.Typer(help="DAGs: list, pause, unpause, delete.", no_args_is_help=True)


@dags_app.command("list")
def dags_list(
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    include_stale: Annotated[
        bool, typer.Option("--all", help="Also list stale DAGs (their project is gone).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List DAGs with their schedule, pause flag and import-error flag."""
    try:
        client = _client(server, token, username, password)
        data = client.get(
            "/api/v2/dags",
            limit=100,
            order_by="dag_id",
            exclude_stale=str(not include_stale).lower(),
        )
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
        return
    table = _table("dag_id", "paused", "schedule", "tags", "status")
    for dag in data["dags"]:
        status = "import error" if dag["has_import_errors"] else "ok"
        if dag["is_stale"]:
            status = "stale"
        table.add_row(
            dag["dag_id"],
            "yes" if dag["is_paused"] else "no",
            dag.get("timetable_summary") or "manual",
            ", ".join(t["name"] for t in dag["tags"]),
            status,
        )
    _show(table)
    typer.echo(f"{data['total_entries']} DAG(s) on {client.server}")


def _set_paused(dag_id: str, paused: bool, client: ApiClient) -> dict[str, Any]:
    response = client.request("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": paused})
    body: dict[str, Any] = response.json()
    return body


def _pause_command(paused: bool, summary: str) -> Callable[..., None]:
    """``dags pause`` or ``dags unpause``: the same call with the other value."""
    word = "paused" if paused else "unpaused"

    def command(
        dag_id: Annotated[str, typer.Argument(help="The DAG's id.")],
        *,
        server: ServerOption = None,
        token: TokenOption = None,
        username: UserOption = None,
        password: PasswordOption = None,
        as_json: JsonOption = False,
    ) -> None:
        try:
            body = _set_paused(dag_id, paused, _client(server, token, username, password))
        except ClientError as exc:
            raise _fail(exc) from None
        if as_json:
            _print_json(body)
        else:
            typer.echo(f"DAG {dag_id} {word}.")

    command.__doc__ = summary
    return command


dags_app.command("pause")(
    _pause_command(True, "Pause a DAG: no new run starts, no new task is dispatched.")
)
dags_app.command("unpause")(
    _pause_command(False, "Unpause a DAG: its schedule and queued runs go on.")
)


@dags_app.command("delete")
def dags_delete(
    dag_id: Annotated[str, typer.Argument(help="The DAG whose history to delete.")],
    *,
    deregister: Annotated[
        bool,
        typer.Option(help="Also remove the DAG and its versions (until it is pushed or saved)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
) -> None:
    """Delete a DAG's runs, task instances, XComs and logs (ADR 0014)."""
    what = "the DAG, its versions and its whole history" if deregister else "its run history"
    if not yes and not typer.confirm(f"Delete {what} of {dag_id}?"):
        raise typer.Exit(EXIT_FAILED)
    try:
        client = _client(server, token, username, password)
        client.request(
            "DELETE",
            f"/api/v2/dags/{_q(dag_id)}",
            params={"deregister": "true"} if deregister else None,
        )
    except ClientError as exc:
        raise _fail(exc) from None
    typer.echo(f"Deleted {what} of {dag_id}.")


@dags_app.command("errors")
def dags_errors(
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """List import errors: DAG files that do not compile, and why."""
    try:
        data = _client(server, token, username, password).get("/api/v2/importErrors", limit=100)
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
        return
    if not data["import_errors"]:
        typer.echo("No import errors.")
        return
    for error in data["import_errors"]:
        typer.echo(f"{error['filename']} ({error['timestamp']}):")
        for line in str(error["stack_trace"]).splitlines():
            typer.echo(f"  {line}")


# --- runs ------------------------------------------------------------------------------------

runs_app = typer.Typer(help="DAG runs: trigger, status, list, logs.", no_args_is_help=True)


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}"


LATEST = "latest"


def _resolve_run(client: ApiClient, dag_id: str, run_id: str) -> str:
    """``latest`` names the DAG's newest run (by ``run_after``)."""
    if run_id != LATEST:
        return run_id
    data = client.get(f"/api/v2/dags/{_q(dag_id)}/dagRuns", limit=1, order_by="-run_after")
    if not data["dag_runs"]:
        raise ClientError(f"DAG {dag_id} has no runs yet: `leoflow runs trigger {dag_id}`")
    newest: str = data["dag_runs"][0]["dag_run_id"]
    return newest


def _task_instances(client: ApiClient, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    data = client.get(_run_path(dag_id, run_id) + "/taskInstances", limit=100)
    items: list[dict[str, Any]] = data["task_instances"]
    return items


def _wait(client: ApiClient, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(_run_path(dag_id, run_id))
        if run["state"] in _TERMINAL_RUN_STATES:
            return run
        if time.monotonic() > deadline:
            raise ClientError(
                f"run {run_id} of {dag_id} is still {run['state']} after {timeout:g} s; "
                f"follow it with `leoflow runs status {dag_id} {run_id}`"
            )
        time.sleep(0.5)


def _print_run(run: dict[str, Any], tis: list[dict[str, Any]]) -> None:
    duration = f" in {run['duration']:.1f} s" if run.get("duration") else ""
    typer.echo(f"run {run['dag_run_id']} of {run['dag_id']}: {run['state']}{duration}")
    table = _table("task_id", "state", "try", "duration")
    for ti in sorted(tis, key=lambda t: (t.get("start_date") or "~", t["task_id"])):
        spent = f"{ti['duration']:.2f} s" if ti.get("duration") is not None else ""
        table.add_row(ti["task_id"], ti.get("state") or "none", str(ti["try_number"]), spent)
    _show(table)


def _parse_conf(conf: str | None) -> dict[str, Any]:
    if not conf:
        return {}
    try:
        value = json.loads(conf)
    except json.JSONDecodeError as exc:
        raise ClientError(f"--conf is not valid JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise ClientError("--conf must be a JSON object, e.g. '{\"n\": 3}'", EXIT_USAGE)
    return value


def _logical_date(value: str | None) -> str | None:
    if value is None:
        return datetime.now(UTC).isoformat()
    if value.lower() == "none":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ClientError(
            f"--logical-date {value!r} is not ISO 8601 (e.g. 2025-01-31T06:00:00+00:00)",
            EXIT_USAGE,
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


@runs_app.command("trigger")
def runs_trigger(
    dag_id: Annotated[str, typer.Argument(help="The DAG to run.")],
    *,
    conf: Annotated[
        str | None, typer.Option(help="Run parameters as a JSON object.", show_default=False)
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id (default manual__<time>).")] = None,
    logical_date: Annotated[
        str | None,
        typer.Option(
            help="Logical date (ISO 8601; default now, as the web UI's trigger form). "
            "'none' gives the run none, as Airflow 3 allows.",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to finish; exit 1 if it failed.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 600.0,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Trigger a run of a DAG now."""
    try:
        client = _client(server, token, username, password)
        body: dict[str, Any] = {
            "logical_date": _logical_date(logical_date),
            "conf": _parse_conf(conf),
        }
        if run_id:
            body["dag_run_id"] = run_id
        run = client.request("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", json=body).json()
        if wait:
            run = _wait(client, dag_id, run["dag_run_id"], timeout)
        tis = _task_instances(client, dag_id, run["dag_run_id"]) if wait else []
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json({**run, "task_instances": tis} if wait else run)
    elif wait:
        _print_run(run, tis)
    else:
        typer.echo(
            f"triggered {dag_id}: run {run['dag_run_id']} ({run['state']}); follow it with "
            f"`leoflow runs status {dag_id} {run['dag_run_id']}`"
        )
    if wait and run["state"] != "success":
        raise typer.Exit(EXIT_FAILED)


@runs_app.command("status")
def runs_status(
    dag_id: Annotated[str, typer.Argument(help="The DAG.")],
    run_id: Annotated[str, typer.Argument(help="The run id, or 'latest'.")],
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a run's state and its task instances."""
    try:
        client = _client(server, token, username, password)
        run_id = _resolve_run(client, dag_id, run_id)
        run = client.get(_run_path(dag_id, run_id))
        tis = _task_instances(client, dag_id, run_id)
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json({**run, "task_instances": tis})
    else:
        _print_run(run, tis)


@runs_app.command("list")
def runs_list(
    dag_id: Annotated[str | None, typer.Argument(help="The DAG (default: every DAG).")] = None,
    *,
    state: Annotated[list[str] | None, typer.Option(help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the newest runs."""
    try:
        client = _client(server, token, username, password)
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if state:
            params["state"] = state
        data = client.request(
            "GET", f"/api/v2/dags/{_q(dag_id or '~')}/dagRuns", params=params
        ).json()
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
        return
    table = _table("dag_id", "run_id", "state", "type", "started", "duration")
    for run in data["dag_runs"]:
        duration = f"{run['duration']:.1f} s" if run.get("duration") is not None else ""
        table.add_row(
            run["dag_id"],
            run["dag_run_id"],
            run["state"],
            run["run_type"],
            (run.get("start_date") or "")[:19],
            duration,
        )
    _show(table)


@runs_app.command("logs")
def runs_logs(
    dag_id: Annotated[str, typer.Argument(help="The DAG.")],
    run_id: Annotated[str, typer.Argument(help="The run id, or 'latest'.")],
    task_id: Annotated[str | None, typer.Argument(help="One task (default: every task).")] = None,
    *,
    try_number: Annotated[
        int | None, typer.Option("--try", help="Which try (default: the latest).")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the task logs of a run."""
    try:
        client = _client(server, token, username, password)
        run_id = _resolve_run(client, dag_id, run_id)
        tis = _task_instances(client, dag_id, run_id)
        if task_id is not None:
            tis = [ti for ti in tis if ti["task_id"] == task_id]
            if not tis:
                raise ClientError(f"run {run_id} of {dag_id} has no task {task_id!r}")
        collected: dict[str, list[dict[str, Any]]] = {}
        for ti in sorted(tis, key=lambda t: (t.get("start_date") or "~", t["task_id"])):
            number = try_number or ti["try_number"]
            if not ti.get("start_date") and try_number is None:
                collected[ti["task_id"]] = []
                continue
            path = f"{_run_path(dag_id, run_id)}/taskInstances/{_q(ti['task_id'])}/logs/{number}"
            data = client.request(
                "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
            ).json()
            collected[ti["task_id"]] = list(data.get("content") or [])
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(collected)
        return
    for task, lines in collected.items():
        typer.echo(f"── {task} " + "─" * max(0, 60 - len(task)))
        if not lines:
            typer.echo("  (no log: the task has not run)")
        for line in lines:
            if isinstance(line, dict):
                stamp = str(line.get("timestamp") or "")[11:23]
                typer.echo(f"{stamp} {line.get('event', '')}")
            else:
                typer.echo(str(line))


# --- variables -------------------------------------------------------------------------------

variables_app = typer.Typer(help="Variables: list, get, set, delete.", no_args_is_help=True)


@variables_app.command("list")
def variables_list(
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """List variables (secret-looking values are masked by the server)."""
    try:
        data = _client(server, token, username, password).get("/api/v2/variables", limit=100)
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
        return
    table = _table("key", "value", "description")
    for var in data["variables"]:
        table.add_row(var["key"], str(var.get("value")), var.get("description") or "")
    _show(table)


@variables_app.command("get")
def variables_get(
    key: Annotated[str, typer.Argument(help="Variable key.")],
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a variable's value."""
    try:
        data = _client(server, token, username, password).get(f"/api/v2/variables/{_q(key)}")
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
    else:
        typer.echo(data.get("value"))


@variables_app.command("set")
def variables_set(
    key: Annotated[str, typer.Argument(help="Variable key.")],
    value: Annotated[str, typer.Argument(help="Value (text; JSON is kept as text, as Airflow).")],
    *,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update a variable."""
    body: dict[str, Any] = {"key": key, "value": value}
    if description is not None:
        body["description"] = description
    try:
        client = _client(server, token, username, password)
        try:
            data = client.request("POST", "/api/v2/variables", json=body).json()
        except ClientError as exc:
            if not str(exc).startswith("409"):
                raise
            data = client.request("PATCH", f"/api/v2/variables/{_q(key)}", json=body).json()
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
    else:
        typer.echo(f"Variable {key} set.")


@variables_app.command("delete")
def variables_delete(
    key: Annotated[str, typer.Argument(help="Variable key.")],
    *,
    server: ServerOption = None,
    token: TokenOption = None,
    username: UserOption = None,
    password: PasswordOption = None,
) -> None:
    """Delete a variable."""
    try:
        _client(server, token, username, password).request("DELETE", f"/api/v2/variables/{_q(key)}")
    except ClientError as exc:
        raise _fail(exc) from None
    typer.echo(f"Variable {key} deleted.")


# --- connections -----------------------------------------------------------------------------


def connection_from_uri(connection_id: str, uri: str) -> dict[str, Any]:
    """An Airflow connection URI (``postgres://user:pw@host:5432/db?sslmode=disable``) as an
    API body; query parameters become ``extra`` (``__extra__`` holds a JSON ``extra`` as is)."""
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ClientError(f"--uri {uri!r} has no scheme (e.g. postgres://…)", EXIT_USAGE)
    body: dict[str, Any] = {
        "connection_id": connection_id,
        "conn_type": parts.scheme.replace("-", "_"),
        "host": unquote(parts.hostname) if parts.hostname else None,
        "port": parts.port,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": unquote(parts.path.lstrip("/")) or None,
    }
    query = dict(parse_qsl(parts.query))
    if "__extra__" in query:
        body["extra"] = query["__extra__"]
    elif query:
        body["extra"] = json.dumps(query)
    return {k: v for k, v in body.items() if v is not None}


def register_connection_commands(connections_app: typer.Typer) -> None:
    """Add ``list``, ``get``, ``add`` and ``delete`` to the ``connections`` group."""

    @connections_app.command("list")
    def connections_list(
        *,
        server: ServerOption = None,
        token: TokenOption = None,
        username: UserOption = None,
        password: PasswordOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List connections (passwords are never shown)."""
        try:
            data = _client(server, token, username, password).get("/api/v2/connections", limit=100)
        except ClientError as exc:
            raise _fail(exc) from None
        if as_json:
            _print_json(data)
            return
        table = _table("connection_id", "type", "host", "port", "login", "schema")
        for conn in data["connections"]:
            table.add_row(
                conn["connection_id"],
                conn["conn_type"],
                conn.get("host") or "",
                str(conn.get("port") or ""),
                conn.get("login") or "",
                conn.get("schema") or "",
            )
        _show(table)

    @connections_app.command("get")
    def connections_get(
        connection_id: Annotated[str, typer.Argument(help="Connection id.")],
        *,
        server: ServerOption = None,
        token: TokenOption = None,
        username: UserOption = None,
        password: PasswordOption = None,
    ) -> None:
        """Print a connection (its password is write-only and never shown)."""
        try:
            data = _client(server, token, username, password).get(
                f"/api/v2/connections/{_q(connection_id)}"
            )
        except ClientError as exc:
            raise _fail(exc) from None
        _print_json(data)

    @connections_app.command("add")
    def connections_add(
        connection_id: Annotated[str, typer.Argument(help="Connection id.")],
        *,
        uri: Annotated[
            str | None, typer.Option(help="Airflow connection URI (instead of the fields).")
        ] = None,
        conn_type: Annotated[str | None, typer.Option(help="Type, e.g. postgres, http.")] = None,
        host: Annotated[str | None, typer.Option(help="Host.")] = None,
        port: Annotated[int | None, typer.Option(help="Port.")] = None,
        login: Annotated[str | None, typer.Option(help="Login.")] = None,
        conn_password: Annotated[
            str | None, typer.Option("--conn-password", help="Password (write-only).")
        ] = None,
        schema: Annotated[str | None, typer.Option(help="Schema / database.")] = None,
        extra: Annotated[str | None, typer.Option(help="Extra, a JSON object.")] = None,
        description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
        replace: Annotated[bool, typer.Option(help="Replace an existing connection.")] = False,
        server: ServerOption = None,
        token: TokenOption = None,
        username: UserOption = None,
        password: PasswordOption = None,
    ) -> None:
        """Add a connection (from --uri or from the fields)."""
        try:
            if uri:
                body = connection_from_uri(connection_id, uri)
            elif conn_type:
                body = {"connection_id": connection_id, "conn_type": conn_type}
            else:
                raise ClientError("give --uri or at least --conn-type", EXIT_USAGE)
            fields = {
                "host": host,
                "port": port,
                "login": login,
                "password": conn_password,
                "schema": schema,
                "extra": extra,
                "description": description,
            }
            body.update({k: v for k, v in fields.items() if v is not None})
            client = _client(server, token, username, password)
            try:
                client.request("POST", "/api/v2/connections", json=body)
            except ClientError as exc:
                if not (replace and str(exc).startswith("409")):
                    raise
                client.request("PATCH", f"/api/v2/connections/{_q(connection_id)}", json=body)
        except ClientError as exc:
            raise _fail(exc) from None
        typer.echo(f"Connection {connection_id} saved.")

    @connections_app.command("delete")
    def connections_delete(
        connection_id: Annotated[str, typer.Argument(help="Connection id.")],
        *,
        server: ServerOption = None,
        token: TokenOption = None,
        username: UserOption = None,
        password: PasswordOption = None,
    ) -> None:
        """Delete a connection."""
        try:
            _client(server, token, username, password).request(
                "DELETE", f"/api/v2/connections/{_q(connection_id)}"
            )
        except ClientError as exc:
            raise _fail(exc) from None
        typer.echo(f"Connection {connection_id} deleted.")


def register_client_commands(app: typer.Typer, connections_app: typer.Typer) -> None:
    """Add ``login``, ``logout``, ``dags``, ``runs``, ``variables`` and the API side of
    ``connections`` to the ``leoflow`` app."""
    app.command("login")(login_command)
    app.command("logout")(logout_command)
    app.add_typer(dags_app, name="dags")
    app.add_typer(runs_app, name="runs")
    app.add_typer(variables_app, name="variables")
    register_connection_commands(connections_app)
