"""The error tree: one root under erp-core's, drawn in the module docstring."""

from __future__ import annotations

import erp_core
from erp_cache import errors


def test_every_error_derives_from_the_cache_root_and_erp_error() -> None:
    for error in (errors.InvalidRedisUrl, errors.InvalidClientName):
        assert issubclass(error, errors.CacheError)
        assert issubclass(error, ValueError)
    assert issubclass(errors.CacheError, erp_core.ErpError)


def test_module_docstring_draws_every_error() -> None:
    assert errors.__doc__ is not None
    for error in (errors.CacheError, errors.InvalidRedisUrl, errors.InvalidClientName):
        assert error.__name__ in errors.__doc__
