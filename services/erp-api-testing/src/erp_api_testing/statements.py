"""Counting the SQL statements a request sends: query budgets as deterministic tests.

Timings vary with the machine; statement counts do not. A test states the
budget of a route and fails when a change adds a query (an N+1 loop, a
forgotten join)::

    with count_statements() as statements:
        await client.get("/api/v1/organizations")
    assert len(statements) <= 2, statements

It listens to SQLAlchemy's ``before_cursor_execute`` on every engine of the
process, so nothing else should run SQL while it counts (the test's own
set-up goes before the block). An ``executemany`` counts once: it is one
round of the driver. Transaction control is not counted: ``BEGIN`` and
``COMMIT`` are not sent through a cursor, and the savepoints that the
transactional ``client`` turns each request's commit into (``SAVEPOINT``,
``RELEASE``/``ROLLBACK TO SAVEPOINT``) are the harness's, not the route's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_SAVEPOINT = re.compile(r"(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) \w+", re.IGNORECASE)


class Statements(list[str]):
    """The statements sent, in order; ``str()`` lists them one per line for a failure message."""

    def __str__(self) -> str:
        return "\n".join(f"{number}. {sql}" for number, sql in enumerate(self, start=1))


@contextlib.contextmanager
def count_statements() -> Iterator[Statements]:
    """Collect the SQL text of every statement any engine sends inside the block."""
    statements = Statements()

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if not _SAVEPOINT.fullmatch(text):
            statements.append(text)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)
