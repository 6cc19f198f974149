"""Recording a job in the outbox from inside a caller's transaction (docs/contract.md §14).

The caller (a request handler) passes its own session and commits it with
its change; nothing here commits, so a rollback drops the job with the
change. A second call with the same ``idempotency_key`` records nothing
(``ON CONFLICT DO NOTHING``): a retried request does not ask twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db.models.outbox import OutboxJob


async def enqueue_job(
    session: AsyncSession,
    *,
    job: str,
    payload: dict[str, Any],
    idempotency_key: str,
    request_id: str | None,
) -> bool:
    """Add ``job`` to the outbox in ``session``'s transaction; ``False`` if the key was already there."""
    statement = (
        insert(OutboxJob)
        .values(job=job, payload=payload, idempotency_key=idempotency_key, request_id=request_id)
        .on_conflict_do_nothing(index_elements=[OutboxJob.idempotency_key])
        .returning(OutboxJob.id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none() is not None
