"""Logging set-up: one JSON object per line on stdout, or a readable console format.

:func:`logging_config` returns a :mod:`logging.config` dictionary, so uvicorn
can apply the very same configuration in each worker process before it logs a
line (``uvicorn.run(log_config=...)``); :func:`configure_logging` applies it
in-process. Configuring twice is harmless: ``dictConfig`` replaces handlers.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

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


class JsonLogFormatter(JsonFormatter):
    """python-json-logger with the contract's field names and a UTC ISO 8601 ``timestamp``.

    ``json.dumps`` escapes every control character, so each record is one line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        # uvicorn repeats each message with ANSI colour codes for terminals.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "color_message"])
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)


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
