"""The ledger of applied revisions: how an older release tells "ahead" from "unknown".

During a rolling deploy the new release migrates first, so replicas of the
old release meet a database at a revision whose script they do not ship.
``alembic_version`` alone cannot tell them whether that revision descends
from their head (a newer release: keep serving) or from somewhere else
(a foreign or diverged schema: stop). So every online or ``--sql``
``erp-db upgrade`` records each revision it applies, with its parents, in
``erp_db_applied_revisions``; a replica walks those recorded links from the
database's revision back until it meets its own head (docs/contract.md §4).

The table is created by the first migration step that needs it, inside the
migration's transaction, and is not part of ``erp_db.models``: autogenerate
and ``erp-db check`` leave it alone (:func:`include_object`). A downgrade
deletes the rows of the revisions it removes. Revisions applied before this
ledger existed have no row, which costs nothing: the walk starts at the
newest revision and its row names its parent, the older release's head.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Final

from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Column, DateTime, MetaData, String, Table, bindparam, cast, func, literal, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable

LEDGER_TABLE: Final = "erp_db_applied_revisions"

_REVISION_IDS = ARRAY(String(32))

applied_revisions = Table(
    LEDGER_TABLE,
    MetaData(),
    Column("revision", String(32), primary_key=True),
    Column("down_revisions", _REVISION_IDS, nullable=False),
    Column("applied_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

# For each starting revision, every revision reachable through the recorded
# parent links; UNION (not UNION ALL) drops repeats, so the walk ends. The
# table is named literally (LEDGER_TABLE): this text is no template.
_DESCENDANTS_OF_HEAD = text(
    """
    WITH RECURSIVE lineage(origin, revision) AS (
        SELECT start, start FROM unnest(CAST(:starts AS varchar[])) AS start
      UNION
        SELECT lineage.origin, parent
        FROM lineage
        JOIN erp_db_applied_revisions AS ledger ON ledger.revision = lineage.revision
        CROSS JOIN LATERAL unnest(ledger.down_revisions) AS parent
    )
    SELECT DISTINCT origin FROM lineage WHERE revision = :head
    """
).bindparams(bindparam("starts", type_=_REVISION_IDS))


def record_step(*, ctx: MigrationContext, step: MigrationInfo, **_: Any) -> None:
    """Alembic's ``on_version_apply`` callback: record an applied revision, forget a removed one.

    Runs inside the migration's transaction, right after the step's own
    changes, so the ledger and ``alembic_version`` never disagree.
    """
    revision = step.up_revision_id
    if revision is None:
        return
    if not step.is_upgrade:
        ctx.execute(applied_revisions.delete().where(applied_revisions.c.revision == revision))
        return
    ctx.execute(CreateTable(applied_revisions, if_not_exists=True))
    parents = sorted(step.down_revision_ids)
    row = insert(applied_revisions).values(
        revision=revision,
        # The cast gives PostgreSQL a type for an empty array (the first revision has no parent).
        down_revisions=cast(literal(parents, _REVISION_IDS), _REVISION_IDS),
    )
    ctx.execute(
        row.on_conflict_do_update(
            index_elements=[applied_revisions.c.revision],
            set_={"down_revisions": row.excluded.down_revisions, "applied_at": func.now()},
        )
    )


def include_object(_object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    """Alembic's ``include_object`` hook: keep the ledger out of autogenerate and ``erp-db check``."""
    return not (type_ == "table" and name == LEDGER_TABLE)


async def descendants_of(connection: AsyncConnection, revisions: Iterable[str], head: str) -> Collection[str]:
    """Which of ``revisions`` the ledger shows to descend from ``head`` (one statement).

    Raises the driver's undefined-table error when no ledger exists, that is
    when nothing this release knows recorded the revisions.
    """
    starts = sorted(revisions)
    result = await connection.execute(_DESCENDANTS_OF_HEAD, {"starts": starts, "head": head})
    return frozenset(result.scalars())
