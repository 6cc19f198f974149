"""erp-core: settings base classes, JSON logging, the request context and health probes.

Importing this package reads no environment and configures nothing; call
:func:`configure_logging` and build settings explicitly.
"""

from erp_core.errors import ConfigurationError, ErpError, ProbeFailed
from erp_core.logging import (
    ConsoleLogFormatter,
    JsonLogFormatter,
    configure_logging,
    escape_control_characters,
    logging_config,
)
from erp_core.probes import ProbeResult, ProbeStatus, describe_error, run_probe
from erp_core.request_context import (
    REQUEST_ID_HEADER,
    RequestIdFilter,
    bind_request_id,
    get_request_id,
    is_valid_request_id,
    new_request_id,
    request_id_from,
)
from erp_core.settings import CoreSettings, Environment, ErpSettings, IgnoreServiceLink, LogFormat, LogLevel

__all__ = [
    "REQUEST_ID_HEADER",
    "ConfigurationError",
    "ConsoleLogFormatter",
    "CoreSettings",
    "Environment",
    "ErpError",
    "ErpSettings",
    "IgnoreServiceLink",
    "JsonLogFormatter",
    "LogFormat",
    "LogLevel",
    "ProbeFailed",
    "ProbeResult",
    "ProbeStatus",
    "RequestIdFilter",
    "bind_request_id",
    "configure_logging",
    "describe_error",
    "escape_control_characters",
    "get_request_id",
    "is_valid_request_id",
    "logging_config",
    "new_request_id",
    "request_id_from",
    "run_probe",
]
