"""erp-cache: the application's Redis client, its lifecycle and its readiness probe.

Importing this package reads no environment and opens no connection: build
:class:`RedisSettings`, call :func:`create_redis` in the service's lifespan
and :func:`close_redis` when it ends.
"""

from erp_cache.client import close_redis, create_redis, redis_from_settings
from erp_cache.errors import CacheError, InvalidClientName, InvalidRedisUrl
from erp_cache.probes import probe_redis
from erp_cache.settings import RedisSettings

__all__ = [
    "CacheError",
    "InvalidClientName",
    "InvalidRedisUrl",
    "RedisSettings",
    "close_redis",
    "create_redis",
    "probe_redis",
    "redis_from_settings",
]
