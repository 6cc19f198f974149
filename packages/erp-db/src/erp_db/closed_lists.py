"""Closed lists: a column whose values the code enumerates, and a CHECK that the database follows.

``closed_list("action", AUDIT_ACTIONS, name="action")`` in a model's
``__table_args__`` is ``CHECK (action IN ('user.created', …))``, marked so
that Alembic compares its *values* with the database's. Alembic compares
CHECK constraints by name at most (its ``checkconstraint_byname`` plugin),
so a list that grew in the code but not in the database went unseen until a
first insert failed, a 500. With this plugin (docs/contract.md §13):

- ``erp-db check`` fails, naming the constraint, when the code's list and
  the database's differ;
- ``erp-db revision --autogenerate`` writes the drop and re-create of the
  constraint with the code's list, so adding a value to the code's list is
  the whole change a feature makes (plus reviewing that revision).

The values are read back from PostgreSQL's own rendering of the constraint
(``(action)::text = ANY (ARRAY['user.created'::character varying, …])``):
every quoted literal in it, quotes undoubled.

Hand-written rather than a library: Alembic's plugin interface (1.18+) is
the supported way to add a comparison, and no maintained package compares
the values of a CHECK.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import CheckConstraint, Table
from sqlalchemy.sql.elements import conv

if TYPE_CHECKING:  # Alembic is imported by the comparison only: the models are imported by services
    from alembic.autogenerate.api import AutogenContext
    from alembic.operations.ops import ModifyTableOps
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult

PLUGIN_NAME: Final = "erp_db.closed_lists"
INFO_KEY: Final = "erp_db_closed_list"
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def closed_list(column: str, values: Sequence[str], *, name: str) -> CheckConstraint:
    """``CHECK (column IN (values…))``, compared value by value by ``erp-db check``."""
    if not values:
        raise ValueError("a closed list needs at least one value")
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name, info={INFO_KEY: frozenset(values)})


def values_in_definition(sqltext: str) -> frozenset[str]:
    """The quoted literals of a CHECK's text, as PostgreSQL renders it."""
    return frozenset(match.replace("''", "'") for match in _LITERAL.findall(sqltext))


def compare_closed_lists(
    autogen_context: AutogenContext,
    modify_table_ops: ModifyTableOps,
    schema: str | None,
    table_name: str,
    conn_table: Table | None,
    metadata_table: Table | None,
) -> PriorityDispatchResult:
    """Drop and re-create each closed list whose values differ from the database's (or add a missing one)."""
    from alembic.operations import ops
    from alembic.util import PriorityDispatchResult

    if conn_table is None or metadata_table is None or autogen_context.inspector is None:
        return PriorityDispatchResult.CONTINUE
    wanted = [
        constraint
        for constraint in metadata_table.constraints
        if isinstance(constraint, CheckConstraint) and INFO_KEY in constraint.info
    ]
    if not wanted:
        return PriorityDispatchResult.CONTINUE
    reflected: dict[str | None, Any] = {
        check["name"]: check
        for check in autogen_context.inspector.get_check_constraints(table_name, schema=schema)
        if check.get("name")
    }
    for constraint in wanted:
        found = reflected.get(str(constraint.name))
        if found is not None and values_in_definition(found["sqltext"]) == constraint.info[INFO_KEY]:
            continue
        if found is not None:  # dropped as reflected, so that the downgrade restores it
            # conv(): the name is final, the naming convention must not prefix it again.
            in_database = CheckConstraint(found["sqltext"], name=conv(found["name"]), table=conn_table)
            modify_table_ops.ops.append(ops.DropConstraintOp.from_constraint(in_database))
        modify_table_ops.ops.append(ops.AddConstraintOp.from_constraint(constraint))
    return PriorityDispatchResult.CONTINUE


def setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(compare_closed_lists, "table", "closed_lists")


def register() -> None:
    """Register the plugin with Alembic once per process (``env.py`` runs once per command)."""
    from alembic.runtime.plugins import Plugin

    # Alembic announces each plugin at INFO, on every command: lines that the
    # erp-db command's one-line answers must not carry.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    with contextlib.suppress(ValueError):  # registered by an earlier command of this process
        Plugin.setup_plugin_from_module(sys.modules[__name__], PLUGIN_NAME)
