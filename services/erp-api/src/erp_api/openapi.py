"""The OpenAPI document: problem+json error answers on every operation (contract §5).

FastAPI documents a 422 ``HTTPValidationError`` in ``application/json`` on
every operation with parameters; the service answers every error, 422
included, as ``application/problem+json`` with :class:`ErrorResponse`. The
document is rewritten once so a schema-driven client or fuzzer sees what the
service really sends.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from erp_api.problems import PROBLEM_MEDIA_TYPE, ErrorDetail, ErrorResponse

_REF = "#/components/schemas/{model}"
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}
_ERROR_ANSWERS = {
    "422": "The request failed validation",
    "4XX": "The request was refused",
    "5XX": "The server failed",
}
_HTTP_METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a builder that documents the problem answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # FastAPI derives one operation id per route, so a GET + HEAD
                # route (the health probes) repeats it; _unique_operation_ids mends that.
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            app.openapi_schema = _with_problem_answers(_unique_operation_ids(schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_problem_answers(schema: dict[str, Any]) -> dict[str, Any]:
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in _ERROR_ANSWERS.items():
                documented = responses.get(code)
                if documented is None or _is_fastapi_validation_error(documented):
                    responses[code] = {"description": description, "content": _PROBLEM_CONTENT}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(ErrorResponse.model_json_schema(ref_template=_REF).pop("$defs", {}))
    components["ErrorResponse"] = {
        key: value
        for key, value in ErrorResponse.model_json_schema(ref_template=_REF).items()
        if key != "$defs"
    }
    components.setdefault("ErrorDetail", ErrorDetail.model_json_schema(ref_template=_REF))
    return schema


def _unique_operation_ids(schema: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _HTTP_METHODS and "operationId" in operation:
                if operation["operationId"] in seen:
                    operation["operationId"] = f"{operation['operationId']}_{method}"
                seen.add(operation["operationId"])
    return schema


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    content = response.get("content", {}).get("application/json", {})
    return "HTTPValidationError" in str(content.get("schema", {}))
