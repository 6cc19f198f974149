"""Closed lists: the database takes exactly the code's list; erp-db check says when they differ (§13)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from erp_db import AUDIT_ACTIONS, ROLES, SchemaDriftError, check_migrations, upgrade
from erp_db.closed_lists import closed_list, values_in_definition

OpenConnection = Callable[[str], Awaitable[AsyncConnection]]


def test_a_closed_list_is_a_check_of_its_values_quoted() -> None:
    constraint = closed_list("kind", ["a", "it's"], name="kind")
    assert str(constraint.sqltext) == "kind IN ('a', 'it''s')"
    with pytest.raises(ValueError, match="at least one value"):
        closed_list("kind", [], name="kind")


def test_the_values_are_read_back_from_postgresqls_rendering() -> None:
    rendered = (
        "((action)::text = ANY ((ARRAY['user.created'::character varying, "
        "'it''s'::character varying])::text[]))"
    )
    assert values_in_definition(rendered) == {"user.created", "it's"}


async def test_the_database_at_head_accepts_exactly_the_codes_actions_and_roles(
    empty_database: str, open_connection: OpenConnection
) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    connection = await open_connection(empty_database)
    definitions = dict(
        (
            await connection.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname IN "
                    "('ck_audit_events_action', 'ck_memberships_role', 'ck_invitations_role')"
                )
            )
        ).all()
    )
    assert values_in_definition(definitions["ck_audit_events_action"]) == set(AUDIT_ACTIONS)
    assert values_in_definition(definitions["ck_memberships_role"]) == set(ROLES)
    assert values_in_definition(definitions["ck_invitations_role"]) == set(ROLES)


@pytest.mark.parametrize("change", ["one action fewer", "one action more"])
async def test_check_fails_naming_the_constraint_when_the_lists_differ(
    empty_database: str, open_connection: OpenConnection, change: str
) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    await asyncio.to_thread(check_migrations, empty_database)  # agree at head
    actions = list(AUDIT_ACTIONS[:-1]) if change == "one action fewer" else [*AUDIT_ACTIONS, "thing.invented"]
    quoted = ", ".join(f"'{action}'" for action in actions)
    connection = await open_connection(empty_database)
    await connection.execute(text("ALTER TABLE audit_events DROP CONSTRAINT ck_audit_events_action"))
    await connection.execute(
        text(f"ALTER TABLE audit_events ADD CONSTRAINT ck_audit_events_action CHECK (action IN ({quoted}))")
    )

    with pytest.raises(SchemaDriftError, match="ck_audit_events_action"):
        await asyncio.to_thread(check_migrations, empty_database)
