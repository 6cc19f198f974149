"""Test support for code built on erp-core and erp-db; never installed in the image.

Two modules, importable from any test runner or script; nothing runs at import:

- :mod:`erp_testing.servers`: private PostgreSQL and Redis servers
  (:class:`PostgresServer`, :class:`RedisServer`) to stop, restart and hang,
  re-exported here;
- :mod:`erp_testing.database`: throwaway migrated databases
  (``temporary_database``) and the ``erp_db_url``, ``erp_db_engine`` and
  ``erp_db_session`` fixtures, enabled by ``pytest_plugins =
  ["erp_testing.database"]`` in a top-level ``conftest.py``. Import it by its
  own name: it is a pytest plugin, and a package root that imported it would
  load it before pytest registers it, so its assertions would go unrewritten
  (pytest refuses the run).

A distribution of its own so that the runtime wheels (erp-core, erp-db) carry
no test code: the services' tests and the benchmarks install it beside them.
"""

from erp_testing.servers import PostgresServer, RedisServer, ServerProcess, find_postgres_bindir

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerProcess",
    "find_postgres_bindir",
]
