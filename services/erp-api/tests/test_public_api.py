import erp_api


def test_exported_members_are_pinned():
    assert erp_api.__all__ == [
        "ApiSettings",
        "BadRequest",
        "Caller",
        "CallerRow",
        "Conflict",
        "CurrentSuperuser",
        "CurrentUser",
        "DomainError",
        "ErrorDetail",
        "ErrorResponse",
        "Forbidden",
        "NotFound",
        "PreconditionFailed",
        "PreconditionRequired",
        "RedisDep",
        "SessionDep",
        "SettingsDep",
        "TooManyRequests",
        "Unauthorized",
        "create_app",
        "get_db_session",
        "get_redis",
        "get_settings",
        "problem_response",
        "violated_constraint",
    ]
    assert all(hasattr(erp_api, name) for name in erp_api.__all__)
