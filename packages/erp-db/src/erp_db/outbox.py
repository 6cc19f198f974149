"""Recording a job in the outbox from inside a caller's transaction (docs/contract.md §14).

The caller (a request handler) passes its own session and commits it with
its change; nothing here commits, so a rollback drops the job with the
change. A second record with the same ``idempotency_key`` writes nothing
(``ON CONFLICT DO NOTHING``): a retried request does not ask twice.

Two ways in. :func:`outbox_insert` is the statement alone, for a change
whose payload is known before it runs: attached to the change's own
statement with ``.add_cte(...)``, it rides in the same round trip as a
PostgreSQL data-modifying CTE, which runs exactly once whether or not the
outer statement reads it. :func:`enqueue_job` runs it on its own (one more
round trip) and says whether a row was written.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db.models.outbox import OutboxJob

_OUTBOX: Table = OutboxJob.__table__  # type: ignore[assignment]


def outbox_insert(
    *, job: str, payload: dict[str, Any], idempotency_key: str, request_id: str | None
) -> Insert:
    """The ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` of one job; run it, or ``add_cte`` it.

    SQLAlchemy renders a CTE given to ``add_cte`` in the ``WITH`` clause even
    though nothing refers to it: ``insert(invitations).values(...).add_cte(
    outbox_insert(...).cte("outbox_job"))`` writes both rows in one statement.
    Beware: with a DML CTE attached, SQLAlchemy (2.1) leaves out the outer
    statement's Python-side column defaults (``email_canonical``'s, an
    ``id``'s ``uuid4``): such a statement must give those columns itself.
    """
    row = {
        "id": uuid.uuid4(),
        "job": job,
        "payload": payload,
        "idempotency_key": idempotency_key,
        "request_id": request_id,
        "attempts": 0,
    }
    # Anonymous parameters, every column given: a bind named after a column ("id") would
    # collide with the outer statement's own when the two are rendered as one. Built on the
    # Table with plain names: the ORM attributes' coercion tripled the cost of this function,
    # which runs in every invitation request.
    values = {name: bindparam(None, value, _OUTBOX.c[name].type, unique=True) for name, value in row.items()}
    return insert(_OUTBOX).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])


async def enqueue_job(
    session: AsyncSession,
    *,
    job: str,
    payload: dict[str, Any],
    idempotency_key: str,
    request_id: str | None,
) -> bool:
    """Add ``job`` to the outbox in ``session``'s transaction; ``False`` if the key was already there."""
    statement = outbox_insert(
        job=job, payload=payload, idempotency_key=idempotency_key, request_id=request_id
    ).returning(OutboxJob.id)
    result = await session.execute(statement)
    return result.scalar_one_or_none() is not None
