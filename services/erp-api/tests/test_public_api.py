import erp_api


def test_exported_members_are_pinned():
    assert erp_api.__all__ == [
        "ApiSettings",
        "ErrorDetail",
        "ErrorResponse",
        "RedisDep",
        "SessionDep",
        "SettingsDep",
        "create_app",
        "get_db_session",
        "get_redis",
        "get_settings",
        "problem_response",
    ]
    assert all(hasattr(erp_api, name) for name in erp_api.__all__)
