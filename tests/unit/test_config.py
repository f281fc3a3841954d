"""Configuration layering: env over YAML file over defaults; unknown and duplicate keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leoflow.config import ConfigFileError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEOFLOW_CONFIG_FILE", raising=False)
    settings = load_settings()
    assert settings.api_port == 8088
    assert settings.api_host == "127.0.0.1"
    assert settings.heartbeat_timeout_seconds == 90.0


def test_env_wins_over_file_which_wins_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "leoflow.yaml"
    config.write_text("api_port: 9000\nlog_format: console\ntask_defaults:\n  retries: 2\n")
    monkeypatch.setenv("LEOFLOW_CONFIG_FILE", str(config))
    monkeypatch.setenv("LEOFLOW_API_PORT", "9001")
    settings = load_settings()
    assert settings.api_port == 9001
    assert settings.log_format == "console"
    assert settings.task_defaults.retries == 2


def test_nested_env_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEOFLOW_TASK_DEFAULTS__RETRIES", "4")
    assert load_settings().task_defaults.retries == 4


def test_unknown_key_in_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leoflow.yaml"
    config.write_text("api_prot: 9000\n")
    monkeypatch.setenv("LEOFLOW_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="api_prot"):
        load_settings()


def test_duplicate_key_in_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leoflow.yaml"
    config.write_text("api_port: 9000\napi_port: 9001\n")
    monkeypatch.setenv("LEOFLOW_CONFIG_FILE", str(config))
    with pytest.raises(ConfigFileError, match="api_port"):
        load_settings()


def test_missing_file_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEOFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigFileError, match="LEOFLOW_CONFIG_FILE"):
        load_settings()


def test_database_url_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEOFLOW_DATABASE_URL", "postgresql://u:hunter2@db/leoflow")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert settings.database_dsn() == "postgresql://u:hunter2@db/leoflow"


def test_paused_at_creation_follows_the_edition(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(edition="pro").paused_at_creation() is True
    assert load_settings(edition="lite").paused_at_creation() is False
    assert load_settings(edition="lite", dags_are_paused_at_creation=True).paused_at_creation()
