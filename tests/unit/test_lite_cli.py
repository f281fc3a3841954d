"""Lite's launcher decisions, the client CLI's helpers, no-login mode and variable delivery."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from harness.api import api_settings, create_test_user
from leoflow.agentapi.delivery import CipherUnavailableError, variables_for_task
from leoflow.api.app import create_app
from leoflow.auth.cli_credentials import forget_token, load_token, server_aliases, store_token
from leoflow.cli.client import ClientError, connection_from_uri
from leoflow.cli.main import app
from leoflow.config import Settings
from leoflow.lite import launcher
from leoflow.lite.doctor import run_checks
from leoflow.secrets import SecretCipher
from leoflow.secrets.cipher import generate_secret_key
from leoflow.secrets.variables import store_value
from leoflow.store import variables as variable_store
from leoflow.store.pool import Pool
from leoflow.store.tenants import get_default_tenant_id


def test_an_exposed_listener_needs_login() -> None:
    assert launcher.check_host("127.0.0.1", no_login=True) is None
    assert launcher.check_host("localhost", no_login=False) is None
    warning = launcher.check_host("0.0.0.0", no_login=False)
    assert warning is not None and "log in" in warning
    with pytest.raises(launcher.LiteStartupError, match="loopback"):
        launcher.check_host("0.0.0.0", no_login=True)


def test_an_empty_workspace_gets_the_starter(tmp_path: Path) -> None:
    made = launcher.ensure_workspace(tmp_path / "ws")
    assert made == tmp_path / "ws" / "starter"
    assert "dag_id: starter" in (made / "leoflow.yaml").read_text()
    assert launcher.ensure_workspace(tmp_path / "ws") is None  # not empty any more


def test_lite_defaults_do_not_override_explicit_settings() -> None:
    lite = launcher.lite_settings(Settings(), "subprocess")
    assert lite.agent_allow_insecure_secrets and lite.executor == "subprocess"
    explicit = launcher.lite_settings(Settings(agent_allow_insecure_secrets=False), "subprocess")
    assert not explicit.agent_allow_insecure_secrets


def test_the_executor_is_subprocess_unless_a_cluster_answers(tmp_path: Path) -> None:
    assert launcher.choose_executor("auto", Settings())[0] == "subprocess"
    assert launcher.choose_executor("subprocess", Settings())[0] == "subprocess"
    nowhere = Settings(kubernetes={"api_url": "http://127.0.0.1:9"})
    kind, why = launcher.choose_executor("auto", nowhere)
    assert kind == "subprocess" and "does not answer" in why
    with pytest.raises(launcher.LiteStartupError, match="--executor subprocess"):
        launcher.choose_executor("kubernetes", nowhere)
    with pytest.raises(launcher.LiteStartupError, match="must be one of"):
        launcher.choose_executor("docker", Settings())


def test_fresh_needs_a_confirmation_and_keeps_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "pgdata").mkdir(parents=True)
    (home / "logs").mkdir()
    (home / "venvs").mkdir()
    (home / "jwt_secret").write_text("s")
    settings = Settings(home=home)
    with pytest.raises(launcher.LiteStartupError, match="not confirmed"):
        launcher.confirm_fresh(settings, launcher.LiteOptions(fresh=True), lambda _: "yes")
    assert (home / "pgdata").exists()  # nothing deleted without confirmation (no tty here)
    launcher.confirm_fresh(settings, launcher.LiteOptions(fresh=True, yes=True), input)
    assert not (home / "pgdata").exists() and not (home / "logs").exists()
    assert (home / "venvs").exists() and (home / "jwt_secret").exists()
    external = Settings(home=home, database_url="postgresql://x@127.0.0.1/db")
    with pytest.raises(launcher.LiteStartupError, match="LEOFLOW_DATABASE_URL"):
        launcher.confirm_fresh(external, launcher.LiteOptions(fresh=True, yes=True), input)


def test_missing_ui_files_only_warn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from leoflow.web import assets

    calls: list[Path] = []

    def offline(dest: Path, **_: object) -> None:
        calls.append(dest)
        raise assets.AssetError("no network")

    monkeypatch.setattr(assets, "provision", offline)
    said: list[str] = []
    line = launcher.ensure_ui_assets(Settings(home=tmp_path), said.append)
    assert calls == [assets.default_assets_dir(tmp_path)]
    assert line.startswith("not installed") and any("no network" in s for s in said)


def test_lite_subcommands_and_the_default_start() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["lite", "--help"])
    assert result.exit_code == 0
    for name in ("start", "reset-password", "backup", "restore"):
        assert name in result.output
    # `leoflow lite --host 0.0.0.0 --no-login` is `leoflow lite start …` and is refused.
    refused = runner.invoke(app, ["lite", "--host", "0.0.0.0", "--no-login"])
    assert refused.exit_code == 2


def test_doctor_reports_every_check(tmp_path: Path) -> None:
    checks = {c.name: c for c in run_checks(Settings(home=tmp_path))}
    assert {"python", "embedded postgres", "uv", "disk", "web ui", "port"} <= set(checks)
    assert checks["python"].status == "ok"
    result = CliRunner().invoke(app, ["doctor", "--json"], env={"LEOFLOW_HOME": str(tmp_path)})
    assert json.loads(result.output)["checks"]


def test_stored_tokens_cover_loopback_aliases(tmp_path: Path) -> None:
    assert "http://localhost:8088" in server_aliases("http://127.0.0.1:8088/")
    assert server_aliases("https://leoflow.example.com") == ["https://leoflow.example.com"]
    path = store_token(tmp_path, "http://127.0.0.1:8088", "tok", "admin")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_token(tmp_path, "http://localhost:8088/") == ("tok", "admin")
    assert forget_token(tmp_path, "http://127.0.0.1:8088")
    assert load_token(tmp_path, "http://127.0.0.1:8088") is None


def test_connection_uris_become_api_bodies() -> None:
    body = connection_from_uri("db", "postgres://u:p%40ss@db.local:5433/warehouse?sslmode=off")
    assert body == {
        "connection_id": "db",
        "conn_type": "postgres",
        "host": "db.local",
        "port": 5433,
        "login": "u",
        "password": "p@ss",
        "schema": "warehouse",
        "extra": '{"sslmode": "off"}',
    }
    with pytest.raises(ClientError):
        connection_from_uri("db", "no-scheme")


def test_client_errors_name_the_fix() -> None:
    result = CliRunner().invoke(app, ["dags", "list", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach Leoflow" in result.output and "leoflow lite" in result.output


async def test_no_login_mode_serves_local_callers_only(db_pool: Pool) -> None:
    user = await create_test_user(db_pool, "Admin", username="lite-admin")
    api = create_app(db_pool, api_settings())
    async with api.router.lifespan_context(api):
        api.state.security.open_access_user = user.username

        async def dags(base_url: str, client: tuple[str, int]) -> int:
            transport = httpx.ASGITransport(app=api, client=client)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
                return (await http.get("/api/v2/dags")).status_code

        assert await dags("http://127.0.0.1:8088", ("127.0.0.1", 5000)) == 200
        assert await dags("http://localhost:8088", ("127.0.0.1", 5000)) == 200
        # Another machine, or a web page that re-pointed its own name at 127.0.0.1.
        assert await dags("http://127.0.0.1:8088", ("192.0.2.7", 5000)) == 401
        assert await dags("http://evil.example:8088", ("127.0.0.1", 5000)) == 401
        api.state.security.open_access_user = None
        assert await dags("http://127.0.0.1:8088", ("127.0.0.1", 5000)) == 401


async def test_sealed_variables_reach_tasks_in_plaintext(db_pool: Pool) -> None:
    cipher = SecretCipher.from_settings_values(generate_secret_key())
    tenant = await get_default_tenant_id(db_pool)
    sealed = store_value(cipher, tenant, "limits", '{"max": 5}')
    await variable_store.create_variable(
        db_pool, tenant, "limits", sealed.value, is_encrypted=sealed.is_encrypted
    )
    await variable_store.create_variable(db_pool, tenant, "plain", "text")
    assert await variables_for_task(db_pool, tenant, [], cipher) == {
        "limits": '{"max": 5}',
        "plain": "text",
    }
    assert await variables_for_task(db_pool, tenant, ["limits"], cipher) == {"limits": '{"max": 5}'}
    with pytest.raises(CipherUnavailableError, match="limits"):
        await variables_for_task(db_pool, tenant, ["limits"], None)
