"""The error tree: everything erp-db raises is caught by one ``except ErpError``."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from erp_core import ErpError
from erp_db import errors


@pytest.mark.parametrize(
    "error",
    [
        errors.DatabaseError,
        errors.InvalidDatabaseUrl,
        errors.MigrationError,
        errors.SchemaDriftError,
        errors.NotEditableInstallError,
    ],
)
def test_every_error_derives_from_the_package_root(error: type[Exception]) -> None:
    assert issubclass(error, errors.DatabaseError)
    assert issubclass(error, ErpError)


def test_a_bad_url_is_also_a_value_error_so_settings_report_it() -> None:
    assert issubclass(errors.InvalidDatabaseUrl, ValueError)


def test_the_root_docstring_draws_every_error() -> None:
    tree = errors.__doc__ or ""
    for name in ("DatabaseError", "InvalidDatabaseUrl", "MigrationError", "SchemaDriftError"):
        assert name in tree
    assert "NotEditableInstallError" in tree


def test_database_errors_are_described_by_the_drivers_exception() -> None:
    class UndefinedTableError(Exception):
        pass

    driver_error = UndefinedTableError('relation "x" does not exist')
    adapted = Exception("adapted")
    adapted.__cause__ = driver_error
    wrapped = DBAPIError("SELECT 1", None, adapted)

    assert errors.describe_database_error(wrapped) == 'UndefinedTableError: relation "x" does not exist'
    assert errors.describe_database_error(OSError("refused")) == "OSError: refused"
