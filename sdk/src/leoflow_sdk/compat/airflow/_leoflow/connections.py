"""``Connection`` and ``BaseHook`` at run time: Airflow Connections read from
``AIRFLOW_CONN_<ID>``.

The agent exports every delivered connection as an Airflow connection URI (extra as
``__extra__``, ADR 0015); a value starting with ``{`` is read as Airflow's JSON form, which
Airflow's environment backend also accepts. A missing connection raises
``AirflowNotFoundException`` with Airflow's message. Reading one while the DAG file is defined
(top-level code) is a compile error.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from leoflow_sdk.runtime.connection_uri import (
    ConnectionFields,
    connection_uri,
    parse_connection_json,
    parse_connection_uri,
)
from leoflow_sdk.runtime.contract import SECRETS_NOTICE, connection_env_name

from ..exceptions import AirflowNotFoundException
from .errors import NotSupportedError
from .task_context import require_running_task

_TOP_LEVEL_FIX = (
    "read it inside a task function (or a hook created there); a connection read at "
    "definition time would be frozen into the compiled DAG"
)


class Connection:
    """An Airflow connection (``airflow.sdk.Connection`` / ``airflow.models.Connection``)."""

    def __init__(  # noqa: PLR0917 - Airflow's own positional signature
        self,
        conn_id: str | None = None,
        conn_type: str | None = None,
        description: str | None = None,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        schema: str | None = None,
        port: int | None = None,
        extra: str | dict[str, Any] | None = None,
        uri: str | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.description = description
        if uri is not None:
            fields = parse_connection_uri(uri)
            conn_type, host, login, password = (
                fields["conn_type"],
                fields["host"],
                fields["login"],
                fields["password"],
            )
            schema, port, extra = fields["schema"], fields["port"], fields["extra"]
        self.conn_type = conn_type
        self.host = host
        self.login = login
        self.password = password
        self.schema = schema
        self.port = port
        self.extra: str | None = json.dumps(extra) if isinstance(extra, dict) else extra

    @classmethod
    def _from_fields(cls, conn_id: str, fields: ConnectionFields) -> Connection:
        return cls(conn_id=conn_id, **fields)

    @classmethod
    def from_env_value(cls, conn_id: str, value: str) -> Connection:
        """A connection from its ``AIRFLOW_CONN_<ID>`` value (a URI or Airflow's JSON form)."""
        if value.lstrip().startswith("{"):
            return cls._from_fields(conn_id, parse_connection_json(value))
        return cls._from_fields(conn_id, parse_connection_uri(value))

    @classmethod
    def from_json(cls, value: str, conn_id: str | None = None) -> Connection:
        """A connection from Airflow's JSON form."""
        return cls._from_fields(conn_id or "", parse_connection_json(value))

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """The connection ``conn_id`` delivered to this task (Airflow 3's ``Connection.get``)."""
        require_running_task(f"Connection.get({conn_id!r})", _TOP_LEVEL_FIX)
        value = os.environ.get(connection_env_name(conn_id))
        if value is None:
            message = f"The conn_id `{conn_id}` isn't defined"
            notice = os.environ.get(SECRETS_NOTICE)
            if notice:
                message += f" (connections were not delivered to this task: {notice})"
            raise AirflowNotFoundException(message)
        return cls.from_env_value(conn_id, value)

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        """Airflow 2's name of ``get``."""
        return cls.get(conn_id)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object (``{}`` when empty or not valid JSON, as Airflow)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            logging.getLogger("airflow.task").error(
                "extra of connection %s is not valid JSON", self.conn_id
            )
            return {}
        return value if isinstance(value, dict) else {}

    def get_extra_dejson(self, nested: bool = False) -> dict[str, Any]:
        """``extra_dejson`` (``nested`` is accepted for Airflow compatibility)."""
        del nested
        return self.extra_dejson

    def get_extra(self) -> str | None:
        """The ``extra`` text."""
        return self.extra

    def get_password(self) -> str | None:
        """The password."""
        return self.password

    def get_uri(self) -> str:
        """The connection as an Airflow URI (extra as ``__extra__``)."""
        return connection_uri(
            conn_type=self.conn_type,
            host=self.host,
            schema=self.schema,
            login=self.login,
            password=self.password,
            port=self.port,
            extra=self.extra,
        )

    def __repr__(self) -> str:
        # Never the password or the extra: a repr ends up in logs.
        return f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r})"


class BaseHook:
    """Base of Airflow hooks; ``get_connection`` reads the delivered connections."""

    def __init__(self, logger_name: str | None = None) -> None:
        self._logger_name = logger_name

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """The connection ``conn_id`` (``AirflowNotFoundException`` when not delivered)."""
        return Connection.get(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str, hook_params: dict[str, Any] | None = None) -> Any:
        """Provider hooks are not part of the shim: refused by name."""
        raise NotSupportedError(
            f"BaseHook.get_hook({conn_id!r}) (provider hooks)",
            fix="read the connection with BaseHook.get_connection() and build the client yourself",
        )

    def get_conn(self) -> Any:
        """Implemented by concrete hooks."""
        raise NotImplementedError

    @property
    def log(self) -> logging.Logger:
        """The hook's logger."""
        return logging.getLogger(self._logger_name or f"airflow.task.hooks.{type(self).__name__}")


__all__ = ["BaseHook", "Connection"]
