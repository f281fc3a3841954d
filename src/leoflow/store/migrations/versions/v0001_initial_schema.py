"""Initial schema: tenants, auth, DAGs and their versions, runs, task instances, XCom, secrets.

Revision ID: 0001
Revises: (none)

Written as raw SQL, frozen in time: state values are literals here, not imported from
``leoflow.states``, so that a later change of the enums cannot silently rewrite history. A test
(``tests/store/test_schema_catalog.py``) checks that these literals equal the enums.

Conventions:

* every table has a UUID (or identity) primary key named ``id``; a foreign key to ``dags`` or
  ``dag_runs`` is called ``dag_uuid`` / ``run_uuid`` because ``dag_id`` and ``run_id`` are the
  human, Airflow-facing names;
* top-level aggregates carry ``tenant_id``; their children reach the tenant through the parent;
* every foreign key column is the leading column of an index (checked by a test);
* ``updated_at`` is maintained by a trigger, so no writer can forget it.
"""

from __future__ import annotations

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TASK_STATES = (
    "'none', 'scheduled', 'queued', 'running', 'deferred', 'success', 'failed', "
    "'skipped', 'upstream_failed', 'up_for_retry', 'removed'"
)
_NON_TERMINAL_TASK_STATES = "'none', 'scheduled', 'queued', 'running', 'deferred', 'up_for_retry'"
_RUN_STATES = "'queued', 'running', 'success', 'failed'"

_TRY_COLUMNS = f"""
    state text NOT NULL DEFAULT 'none' CHECK (state IN ({_TASK_STATES})),
    try_number integer NOT NULL DEFAULT 1 CHECK (try_number >= 1),
    max_tries integer NOT NULL DEFAULT 0 CHECK (max_tries >= 0),
    next_retry_at timestamptz,
    last_heartbeat_at timestamptz,
    queued_at timestamptz,
    start_date timestamptz,
    end_date timestamptz,
    duration double precision,
    queued_by text,
    executor text,
    executor_ref text,
    hostname text,
    pid integer,
    note text,
    rendered_fields jsonb,
    dispatch_attempts integer NOT NULL DEFAULT 0 CHECK (dispatch_attempts >= 0)
"""
"""Columns describing one try; shared by ``task_instances`` and ``task_instance_history``."""

_UPDATED_AT_TABLES = (
    "tenants",
    "users",
    "roles",
    "dags",
    "dag_runs",
    "task_instances",
    "variables",
    "connections",
)

UPGRADE: tuple[str, ...] = (
    """
    CREATE FUNCTION leoflow_set_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$
    """,
    # --- tenants and access control -------------------------------------------------------
    """
    CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "INSERT INTO tenants (name, description) VALUES ('default', 'The tenant of a fresh install')",
    """
    CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        username text NOT NULL UNIQUE,
        email text,
        first_name text,
        last_name text,
        password_hash text,
        is_active boolean NOT NULL DEFAULT true,
        last_login_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    COMMENT ON TABLE users IS
    'Identities are global; what a user may do in a tenant comes from roles of that tenant.'
    """,
    """
    CREATE TABLE roles (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        name text NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, name)
    )
    """,
    """
    CREATE TABLE permissions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        action text NOT NULL,
        resource text NOT NULL,
        UNIQUE (action, resource)
    )
    """,
    """
    CREATE TABLE role_permissions (
        role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
        permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
        PRIMARY KEY (role_id, permission_id)
    )
    """,
    "CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id)",
    """
    CREATE TABLE user_roles (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, role_id)
    )
    """,
    "CREATE INDEX user_roles_role_idx ON user_roles (role_id)",
    # --- DAGs and their immutable versions ------------------------------------------------
    """
    CREATE TABLE dags (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        dag_id text NOT NULL CHECK (dag_id <> ''),
        description text,
        is_paused boolean NOT NULL DEFAULT true,
        is_active boolean NOT NULL DEFAULT true,
        latest_version_id uuid,
        owners text[] NOT NULL DEFAULT '{}',
        tags text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, dag_id)
    )
    """,
    "CREATE INDEX dags_tags_idx ON dags USING gin (tags)",
    """
    CREATE TABLE dag_versions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        dag_uuid uuid NOT NULL REFERENCES dags (id) ON DELETE CASCADE,
        version_number integer NOT NULL CHECK (version_number >= 1),
        spec jsonb NOT NULL,
        spec_hash text NOT NULL CHECK (spec_hash <> ''),
        image text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (dag_uuid, spec_hash),
        UNIQUE (dag_uuid, version_number)
    )
    """,
    """
    ALTER TABLE dags ADD CONSTRAINT dags_latest_version_id_fkey
        FOREIGN KEY (latest_version_id) REFERENCES dag_versions (id) ON DELETE SET NULL
    """,
    "CREATE INDEX dags_latest_version_idx ON dags (latest_version_id)",
    # --- runs ------------------------------------------------------------------------------
    f"""
    CREATE TABLE dag_runs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        dag_uuid uuid NOT NULL REFERENCES dags (id) ON DELETE CASCADE,
        run_id text NOT NULL CHECK (run_id <> ''),
        dag_version_id uuid NOT NULL REFERENCES dag_versions (id),
        state text NOT NULL DEFAULT 'queued' CHECK (state IN ({_RUN_STATES})),
        run_type text NOT NULL CHECK (run_type IN ('manual', 'scheduled', 'backfill')),
        triggered_by text,
        logical_date timestamptz,
        data_interval_start timestamptz,
        data_interval_end timestamptz,
        run_after timestamptz NOT NULL DEFAULT now(),
        conf jsonb NOT NULL DEFAULT '{{}}',
        note text,
        queued_at timestamptz,
        start_date timestamptz,
        end_date timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (dag_uuid, run_id),
        CHECK (data_interval_start IS NULL OR data_interval_end IS NULL
               OR data_interval_start <= data_interval_end)
    )
    """,
    "CREATE INDEX dag_runs_dag_state_idx ON dag_runs (dag_uuid, state)",
    "CREATE INDEX dag_runs_dag_run_after_idx ON dag_runs (dag_uuid, run_after DESC)",
    "CREATE INDEX dag_runs_version_idx ON dag_runs (dag_version_id)",
    """
    CREATE INDEX dag_runs_active_idx ON dag_runs (state)
        WHERE state IN ('queued', 'running')
    """,
    # --- task instances (current try) and their earlier tries ------------------------------
    f"""
    CREATE TABLE task_instances (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        run_uuid uuid NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id text NOT NULL CHECK (task_id <> ''),
        map_index integer NOT NULL DEFAULT -1 CHECK (map_index >= -1),
        {_TRY_COLUMNS},
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (run_uuid, task_id, map_index)
    )
    """,
    f"""
    CREATE INDEX task_instances_unfinished_idx ON task_instances (state)
        WHERE state IN ({_NON_TERMINAL_TASK_STATES})
    """,
    """
    CREATE INDEX task_instances_retry_due_idx ON task_instances (next_retry_at)
        WHERE state = 'up_for_retry'
    """,
    """
    CREATE INDEX task_instances_heartbeat_idx ON task_instances (last_heartbeat_at)
        WHERE state = 'running'
    """,
    """
    CREATE INDEX task_instances_queued_idx ON task_instances (queued_at)
        WHERE state = 'queued'
    """,
    f"""
    CREATE TABLE task_instance_history (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        task_instance_id uuid NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
        run_uuid uuid NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id text NOT NULL,
        map_index integer NOT NULL,
        {_TRY_COLUMNS},
        archived_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (task_instance_id, try_number)
    )
    """,
    "CREATE INDEX task_instance_history_run_idx ON task_instance_history (run_uuid)",
    # --- XCom (Lite backend; Pro uses Redis) ---------------------------------------------------
    """
    CREATE TABLE xcom (
        run_uuid uuid NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id text NOT NULL,
        map_index integer NOT NULL DEFAULT -1,
        key text NOT NULL DEFAULT 'return_value',
        value bytea NOT NULL,
        size integer GENERATED ALWAYS AS (octet_length(value)) STORED,
        content_type text NOT NULL DEFAULT 'application/json',
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_uuid, task_id, map_index, key)
    )
    """,
    "CREATE INDEX xcom_expires_idx ON xcom (expires_at) WHERE expires_at IS NOT NULL",
    # --- variables and connections (secrets are encrypted by the application) --------------
    """
    CREATE TABLE variables (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        key text NOT NULL CHECK (key <> ''),
        value text,
        description text,
        is_encrypted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, key)
    )
    """,
    """
    CREATE TABLE connections (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        conn_id text NOT NULL CHECK (conn_id <> ''),
        conn_type text NOT NULL,
        description text,
        host text,
        schema text,
        login text,
        password_encrypted bytea,
        port integer CHECK (port BETWEEN 0 AND 65535),
        extra_encrypted bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, conn_id)
    )
    """,
    # --- audit, import errors, favourites ------------------------------------------------------
    """
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        event text NOT NULL,
        actor text,
        dag_id text,
        run_id text,
        task_id text,
        extra jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX audit_log_tenant_created_idx ON audit_log (tenant_id, created_at DESC)",
    "CREATE INDEX audit_log_created_idx ON audit_log (created_at)",
    """
    CREATE TABLE import_errors (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        filename text NOT NULL,
        stacktrace text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, filename)
    )
    """,
    """
    CREATE TABLE dag_favorites (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        dag_uuid uuid NOT NULL REFERENCES dags (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, dag_uuid)
    )
    """,
    "CREATE INDEX dag_favorites_dag_idx ON dag_favorites (dag_uuid)",
    # --- staging volumes (Pro: one PVC per run) and deferred-task triggers -------------------
    """
    CREATE TABLE staging_volumes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        run_uuid uuid NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        pvc_name text NOT NULL UNIQUE,
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleted')),
        size text,
        storage_class text,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CHECK ((state = 'deleted') = (deleted_at IS NOT NULL))
    )
    """,
    "CREATE INDEX staging_volumes_run_idx ON staging_volumes (run_uuid)",
    """
    CREATE INDEX staging_volumes_active_idx ON staging_volumes (created_at)
        WHERE state = 'active'
    """,
    """
    CREATE TABLE triggers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        classpath text NOT NULL,
        kwargs jsonb NOT NULL DEFAULT '{}',
        task_instance_id uuid NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
        triggerer_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        timeout_at timestamptz
    )
    """,
    "CREATE INDEX triggers_task_instance_idx ON triggers (task_instance_id)",
    "CREATE INDEX triggers_triggerer_idx ON triggers (triggerer_id)",
    "CREATE INDEX triggers_timeout_idx ON triggers (timeout_at) WHERE timeout_at IS NOT NULL",
    """
    CREATE TABLE scheduler_heartbeats (
        scheduler_id text PRIMARY KEY,
        hostname text NOT NULL,
        pid integer NOT NULL,
        is_leader boolean NOT NULL DEFAULT false,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX scheduler_heartbeats_heartbeat_idx ON scheduler_heartbeats (heartbeat_at)",
    *(
        f"""
        CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION leoflow_set_updated_at()
        """
        for table in _UPDATED_AT_TABLES
    ),
)
"""Statements of the upgrade, one per ``op.execute`` (the driver runs one statement at a time)."""

DOWNGRADE: tuple[str, ...] = (
    "DROP TABLE IF EXISTS scheduler_heartbeats",
    "DROP TABLE IF EXISTS triggers",
    "DROP TABLE IF EXISTS staging_volumes",
    "DROP TABLE IF EXISTS dag_favorites",
    "DROP TABLE IF EXISTS import_errors",
    "DROP TABLE IF EXISTS audit_log",
    "DROP TABLE IF EXISTS connections",
    "DROP TABLE IF EXISTS variables",
    "DROP TABLE IF EXISTS xcom",
    "DROP TABLE IF EXISTS task_instance_history",
    "DROP TABLE IF EXISTS task_instances",
    "DROP TABLE IF EXISTS dag_runs",
    "ALTER TABLE IF EXISTS dags DROP CONSTRAINT IF EXISTS dags_latest_version_id_fkey",
    "DROP TABLE IF EXISTS dag_versions",
    "DROP TABLE IF EXISTS dags",
    "DROP TABLE IF EXISTS user_roles",
    "DROP TABLE IF EXISTS role_permissions",
    "DROP TABLE IF EXISTS permissions",
    "DROP TABLE IF EXISTS roles",
    "DROP TABLE IF EXISTS users",
    "DROP TABLE IF EXISTS tenants",
    "DROP FUNCTION IF EXISTS leoflow_set_updated_at()",
)


def upgrade() -> None:
    """Create the whole schema on an empty database."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything the upgrade created (destroys all data; for development and tests)."""
    for statement in DOWNGRADE:
        op.execute(statement)
