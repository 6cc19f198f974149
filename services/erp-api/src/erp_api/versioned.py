"""Versioned rows of an organisation: create, merge-patch and archive, one guarded statement each.

docs/contract.md §10 and §13. A feature's table has ``id``, ``version``
(starts at 1), ``updated_at`` and ``archived_at``; these helpers give every
such table the contract's behaviour:

- :func:`insert_row`: ``INSERT … RETURNING *``; a unique violation the
  feature foresaw (``conflicts``: constraint name → the field to blame)
  is a 409 whose ``errors`` point at that field, whichever of two
  concurrent requests loses. Its audit ``event`` rides in the same
  statement (a data-modifying CTE): one round trip, and no event without
  the row;
- :func:`merge_patch`: ``If-Match`` required (428 without, 412 when stale),
  409 when the row or its organisation is archived, then one
  ``UPDATE … WHERE id = :id AND version = :expected AND archived_at IS NULL
  RETURNING *``. Of two concurrent patches made with the same tag the second
  updates no row: 412. It returns the new row and the diff for the audit
  event (``{}``, and no statement, when nothing changes);
- :func:`archive_row`: sets ``archived_at`` once; again changes nothing and
  returns ``None`` (a route answers 204 both times, and audits the first).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.audit import EVENT_CTE, Event, diff, event_after, event_parameters
from erp_api.errors import Conflict, PreconditionFailed
from erp_api.integrity import violated_constraint
from erp_api.preconditions import expected_version
from erp_api.tenancy import Access, Claim, Role, claim_guard

MERGE_PATCH: Final = "application/merge-patch+json"

# Constraint name -> (detail, loc) of the 409 that a feature foresees.
Conflicts = Mapping[str, tuple[str, tuple[str, ...]]]


def merge_patch_body(schema: str) -> dict[str, Any]:
    """``openapi_extra`` of a merge-patch route: the body documented as ``application/merge-patch+json``.

    FastAPI parses any ``+json`` body as JSON; ``application/json`` is accepted too.
    """
    reference = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    return {
        "requestBody": {"content": {MERGE_PATCH: reference, "application/json": reference}, "required": True}
    }


async def insert_row(
    session: AsyncSession,
    table: Table,
    values: Mapping[str, Any],
    *,
    conflicts: Conflicts | None = None,
    event: Event | None = None,
    claim: Claim | None = None,
) -> Any:
    """Insert one row (``id`` made here unless given) and return it whole; a foreseen unique violation: 409.

    ``event`` (its ``target_id`` the row's ``id``) is written by the same
    statement. With a ``claim`` (:func:`erp_api.tenancy.organization_claim`),
    the statement inserts the row, and its event, only if the claim holds,
    and a refused claim raises what :meth:`Claim.refusal` says: one
    statement for the check and the write. A claimed row's
    ``organization_id``, when it has one, must be the claim's. SQLAlchemy (2.1) does not
    compute the Python-side column defaults of a statement with a
    data-modifying CTE (it sends ``NULL``), so they are computed here.
    """
    row = {"id": uuid.uuid4(), **values}
    if event is None and claim is None:
        return await _execute_guarded(session, _insert_returning(table), conflicts, row)
    for name, default in _python_defaults(table).items():
        if name not in row:
            row[name] = default.arg if default.is_scalar else default.arg(None)
    parameters = {**row, **(event_parameters(event) if event is not None else {})}
    if claim is None:
        return await _execute_guarded(session, _insert_audited(table, tuple(row)), conflicts, parameters)
    if row.get("organization_id", claim.organization_id) != claim.organization_id:
        # The guard checks the claim's organisation: the row may be written into that one only.
        raise ValueError("a claimed row must belong to the claim's organization")
    statement = _insert_claimed(table, tuple(row), claim.minimum, audited=event is not None)
    parameters.update(claim.parameters())
    claim.settled = True  # whatever the statement answers, it checked the claim first
    for _ in range(2):  # a claim refused, then found to hold: it was granted meanwhile; once more
        inserted = await _execute_guarded(session, statement, conflicts, parameters)
        if inserted is not None:
            return inserted
        refusal = await claim.refusal(session)
        if refusal is not None:
            raise refusal
    raise Conflict("The organization's membership changed meanwhile: try again")


@functools.cache
def _python_defaults(table: Table) -> dict[str, Any]:
    """The table's Python-side column defaults: a value, or a callable, called without an execution context.

    A default that needs the context (``context.get_current_parameters()``)
    fails loudly there; such a column must be in ``values``.
    """
    return {
        column.key: column.default
        for column in table.c
        if column.default is not None and (column.default.is_scalar or column.default.is_callable)
    }


@functools.cache
def _insert_returning(table: Table) -> Any:
    """``INSERT … RETURNING`` every column, built once per table; the values' keys name the columns."""
    return insert(table).returning(*table.c)


@functools.lru_cache(maxsize=256)
def _insert_audited(table: Table, columns: tuple[str, ...]) -> Any:
    """``WITH audit_event AS (INSERT INTO audit_events …) INSERT … RETURNING``, built once per column set."""
    values = {name: bindparam(name, type_=table.c[name].type) for name in columns}
    return insert(table).values(values).returning(*table.c).add_cte(EVENT_CTE)


@functools.lru_cache(maxsize=256)
def _insert_claimed(table: Table, columns: tuple[str, ...], minimum: Role, *, audited: bool) -> Any:
    """``WITH created AS (INSERT … SELECT … WHERE <claim>) [, audit_event AS (…)] SELECT * FROM created``."""
    values = select(*(bindparam(name, type_=table.c[name].type) for name in columns))
    guarded = insert(table).from_select(columns, values.where(claim_guard(minimum)))
    created = guarded.returning(*table.c).cte("created")
    statement = select(created)
    return statement.add_cte(event_after(created)) if audited else statement


async def merge_patch(
    session: AsyncSession,
    table: Table,
    access: Access,
    changes: Mapping[str, Any],
    if_match: str | None,
    *,
    what: str,
    conflicts: Conflicts | None = None,
) -> tuple[Any, dict[str, tuple[Any, Any]]]:
    """Apply a merge patch's ``changes`` to ``access.row``: the new row, and ``{field: (old, new)}``."""
    expected = expected_version(if_match, access.version)
    access.refuse_if_archived()
    if access.row.archived_at is not None:
        raise Conflict(f"An archived {what} cannot be changed")
    changed = diff(access.row._mapping, changes)
    if not changed:  # nothing to change: no new version, no event
        return access.row, {}
    statement = (
        update(table)
        .where(table.c.id == access.row.id, table.c.version == expected, table.c.archived_at.is_(None))
        .values(**{name: new for name, (_, new) in changed.items()})
        .values(version=table.c.version + 1, updated_at=func.now())
        .returning(*table.c)
    )
    row = await _execute_guarded(session, statement, conflicts)
    if row is None:  # another change won the race since the read
        raise PreconditionFailed(f"The {what} has changed since that ETag: read it again")
    return row, changed


async def archive_row(session: AsyncSession, table: Table, row_id: uuid.UUID) -> Any:
    """Archive the row; ``None`` when it already was (archiving is idempotent)."""
    statement = (
        update(table)
        .where(table.c.id == row_id, table.c.archived_at.is_(None))
        .values(archived_at=func.now(), updated_at=func.now(), version=table.c.version + 1)
        .returning(*table.c)
    )
    return (await session.execute(statement)).one_or_none()


async def _execute_guarded(
    session: AsyncSession,
    statement: Any,
    conflicts: Conflicts | None,
    values: Mapping[str, Any] | None = None,
) -> Any:
    try:
        return (await session.execute(statement, values)).one_or_none()
    except IntegrityError as exc:
        foreseen = (conflicts or {}).get(violated_constraint(exc) or "")
        if foreseen is None:
            raise
        detail, loc = foreseen
        raise Conflict(detail, loc=loc) from None
