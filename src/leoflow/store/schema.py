"""Schema migrations: bring a database to the code's schema, or tell how far apart they are.

Alembic runs the raw-SQL revisions in ``leoflow/store/migrations/versions``; its configuration
is built here in code, so no ``alembic.ini`` has to ship or be found. These functions are
synchronous (migration tooling runs before any event loop work; from async code call them
through ``asyncio.to_thread``).

A database can be in three states relative to the code:

* up to date — nothing to do;
* behind — revisions are pending: ``leoflow db migrate`` applies them;
* ahead — the database carries a revision this code does not know: it was migrated by a newer
  Leoflow, and this (older) Leoflow must not touch it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.exc import OperationalError

from leoflow.store.dsn import redact, sqlalchemy_url

VERSION_TABLE = "leoflow_alembic_version"
"""Our own version table, so a database shared with another Alembic user (say, an old Airflow
metadata database) is never mistaken for a Leoflow one."""

MIGRATION_LOCK_KEY = 0x1E0F_DB
"""Advisory lock key serializing concurrent migrations (several replicas starting at once)."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaState(StrEnum):
    """Where the database stands relative to the revisions shipped with this code."""

    UP_TO_DATE = "up_to_date"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass(frozen=True)
class MigrationStatus:
    """Result of :func:`check`: the state, the revisions on both sides and what is pending."""

    state: SchemaState
    current: str | None
    head: str
    pending: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the database can be used by this code as is."""
        return self.state is SchemaState.UP_TO_DATE

    @property
    def message(self) -> str:
        """One sentence for a person: the state and, when something is wrong, the fix."""
        if self.state is SchemaState.UP_TO_DATE:
            return f"Database schema is up to date (revision {self.head})."
        if self.state is SchemaState.BEHIND:
            count = len(self.pending)
            plural = "revision" if count == 1 else "revisions"
            at = f"revision {self.current}" if self.current else "an empty schema"
            return (
                f"Database schema is behind: {count} pending {plural} (database at {at}, "
                f"code at {self.head}). Run `leoflow db migrate`."
            )
        return (
            f"Database schema is ahead (database at revision {self.current}, unknown to this "
            f"Leoflow whose newest is {self.head}): this database was migrated by a newer "
            "Leoflow; upgrade leoflow."
        )


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate` did: the revision before and after, and the revisions it applied.

    ``applied`` is empty when another process migrated the database first (``previous`` is
    then what this process saw before waiting for it).
    """

    previous: str | None
    current: str
    applied: tuple[str, ...]


class SchemaError(RuntimeError):
    """Base of the migration tooling errors; the message is meant for the operator."""


class DatabaseAheadError(SchemaError):
    """The database was migrated by a newer Leoflow; this code refuses to touch it."""


class DatabaseUnavailableError(SchemaError):
    """The database cannot be reached; the message names where (never the password)."""


def alembic_config(dsn: str) -> Config:
    """An Alembic configuration for ``dsn``, built in code (for tooling and revision authors)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    config.attributes["url"] = sqlalchemy_url(dsn)
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revision 0001
        raise SchemaError("no migration revisions found in the installed package")
    return head


@contextmanager
def _connect(dsn: str) -> Iterator[Connection]:
    engine = create_engine(sqlalchemy_url(dsn), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    except OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database at {redact(dsn)}: {exc.orig}"
        ) from exc
    finally:
        engine.dispose()


def current_revision(dsn: str) -> str | None:
    """The revision the database is at; ``None`` for a database never migrated."""
    with _connect(dsn) as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        heads = context.get_current_heads()
    return heads[0] if heads else None


def _pending(script: ScriptDirectory, head: str, current: str | None) -> tuple[str, ...] | None:
    """Revisions between ``current`` and ``head`` (oldest first); ``None`` if current is unknown."""
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            return None
    revisions = script.iterate_revisions(head, current or "base")
    return tuple(reversed([rev.revision for rev in revisions if rev.revision != current]))


def check(dsn: str) -> MigrationStatus:
    """Compare the database with the code without changing anything."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = head_revision()
    current = current_revision(dsn)
    if current == head:
        return MigrationStatus(SchemaState.UP_TO_DATE, current, head)
    pending = _pending(script, head, current)
    if pending is None:
        return MigrationStatus(SchemaState.AHEAD, current, head)
    return MigrationStatus(SchemaState.BEHIND, current, head, pending)


def migrate(dsn: str) -> MigrationResult:
    """Apply every pending revision; a no-op on an up-to-date database.

    Refuses (``DatabaseAheadError``) a database migrated by a newer Leoflow rather than guess.
    Safe to run from several processes at once: the revisions run behind an advisory lock.
    Not from several threads of one process: Alembic's migration context is process-global.
    """
    before = check(dsn)
    if before.state is SchemaState.AHEAD:
        raise DatabaseAheadError(before.message)
    applied: tuple[str, ...] = ()
    if before.state is SchemaState.BEHIND:
        config = alembic_config(dsn)
        try:
            command.upgrade(config, "head")
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"cannot migrate the database at {redact(dsn)}: {exc.orig}"
            ) from exc
        applied = tuple(config.attributes.get("applied", ()))
    after = current_revision(dsn) or before.head
    return MigrationResult(previous=before.current, current=after, applied=applied)


def downgrade(dsn: str, revision: str = "base") -> None:
    """Revert to ``revision`` (default: drop everything). Destroys data: development and tests."""
    command.downgrade(alembic_config(dsn), revision)
