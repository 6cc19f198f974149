"""The errors erp-db raises.

    ErpError (erp_core)               root of every error the ERP libraries raise
    └── DatabaseError                 root of erp-db's own errors
        ├── InvalidDatabaseUrl        a URL that is not a PostgreSQL DSN asyncpg can use
        └── MigrationError            the migrations cannot do what was asked
            ├── SchemaDriftError      the models and the migrations differ (``erp-db check``)
            └── NotEditableInstallError
                                      ``erp-db revision`` run from an installed wheel

:class:`InvalidDatabaseUrl` is also a :class:`ValueError`, so settings
validation reports it as a bad ``DATABASE_URL``. Failures of PostgreSQL
itself stay the driver's and SQLAlchemy's exceptions, which callers already
know; Alembic's own ``CommandError`` (an unknown revision) passes through too.
:func:`describe_database_error` turns those into the short reasons that the
probes and the ``erp-db`` command show.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from erp_core import ErpError, describe_error


class DatabaseError(ErpError):
    """Root of the errors raised by erp-db (not to be confused with SQLAlchemy's ``DatabaseError``)."""


class InvalidDatabaseUrl(DatabaseError, ValueError):
    """The URL cannot be used; the message never repeats it, since it may hold a password."""


class MigrationError(DatabaseError):
    """Root of the errors about the shipped migrations."""


class SchemaDriftError(MigrationError):
    """The models declare something the migrations do not create, or the reverse: a revision is due."""


class NotEditableInstallError(MigrationError):
    """New revisions belong in the source checkout; this ``erp_db`` was installed from a wheel."""


def describe_database_error(exc: BaseException) -> str:
    """A short one-line reason, naming the driver's exception rather than SQLAlchemy's wrapper.

    ``InvalidCatalogNameError: database "erp" does not exist`` reads better in
    a readiness answer than ``DBAPIError: (sqlalchemy.dialects...Error) ...``.
    Driver messages name hosts, ports, roles and databases, never passwords.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig.__cause__ or exc.orig
    return describe_error(exc)
