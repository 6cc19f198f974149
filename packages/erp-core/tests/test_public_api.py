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


def test_import_reads_no_environment_and_configures_no_logging():
    import logging
    import subprocess
    import sys

    program = (
        "import logging, os; os.environ.clear(); import erp_core, erp_core.testing; "
        "print(len(logging.getLogger().handlers))"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
    assert logging  # keep the import honest
