"""erp-api: the ERP HTTP service. ``create_app()`` builds it; ``erp-api serve`` runs it."""

# The building blocks come first: a feature router that `erp_api.app` imports (through
# routes/api_v1.py) may itself say `from erp_api import SessionDep`, and finds the
# names bound on this half-imported package. `create_app` comes last.
from erp_api.dependencies import RedisDep, SessionDep, SettingsDep, get_db_session, get_redis, get_settings
from erp_api.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    TooManyRequests,
    Unauthorized,
)
from erp_api.features.identity import Caller, CallerRow, CurrentSuperuser, CurrentUser
from erp_api.integrity import violated_constraint
from erp_api.problems import ErrorDetail, ErrorResponse, problem_response
from erp_api.settings import ApiSettings

# isort: split
from erp_api.app import create_app

__all__ = [
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
