"""erp-db: the async database layer of the ERP, its migrations and the ``erp-db`` command.

Importing this package reads no environment and opens no connection; build
:class:`DatabaseSettings` and the engine explicitly. Test helpers live in
:mod:`erp_db.testing` (the ``testing`` extra), which is not imported here.
"""

from erp_db.base import NAMING_CONVENTION, Base
from erp_db.database_url import to_asyncpg_url
from erp_db.emails import canonical_email
from erp_db.engine import create_engine, create_sessionmaker, engine_from_settings
from erp_db.errors import (
    DatabaseError,
    InvalidDatabaseUrl,
    MigrationError,
    NotEditableInstallError,
    SchemaDriftError,
)
from erp_db.migration_lock import MIGRATION_LOCK_KEY
from erp_db.models import (
    AUDIT_ACTIONS,
    ROLES,
    SLUG_PATTERN,
    AuditEvent,
    Invitation,
    Membership,
    Organization,
    OutboxJob,
    RefreshToken,
    User,
)
from erp_db.models.customers import VAT_NUMBER_PATTERN, Customer
from erp_db.outbox import OUTBOX_INSERT, enqueue_job, outbox_insert, outbox_params
from erp_db.probes import probe_database, probe_database_and_migrations, probe_migrations
from erp_db.schema_migrations import (
    alembic_config,
    check_migrations,
    create_revision,
    current_revisions,
    downgrade,
    shipped_head,
    upgrade,
)
from erp_db.session import read_scope, session_scope
from erp_db.settings import DatabaseSettings

__all__ = [
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
