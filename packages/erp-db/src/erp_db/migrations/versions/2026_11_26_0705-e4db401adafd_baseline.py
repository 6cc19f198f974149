"""baseline: the empty schema that every later revision builds on

Phase 0 has no business tables. This revision exists so that a database
has a known starting point (``alembic_version`` at this id), the readiness
probe has a head to compare with, and the first real revision has a parent.

Revision ID: e4db401adafd
Revises:
Create Date: 2026-11-26 07:05:08.339159+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "e4db401adafd"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
