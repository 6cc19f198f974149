"""Logging set-up: one JSON object per line on stdout, or a readable console format.

:func:`logging_config` returns a :mod:`logging.config` dictionary, so uvicorn
can apply the very same configuration in each worker process before it logs a
line (``uvicorn.run(log_config=...)``); :func:`configure_logging` applies it
in-process. Configuring twice is harmless: ``dictConfig`` replaces handlers.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from pythonjsonlogger.core import RESERVED_ATTRS

from erp_core.request_context import RequestIdFilter
from erp_core.settings import LogFormat, LogLevel

# C0 and C1 control characters (tab excluded) and the Unicode line separators:
# anything a terminal or a log shipper could read as the end of a line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

# The loggers the service and its servers write to; they propagate to root.
_KNOWN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic", "asyncio")


def escape_control_characters(text: str) -> str:
    """Replace each control character by a visible escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class StdoutHandler(logging.StreamHandler[TextIO]):
    """A stream handler bound to whatever ``sys.stdout`` is when a record is written.

    A handler that captured ``sys.stdout`` at configuration time keeps writing
    to a stream that test runners (and some process managers) have since
    replaced or closed.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore the stream the base class assigns: stdout is looked up per record."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, extras.

    Written out with orjson instead of python-json-logger's ``JsonFormatter``
    (whose field names and reserved-attribute list it keeps): the access line
    is formatted on every request, and this costs about a third as much per
    line (measured, ``benchmarks/``). orjson escapes every C0 control
    character; a line with any non-ASCII character goes through
    ``json.dumps`` with ASCII escapes, as before, so no U+0085, U+2028 or
    U+2029 can end a line for a log shipper either.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # the last whole second and its ISO 8601 text

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                data[key] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        try:
            line = orjson.dumps(data, default=_json_default).decode()
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
            line = ""
        if not line.isascii() or not line:
            line = json.dumps(data, default=_json_default, separators=(",", ":"))
        return line

    def _timestamp(self, created: float) -> str:
        second = int(created)
        cached_second, text = self._second
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}+00:00"


# LogRecord attributes that are not extras (python-json-logger's list), and
# uvicorn's ANSI-coloured copy of its message.
_RESERVED = frozenset([*RESERVED_ATTRS, "color_message"])


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class ConsoleLogFormatter(logging.Formatter):
    """A one-line-per-record format for a developer's terminal (``LOG_FORMAT=console``).

    The message is escaped so a newline from a request cannot fake a record;
    a traceback, when there is one, follows on its own lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-8s %(name)s: %(message)s%(request_suffix)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control_characters(record.message)
        request_id = getattr(record, "request_id", None)
        record.request_suffix = f" [request_id={request_id}]" if request_id else ""
        return super().formatMessage(record)


def logging_config(
    level: LogLevel | str = LogLevel.INFO, fmt: LogFormat | str = LogFormat.JSON
) -> dict[str, Any]:
    """The whole logging configuration as a ``dictConfig`` dictionary.

    Every known logger propagates to one stdout handler on the root logger, so
    uvicorn's and SQLAlchemy's records come out in the same format as ours.
    """
    level = LogLevel(str(level).upper())
    formatter = (
        {"()": f"{__name__}.JsonLogFormatter"}
        if LogFormat(fmt) is LogFormat.JSON
        else {"()": f"{__name__}.ConsoleLogFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "()": f"{__name__}.StdoutHandler",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "loggers": {name: {"handlers": [], "propagate": True} for name in _KNOWN_LOGGERS},
        "root": {"level": level.value, "handlers": ["stdout"]},
    }


def configure_logging(level: LogLevel | str = LogLevel.INFO, fmt: LogFormat | str = LogFormat.JSON) -> None:
    """Apply :func:`logging_config` to this process.

    Also stops the logging module from gathering what neither format prints
    (thread, process and caller of each record), as the Python logging
    HOWTO's "Optimization" section describes: the access line is written on
    every request, and the caller lookup walks the stack each time.
    """
    logging.config.dictConfig(logging_config(level, fmt))
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # documented in the HOWTO, private by name
