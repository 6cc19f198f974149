"""Test support for code built on erp-core: private servers; never installed in the image.

:mod:`erp_testing.servers`: private PostgreSQL and Redis servers
(:class:`PostgresServer`, :class:`RedisServer`) to stop, restart and hang,
re-exported here. The throwaway databases and their fixtures are erp-db's
own :mod:`erp_db.testing` (docs/contract.md §1).

A distribution of its own so that the runtime wheels start no server: the
services' tests install it beside them.
"""

from erp_testing.servers import PostgresServer, RedisServer, ServerProcess, find_postgres_bindir

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerProcess",
    "find_postgres_bindir",
]
