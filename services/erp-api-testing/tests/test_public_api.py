import erp_api_testing


def test_exported_members_are_pinned():
    assert erp_api_testing.__all__ == [
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
    assert all(hasattr(erp_api_testing, name) for name in erp_api_testing.__all__)
