"""The OpenAPI document: problem+json error answers on every operation (docs/contract.md §5).

FastAPI documents a 422 ``HTTPValidationError`` in ``application/json`` on
every operation with parameters; the service answers every error, 422
included, as ``application/problem+json`` with :class:`ErrorResponse`. The
document is rewritten once so a schema-driven client or fuzzer sees what the
service really sends.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from erp_api.problems import PROBLEM_MEDIA_TYPE, ErrorDetail, ErrorResponse

_REF = "#/components/schemas/{model}"
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}
_ERROR_ANSWERS = {"4XX": "The request was refused", "5XX": "The server failed"}
_VALIDATION_ANSWER = {"description": "The request failed validation", "content": _PROBLEM_CONTENT}
_HTTP_METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


def operation_id(route: APIRoute) -> str:
    """``<endpoint>_<path>``; the method is appended per operation once the document is built.

    FastAPI's default appends whichever method a route's set yields first, so
    a GET + HEAD route got a different id from one process to the next.
    """
    return re.sub(r"\W", "_", f"{route.name}{route.path_format}")


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a builder that documents the problem answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # One operation id per route, so a GET + HEAD route repeats it
                # until _operation_ids_per_method mends that.
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            app.openapi_schema = _with_problem_answers(_operation_ids_per_method(schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_problem_answers(schema: dict[str, Any]) -> dict[str, Any]:
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            # 422 stays where FastAPI put it (operations with parameters or a
            # body), in the problem shape; 4XX and 5XX cover everything else.
            if "422" in responses and _is_fastapi_validation_error(responses["422"]):
                responses["422"] = _VALIDATION_ANSWER
            for code, description in _ERROR_ANSWERS.items():
                responses.setdefault(code, {"description": description, "content": _PROBLEM_CONTENT})
            if method == "head":  # a HEAD answer has headers only
                for code, answer in responses.items():
                    if code.startswith("2"):
                        answer.pop("content", None)
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


def _operation_ids_per_method(schema: dict[str, Any]) -> dict[str, Any]:
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _HTTP_METHODS and "operationId" in operation:
                operation["operationId"] = f"{operation['operationId']}_{method}"
    return schema


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    content = response.get("content", {}).get("application/json", {})
    return "HTTPValidationError" in str(content.get("schema", {}))
