"""canonical emails: one form of an address, computed in Python, for users and invitations (docs/contract.md §9)

``users.email_canonical`` replaces the unique index on ``lower(email)``, and
``invitations.email_canonical`` is what acceptance compares with it. The
form is :func:`erp_db.emails.canonical_email`; it is copied below, frozen,
because a migration must do tomorrow what it did today.

Existing rows are filled first in SQL where the address is ASCII (there
the form is plain A-Z to a-z, which ``translate`` does whatever the
database's locale), then, online, from Python in batches of 1,000 for the
rest; then the columns become ``NOT NULL``. Offline (``erp-db upgrade
--sql``) there are no rows to read: the script fills the ASCII ones, and
``SET NOT NULL`` stops it on a database that holds any other address, which
must then be upgraded online. Two existing users whose addresses only ``lower()``
told apart but the canonical form merges (``straße``/``strasse``) make
the unique index fail: the upgrade then stops, and its transaction rolls
back whole, with the index's name in the error.

Revision ID: d3f7a9b2c4e1
Revises: c5e8a1f4d2b6
Create Date: 2026-12-06 21:00:00.000000+00:00
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "d3f7a9b2c4e1"
down_revision: str | None = "c5e8a1f4d2b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _canonical(address: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())


def _fill(table: str) -> None:
    op.execute(
        f"UPDATE {table} SET email_canonical = translate(email, '{string.ascii_uppercase}', "  # noqa: S608
        f"'{string.ascii_lowercase}') WHERE email ~ '^[ -~]*$'"
    )
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    select = sa.text(f"SELECT id, email FROM {table} WHERE email_canonical IS NULL LIMIT :n")  # noqa: S608
    update = sa.text(f"UPDATE {table} SET email_canonical = :canonical WHERE id = :id")  # noqa: S608
    while rows := bind.execute(select, {"n": BATCH}).all():
        bind.execute(update, [{"id": row.id, "canonical": _canonical(row.email)} for row in rows])


def upgrade() -> None:
    for table in ("users", "invitations"):
        op.add_column(table, sa.Column("email_canonical", sa.Text(), nullable=True))
        _fill(table)
        op.alter_column(table, "email_canonical", nullable=False)
    op.drop_index("ix_users_lower_email", table_name="users")
    op.create_unique_constraint(op.f("uq_users_email_canonical"), "users", ["email_canonical"])


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_email_canonical"), "users", type_="unique")
    op.create_index("ix_users_lower_email", "users", [sa.text("lower(email)")], unique=True)
    for table in ("invitations", "users"):
        op.drop_column(table, "email_canonical")
