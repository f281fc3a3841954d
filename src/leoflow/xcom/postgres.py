"""XCom in the metadata database (the ``xcom`` table): Lite's backend, nothing else to run.

Expiry is a column: reads ignore expired rows at once, and a periodic sweep deletes them in
small batches so a large backlog never holds a long lock. Rows belong to their run
(``ON DELETE CASCADE``), so deleting a run forgets its XComs too.
"""

from __future__ import annotations

from datetime import timedelta

from leoflow.store.pool import Database, single_statement
from leoflow.xcom.backend import UNMAPPED, RunScope, StoredXCom, XComAddress

SWEEP_BATCH = 1000

_COLUMNS = "task_id, key, map_index, value, content_type, created_at, expires_at"
_LIVE = "(expires_at IS NULL OR expires_at > now())"


def _stored(row: tuple[object, ...]) -> StoredXCom:
    task_id, key, map_index, value, content_type, created_at, expires_at = row
    return StoredXCom(
        task_id=str(task_id),
        key=str(key),
        map_index=int(map_index),  # type: ignore[call-overload]
        value=bytes(value),  # type: ignore[call-overload]
        content_type=str(content_type),
        created_at=created_at,  # type: ignore[arg-type]
        expires_at=expires_at,  # type: ignore[arg-type]
    )


class PostgresXComBackend:
    """The ``xcom`` table through the store's pool."""

    name = "postgres"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(
        self, address: XComAddress, value: bytes, content_type: str, ttl_seconds: int
    ) -> None:
        async with single_statement(self._db) as conn:
            await conn.execute(
                """
                INSERT INTO xcom (run_uuid, task_id, map_index, key, value, content_type,
                                  expires_at)
                VALUES (%s, %s, %s, %s, %s, %s, now() + %s)
                ON CONFLICT (run_uuid, task_id, map_index, key) DO UPDATE SET
                    value = EXCLUDED.value, content_type = EXCLUDED.content_type,
                    expires_at = EXCLUDED.expires_at, created_at = now()
                """,
                (
                    address.scope.run_uuid,
                    address.task_id,
                    address.map_index,
                    address.key,
                    value,
                    content_type,
                    timedelta(seconds=ttl_seconds),
                ),
            )

    async def get(self, address: XComAddress) -> StoredXCom | None:
        async with single_statement(self._db) as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM xcom WHERE run_uuid = %s AND task_id = %s "
                f"AND map_index = %s AND key = %s AND {_LIVE}",
                (address.scope.run_uuid, address.task_id, address.map_index, address.key),
            )
            row = await cur.fetchone()
        return None if row is None else _stored(row)

    async def sizes(self, addresses: list[XComAddress]) -> list[int | None]:
        if not addresses:
            return []
        run_uuid = addresses[0].scope.run_uuid
        if any(a.scope.run_uuid != run_uuid for a in addresses):
            raise ValueError("sizes() reads the XComs of one run at a time")
        async with single_statement(self._db) as conn:
            cur = await conn.execute(
                f"""
                SELECT x.task_id, x.map_index, x.key, x.size FROM xcom x
                JOIN unnest(%s::text[], %s::integer[], %s::text[]) AS w (task_id, map_index, key)
                  ON w.task_id = x.task_id AND w.map_index = x.map_index AND w.key = x.key
                WHERE x.run_uuid = %s AND {_LIVE}
                """,
                (
                    [a.task_id for a in addresses],
                    [a.map_index for a in addresses],
                    [a.key for a in addresses],
                    run_uuid,
                ),
            )
            found = {(r[0], r[1], r[2]): int(r[3]) for r in await cur.fetchall()}
        return [found.get((a.task_id, a.map_index, a.key)) for a in addresses]

    async def list_run(self, scope: RunScope) -> list[StoredXCom]:
        async with single_statement(self._db) as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM xcom WHERE run_uuid = %s AND {_LIVE} "
                "ORDER BY task_id, map_index, key",
                (scope.run_uuid,),
            )
            return [_stored(row) for row in await cur.fetchall()]

    async def delete(self, address: XComAddress) -> bool:
        async with single_statement(self._db) as conn:
            cur = await conn.execute(
                "DELETE FROM xcom WHERE run_uuid = %s AND task_id = %s AND map_index = %s "
                f"AND key = %s RETURNING {_LIVE}",
                (address.scope.run_uuid, address.task_id, address.map_index, address.key),
            )
            row = await cur.fetchone()
        return bool(row and row[0])

    async def delete_task(self, scope: RunScope, task_id: str, map_index: int = UNMAPPED) -> int:
        async with single_statement(self._db) as conn:
            cur = await conn.execute(
                "DELETE FROM xcom WHERE run_uuid = %s AND task_id = %s AND map_index = %s",
                (scope.run_uuid, task_id, map_index),
            )
            return cur.rowcount

    async def delete_run(self, scope: RunScope) -> int:
        async with single_statement(self._db) as conn:
            cur = await conn.execute("DELETE FROM xcom WHERE run_uuid = %s", (scope.run_uuid,))
            return cur.rowcount

    async def sweep_expired(self) -> int:
        removed = 0
        while True:
            async with single_statement(self._db) as conn:
                cur = await conn.execute(
                    """
                    DELETE FROM xcom WHERE ctid IN (
                        SELECT ctid FROM xcom WHERE expires_at <= now() LIMIT %s
                    )
                    """,
                    (SWEEP_BATCH,),
                )
                batch = cur.rowcount
            removed += batch
            if batch < SWEEP_BATCH:
                return removed

    async def close(self) -> None:
        """The pool belongs to the caller."""
