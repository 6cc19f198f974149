"""Whether OpenTelemetry's own variables ask for traces, decided without importing OpenTelemetry.

docs/contract.md §2 and §12: tracing is on only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_TRACES_EXPORTER`` is set (``OTEL_TRACES_EXPORTER=none`` and the SDK's
own ``OTEL_SDK_DISABLED=true`` keep it off). When it is on,
:func:`erp_api.app.create_app` imports :mod:`erp_api.tracing`, which needs the
``erp-api[tracing]`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TRACING_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER")


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in TRACING_VARIABLES)
