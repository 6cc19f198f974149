"""The package's interface: what ``erp_db`` exports, pinned (as httpx pins its own)."""

from __future__ import annotations

import subprocess
import sys

import erp_db

EXPORTED = [
    "AUDIT_ACTIONS",
    "MIGRATION_LOCK_KEY",
    "NAMING_CONVENTION",
    "OUTBOX_INSERT",
    "ROLES",
    "SLUG_PATTERN",
    "VAT_NUMBER_PATTERN",
    "AuditEvent",
    "Base",
    "Customer",
    "DatabaseError",
    "DatabaseSettings",
    "InvalidDatabaseUrl",
    "Invitation",
    "Membership",
    "MigrationError",
    "NotEditableInstallError",
    "Organization",
    "OutboxJob",
    "RefreshToken",
    "SchemaDriftError",
    "User",
    "alembic_config",
    "canonical_email",
    "check_migrations",
    "create_engine",
    "create_revision",
    "create_sessionmaker",
    "current_revisions",
    "downgrade",
    "engine_from_settings",
    "enqueue_job",
    "outbox_insert",
    "outbox_params",
    "probe_database",
    "probe_database_and_migrations",
    "probe_migrations",
    "read_scope",
    "session_scope",
    "shipped_head",
    "to_asyncpg_url",
    "upgrade",
]


def _ruff_order(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_lists_the_interface_sorted() -> None:
    assert erp_db.__all__ == EXPORTED
    assert erp_db.__all__ == sorted(erp_db.__all__, key=_ruff_order)


def test_every_exported_name_is_defined_in_erp_db() -> None:
    for name in erp_db.__all__:
        value = getattr(erp_db, name)
        if callable(value):
            assert value.__module__.startswith("erp_db."), name


def test_importing_reads_no_environment_opens_no_connection_and_needs_no_pytest() -> None:
    # With a malformed DATABASE_URL and no server at it, an import that built
    # settings or an engine would fail or hang; a clean import just works.
    env = {"DATABASE_URL": "postgresql://u:p@192.0.2.1:notaport/db", "DATABASE_POOL_SIZE": "x"}
    code = (
        "import sys, erp_db, erp_db.cli, erp_db.models, erp_db.probes, erp_db.engine, erp_db.session\n"
        "assert 'pytest' not in sys.modules, 'the library must not need pytest'\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
