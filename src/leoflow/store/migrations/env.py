"""Alembic environment of Leoflow: runs the raw-SQL revisions through SQLAlchemy + psycopg 3.

The configuration is built in code by :mod:`leoflow.store.schema` (no ``alembic.ini``); it hands
over the SQLAlchemy URL in ``config.attributes["url"]`` so that a password never passes through
an ini-style interpolation. All pending revisions run in one transaction, behind a transaction
advisory lock: two replicas starting together migrate once, the second finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import create_engine, pool, text

from leoflow.store.schema import MIGRATION_LOCK_KEY, VERSION_TABLE

config = context.config


def _record_applied(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    """Tell the caller which revisions *this* process applied (another may have won the lock)."""
    if step.is_upgrade and step.up_revision_id is not None:
        config.attributes.setdefault("applied", []).append(step.up_revision_id)


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.attributes["url"],
        literal_binds=True,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the pending revisions against the database, serialized by an advisory lock."""
    engine = create_engine(config.attributes["url"], poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                version_table=VERSION_TABLE,
                transaction_per_migration=False,
                on_version_apply=_record_applied,
            )
            with context.begin_transaction():
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
