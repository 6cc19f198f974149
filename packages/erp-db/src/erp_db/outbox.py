"""Recording a job in the outbox from inside a caller's transaction (docs/contract.md §14).

The caller (a request handler) passes its own session and commits it with
its change; nothing here commits, so a rollback drops the job with the
change. A second record with the same ``idempotency_key`` writes nothing
(``ON CONFLICT DO NOTHING``): a retried request does not ask twice.

Two ways in. :func:`outbox_insert` is the statement alone, for a change
whose payload is known before it runs: attached to the change's own
statement with ``.add_cte(...)``, it rides in the same round trip as a
PostgreSQL data-modifying CTE, which runs exactly once whether or not the
outer statement reads it. :data:`OUTBOX_INSERT` is the same statement with
named parameters, built once, for a caller that keeps its own statement at
import: SQLAlchemy memoises a statement object's cache key, so one built
once is not walked again per request (a new statement per request was a
third of an invitation's transaction in ``nox -s bench``); it is executed
with :func:`outbox_params` merged into the caller's parameters.
:func:`enqueue_job` runs the statement on its own (one more round trip) and
says whether a row was written.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

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


# The parameters of OUTBOX_INSERT: prefixed, so they do not collide with the outer statement's.
_PARAMETERS: Final = ("id", "job", "payload", "idempotency_key", "request_id")
OUTBOX_INSERT: Final[Insert] = (
    insert(_OUTBOX)
    .values(
        {name: bindparam(f"outbox_{name}", type_=_OUTBOX.c[name].type) for name in _PARAMETERS}
        | {"attempts": 0}
    )
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
)


def outbox_params(
    *, job: str, payload: dict[str, Any], idempotency_key: str, request_id: str | None
) -> dict[str, Any]:
    """The parameters of :data:`OUTBOX_INSERT` for one job (``outbox_id``, ``outbox_job``, …)."""
    return {
        "outbox_id": uuid.uuid4(),
        "outbox_job": job,
        "outbox_payload": payload,
        "outbox_idempotency_key": idempotency_key,
        "outbox_request_id": request_id,
    }


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
