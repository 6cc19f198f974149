"""The errors erp-cache raises.

    ErpError (erp_core)           root of every error the ERP libraries raise
    └── CacheError                root of erp-cache's own errors
        ├── InvalidRedisUrl       create_redis() got a URL redis-py cannot connect with
        └── InvalidClientName     create_redis() got a name Redis would refuse in CLIENT SETNAME

The first two are also :class:`ValueError`, because they reject an argument.
They are raised when the client is created, at start-up, so a bad value
stops the service at once instead of failing every command later. Settings
errors are erp-core's :class:`~erp_core.ConfigurationError`; failures of
Redis itself stay redis-py's exceptions, which callers already know.
"""

from __future__ import annotations

from erp_core import ErpError


class CacheError(ErpError):
    """Root of the errors raised by erp-cache."""


class InvalidRedisUrl(CacheError, ValueError):
    """The URL cannot be used; the message never repeats it, since it may hold a password."""


class InvalidClientName(CacheError, ValueError):
    """Redis accepts only printable ASCII without spaces as a connection's name."""
