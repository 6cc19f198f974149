import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from erp_core import ConsoleLogFormatter, JsonLogFormatter, RequestIdFilter, bind_request_id, logging_config
from erp_core.testing import capture_logs


def _record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc_info else None
    return logging.LogRecord("erp.test", logging.INFO, __file__, 1, message, args, info)


def test_every_line_is_json_with_the_contract_fields():
    with capture_logs() as logs:
        logging.getLogger("erp.a").info("plain")
        logging.getLogger("erp.b").error("with %s", "args", extra={"order_id": 7})

    assert len(logs.lines) == 2
    first, second = logs.records
    assert first["level"] == "INFO"
    assert first["logger"] == "erp.a"
    assert first["message"] == "plain"
    assert second["message"] == "with args"
    assert second["order_id"] == 7


def test_timestamp_is_iso8601_utc_with_offset():
    line = JsonLogFormatter().format(_record("x"))

    timestamp = datetime.fromisoformat(json.loads(line)["timestamp"])
    assert timestamp.utcoffset() == timedelta(0)
    assert json.loads(line)["timestamp"].endswith("+00:00")


@pytest.mark.parametrize("hostile", ["a\nb", "a\rb", "a\r\nfake line", "a\x1b[31mb", "a\u2028b"])
def test_control_characters_cannot_start_a_new_json_line(hostile: str):
    line = JsonLogFormatter().format(_record("path=%s", hostile))

    assert "\n" not in line
    assert "\r" not in line
    assert "\u2028" not in line
    assert json.loads(line)["message"] == f"path={hostile}"


@pytest.mark.parametrize("text", ["Zürich \u0085 \u2029", "plain"])
def test_json_lines_are_ascii_and_keep_every_extra(text: str):
    record = _record("%s", text)
    record.__dict__.update(at=datetime(2026, 1, 2, 3, 4, 5), huge=2**70, order_id=7)

    line = JsonLogFormatter().format(record)

    assert line.isascii()
    assert len(line.splitlines()) == 1
    parsed = json.loads(line)
    assert parsed["message"] == text
    assert (parsed["at"], parsed["huge"], parsed["order_id"]) == ("2026-01-02T03:04:05", 2**70, 7)


@pytest.mark.parametrize("hostile", ["a\nb", "a\rb", "a\x1b[31mb", "a\u2028b"])
def test_control_characters_cannot_start_a_new_console_line(hostile: str):
    line = ConsoleLogFormatter().format(_record("path=%s", hostile))

    assert len(line.splitlines()) == 1
    assert "\x1b" not in line


def test_exception_traceback_stays_inside_one_json_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonLogFormatter().format(_record("failed", exc_info=True))

    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exc_info"]


def test_console_format_shows_the_request_id():
    record = _record("hello")
    with bind_request_id("req-9"):
        RequestIdFilter().filter(record)
    line = ConsoleLogFormatter().format(record)

    assert "hello" in line
    assert "request_id=req-9" in line


def test_logging_config_keeps_existing_loggers_and_routes_uvicorn_to_root():
    config = logging_config("info", "json")

    assert config["disable_existing_loggers"] is False
    assert config["root"]["level"] == "INFO"
    assert config["loggers"]["uvicorn.access"]["propagate"] is True


def test_configure_logging_writes_json_to_stdout_in_a_fresh_process():
    program = (
        "import logging; from erp_core import configure_logging, bind_request_id\n"
        "configure_logging('INFO', 'json')\n"
        "logging.getLogger('uvicorn.error').info('server line', extra={'color_message': '\\x1b[36mx'})\n"
        "with bind_request_id('abc'):\n"
        "    logging.getLogger('app').warning('bad\\nthing')\n"
        "logging.getLogger('app').debug('hidden')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=30
    )

    lines = result.stdout.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["server line", "bad\nthing"]
    assert "color_message" not in json.loads(lines[0])
    assert json.loads(lines[1])["request_id"] == "abc"
    assert result.stderr == ""
