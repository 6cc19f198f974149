import erp_testing


def test_exported_members_are_pinned():
    assert erp_testing.__all__ == [
        "PostgresServer",
        "RedisServer",
        "ServerProcess",
        "find_postgres_bindir",
    ]
    assert all(hasattr(erp_testing, name) for name in erp_testing.__all__)
