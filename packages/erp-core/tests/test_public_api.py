import os
import subprocess
import sys

import erp_core


def test_exported_members_are_pinned():
    assert erp_core.__all__ == [
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
    assert all(hasattr(erp_core, name) for name in erp_core.__all__)


def test_import_reads_no_environment_and_configures_no_logging(tmp_path):
    # Every variable is bad and .env is unreadable: an import that read them would fail.
    (tmp_path / ".env").write_bytes(b"APP_NAME=\xff\xfe\n")
    env = {"PATH": os.environ["PATH"], "ENVIRONMENT": "moon", "LOG_LEVEL": "LOUD", "TIME_ZONE": "Nowhere/x"}
    program = "import logging, erp_core, erp_core.testing; print(len(logging.getLogger().handlers))"
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    )
    assert result.stdout.strip() == "0"
