"""The package's interface: what `erp_cache` exports, pinned (as httpx pins its own)."""

from __future__ import annotations

import subprocess
import sys

import erp_cache

EXPORTED = [
    "CacheError",
    "InvalidClientName",
    "InvalidRedisUrl",
    "RedisSettings",
    "close_redis",
    "create_redis",
    "probe_redis",
    "redis_from_settings",
]


def test_all_lists_the_interface_sorted() -> None:
    assert erp_cache.__all__ == EXPORTED
    assert erp_cache.__all__ == sorted(erp_cache.__all__)


def test_every_exported_name_is_importable_and_public() -> None:
    for name in erp_cache.__all__:
        assert getattr(erp_cache, name).__module__.startswith("erp_cache.")


def test_importing_reads_no_environment_and_opens_no_connection() -> None:
    # With an invalid REDIS_PORT and no Redis at the URL, an import that built
    # settings or a client would fail or hang; a clean import just works.
    env = {"REDIS_PORT": "abc", "APP_CACHE_REDIS_URL": "redis://192.0.2.1:1/0"}
    code = "import erp_cache, erp_cache.client, erp_cache.probes, erp_cache.settings, erp_cache.errors"

    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=20)
