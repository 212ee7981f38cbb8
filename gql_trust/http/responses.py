"""GraphQL-over-HTTP responses: request errors and their status codes.

A *request error* is raised before execution starts (the document does not parse or
validate, a variable cannot be coerced, no operation matches ``operationName``): the
result then has no ``data`` entry at all. With ``application/graphql-response+json``
it is answered 400; with ``application/json``, 200 (the spec's legacy rule: every
well-formed request gets 200). Field errors keep their data and 200 under both.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

from .negotiation import GRAPHQL_RESPONSE_JSON, JSON

REQUEST_ERROR_STATUS = 400
REQUEST_ERRORS = "request_errors"  # request.state: results that were request errors


def is_request_error(result: ExecutionResult) -> bool:
    """No data and no error located in the response: execution never started."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def as_graphql_response(request: Request, response: Response) -> None:
    """Turn a `/graphql` JSON response into ``application/graphql-response+json``: the
    media type, and 400 for a request error (a batch's items each speak for themselves)."""
    if response.headers.get("content-type", "").startswith(JSON):
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    errors: int = getattr(request.state, REQUEST_ERRORS, 0)
    body = bytes(getattr(response, "body", b""))
    if response.status_code == 200 and errors and not body.startswith(b"["):
        response.status_code = REQUEST_ERROR_STATUS


_PARAMETERS = (("query", str, "a string"), ("operationName", str, "a string"))
_OBJECTS = ("variables", "extensions")


def invalid_parameter(body: dict[str, Any]) -> str | None:
    """Why a request's parameters are not GraphQL-over-HTTP's (a 400), or None."""
    for name, kind, described in _PARAMETERS:
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            return f"The '{name}' parameter must be {described} or null"
    for name in _OBJECTS:
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            return f"The '{name}' parameter must be a JSON object or null"
    return None
