"""What a database integrity violation says: which constraint failed, and whether it is a conflict.

A unique, foreign-key or exclusion violation means the request conflicts with
rows already stored: :func:`erp_api.problems.integrity_error_handler` answers
it 409 when no route foresaw it (docs/contract.md §5). A route that foresees
one maps the constraint, whose name erp_db's naming convention fixes
(``uq_<table>_<column>``, ``fk_<table>_<column>_<referred table>``), to the
field the caller sent::

    try:
        await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_organizations_slug":
            raise Conflict("An organisation with this slug exists", loc=("body", "slug")) from None
        raise

Either way the request's session rolls back. Only the constraint's name is
read: the driver's message and detail quote the row's values, which never
reach an answer or a log line.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import IntegrityError

# SQLSTATE class 23: https://www.postgresql.org/docs/current/errcodes-appendix.html
UNIQUE_VIOLATION: Final = "23505"
FOREIGN_KEY_VIOLATION: Final = "23503"
EXCLUSION_VIOLATION: Final = "23P01"
CONFLICT_SQLSTATES: Final = frozenset({UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION, EXCLUSION_VIOLATION})


def sqlstate(exc: IntegrityError) -> str | None:
    """The SQLSTATE PostgreSQL reported (``"23505"`` for a unique violation), if the driver kept it."""
    code = getattr(exc.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL reported as violated (``"uq_organizations_slug"``).

    ``None`` when the server named none (a NOT NULL violation names a column,
    not a constraint). SQLAlchemy's asyncpg adapter keeps asyncpg's own
    exception, which carries the server's fields, as the cause.
    """
    name = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None


def is_conflict(exc: IntegrityError) -> bool:
    """A unique, foreign-key or exclusion violation: the request conflicts with stored rows."""
    return sqlstate(exc) in CONFLICT_SQLSTATES
