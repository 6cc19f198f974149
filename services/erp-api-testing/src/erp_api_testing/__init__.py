"""Test support for code built on erp-api, usable from any test runner or script; never in the image.

Nothing here defines a fixture (:mod:`erp_api_testing.plugin` does, from
these) and nothing runs at import. What a test or a tool needs:

- :class:`ServiceProcess`: ``erp-api serve`` as a real process, its JSON log
  lines, SIGTERM and its exit status;
- :func:`serve_in_process`: the application in this process, lifespan run,
  with an ``httpx.AsyncClient`` over ASGI;
- :class:`PostgresServer`, :class:`RedisServer`: private servers to stop,
  restart and hang at will (erp-testing's, re-exported);
- :class:`PgBouncerServer`, :class:`HAProxyServer`: a private connection
  pooler and load balancer in front of them or of several services;
- :func:`count_connections`, :class:`ConnectionCounter`,
  :class:`ConnectionSampler`: a service's connections in ``pg_stat_activity``,
  once or sampled in the background.

Also at hand: :func:`erp_core.testing.free_port` and
:func:`~erp_core.testing.unresponsive_server` (a hung dependency), and
:func:`erp_db.testing.temporary_database` (a throwaway migrated database).
"""

from erp_api_testing.connections import ConnectionCounter, ConnectionSampler, count_connections
from erp_api_testing.in_process import MakeSettings, serve_in_process
from erp_api_testing.proxies import HAProxyServer, PgBouncerServer
from erp_api_testing.service_process import ServiceProcess
from erp_testing.servers import PostgresServer, RedisServer, find_postgres_bindir

__all__ = [
    "ConnectionCounter",
    "ConnectionSampler",
    "HAProxyServer",
    "MakeSettings",
    "PgBouncerServer",
    "PostgresServer",
    "RedisServer",
    "ServiceProcess",
    "count_connections",
    "find_postgres_bindir",
    "serve_in_process",
]
