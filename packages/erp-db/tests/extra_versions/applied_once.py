"""test-only revision on top of the shipped head: records each time it runs

Used by test_schema_migrations.py to show that concurrent upgrades apply a
migration once. It sleeps so that, were the runs not serialised, they would
overlap. Its ``down_revision`` is set by the test from the shipped head.

Revision ID: a99e5700000e
"""

from __future__ import annotations

import os

from alembic import op

revision = "a99e5700000e"
down_revision = os.environ["ERP_DB_TEST_DOWN_REVISION"]
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS migration_runs (backend_pid int NOT NULL)")
    op.execute("INSERT INTO migration_runs SELECT pg_backend_pid()")
    op.execute("SELECT pg_sleep(0.5)")


def downgrade() -> None:
    op.execute("DROP TABLE migration_runs")
