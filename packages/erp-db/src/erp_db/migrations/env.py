"""The Alembic environment of erp-db: run by Alembic for every command, never imported.

Online, it opens one connection (``NullPool``, nothing kept afterwards),
takes the migration advisory lock on it (through PgBouncer, for the
migration's transaction only), and hands it to Alembic through
``run_sync``. Offline (``--sql``), it renders PostgreSQL SQL and needs no
server. The URL is ``config.attributes["url"]`` (set by
:func:`erp_db.schema_migrations.alembic_config`), else ``DATABASE_URL``
through :class:`~erp_db.settings.DatabaseSettings`; offline, a placeholder
does, since only the dialect matters. The models come from
:mod:`erp_db.models`, the one module that imports them all. Every applied
or removed revision is written to the ledger of
:mod:`erp_db.revision_ledger`, in the migration's transaction (in the
rendered SQL too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from alembic import context
from sqlalchemy import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from erp_db import closed_lists
from erp_db.database_url import to_asyncpg_url
from erp_db.engine import pgbouncer_connect_args
from erp_db.migration_lock import migration_lock, take_transaction_lock
from erp_db.models import Base
from erp_db.revision_ledger import include_object, record_step
from erp_db.settings import DatabaseSettings

OFFLINE_URL = "postgresql+asyncpg://offline@localhost/offline"
APPLICATION_NAME = "erp-db migrations"
CONNECT_TIMEOUT_S = 10.0

config = context.config
closed_lists.register()

CONFIGURE_OPTIONS: dict[str, Any] = {
    "target_metadata": Base.metadata,
    "compare_type": True,
    # The closed lists' values (the audit actions, the roles) are compared too.
    "autogenerate_plugins": ["alembic.autogenerate.*", closed_lists.PLUGIN_NAME],
    # The ledger of applied revisions (erp_db.revision_ledger) is kept here,
    # beside alembic_version, and is no model's business.
    "include_object": include_object,
    "on_version_apply": record_step,
}


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or OFFLINE_URL
    context.configure(
        url=to_asyncpg_url(url),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **CONFIGURE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url, pgbouncer = _online_target()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_migrate(url, pgbouncer))
        return
    # Alembic's API is synchronous. Called from a coroutine (a test fixture,
    # say), this thread's loop is busy, so migrate on a loop of its own in a
    # worker thread while the caller's thread waits.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(lambda: asyncio.run(_migrate(url, pgbouncer))).result()


def _online_target() -> tuple[URL, bool]:
    """The URL, and whether it leads to PgBouncer in transaction pooling mode."""
    configured = config.attributes.get("url")
    if configured is not None:
        return to_asyncpg_url(configured), bool(config.attributes.get("pgbouncer"))
    settings = DatabaseSettings()
    return settings.sqlalchemy_url, settings.pgbouncer


async def _migrate(url: URL, pgbouncer: bool) -> None:
    # No command timeout: a migration or the wait for the lock may take long.
    engine = create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {"application_name": APPLICATION_NAME},
            **(pgbouncer_connect_args() if pgbouncer else {}),
        },
    )
    try:
        async with engine.connect() as connection:
            if pgbouncer:  # a session lock would stay behind on some server connection
                await connection.run_sync(_run_migrations, take_transaction_lock)
            else:
                async with migration_lock(connection):
                    await connection.run_sync(_run_migrations)
    finally:
        await engine.dispose()


def _run_migrations(connection: Connection, lock: Callable[[Connection], None] | None = None) -> None:
    context.configure(connection=connection, **CONFIGURE_OPTIONS)
    with context.begin_transaction():
        if lock is not None:
            lock(connection)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
