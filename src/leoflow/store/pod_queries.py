"""The note of a try: where the Kubernetes executor says why the platform failed it.

State moves only through the guarded transitions; the note is a side fact next to the state
that tells a user why their try failed without their code failing (image pull, OOM kill,
eviction…), as Airflow users read it in the task instance's note.
"""

from __future__ import annotations

from uuid import UUID

from leoflow.store.pool import Database, acquire


async def set_try_note(db: Database, ti_id: UUID, try_number: int, note: str) -> bool:
    """Set the note of one try, if it is still the current try of its task instance."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "UPDATE task_instances SET note = %s WHERE id = %s AND try_number = %s",
            (note, ti_id, try_number),
        )
        return cur.rowcount == 1
