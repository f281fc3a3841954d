"""Variables and Connections, read the Airflow way, used against the local PostgreSQL.

Set them once (the CLI talks to the running Lite):

    leoflow variables set report_greeting "Hello from Leoflow"
    leoflow variables set report_limits '{"max_tables": 5}'
    leoflow connections add leoflow_db --uri 'postgres://postgres@127.0.0.1:5432/postgres'

The connection's password is stored encrypted and handed to the task only, never logged.
``psycopg`` is this DAG's own dependency (``leoflow.yaml``), installed in its own virtualenv.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import BaseHook, Variable, dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["example", "db"])
def variables_connections():
    @task
    def read_settings() -> dict:
        greeting = Variable.get("report_greeting", default="Hello")
        limits = Variable.get("report_limits", default={"max_tables": 3}, deserialize_json=True)
        print(f"greeting: {greeting}; limits: {sorted(limits)}")
        return {"greeting": greeting, "max_tables": int(limits["max_tables"])}

    @task
    def query_database(settings: dict) -> list[str]:
        import psycopg

        conn = BaseHook.get_connection("leoflow_db")
        params = {"host": conn.host, "port": conn.port or 5432, "user": conn.login}
        params["dbname"] = conn.schema or "postgres"
        if conn.password:
            params["password"] = conn.password
        with psycopg.connect(**params, connect_timeout=10) as db:
            version = db.execute("SHOW server_version").fetchone()[0]
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY table_name LIMIT %s",
                    (settings["max_tables"],),
                )
            ]
        print(f"{settings['greeting']}: PostgreSQL {version}, first tables: {tables}")
        return tables

    query_database(read_settings())


variables_connections()
