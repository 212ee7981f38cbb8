"""Classify each GraphQL operation's outcome and hand what it did to `/metrics`.

The summary goes on the Starlette request's state, where the metrics middleware
(which owns the app's registry) picks it up once the response is sent; the
schema itself stays free of any per-app object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

STATE_KEY = "graphql_operation"


@dataclass(frozen=True)
class OperationSummary:
    outcome: str  # OK PARTIAL DENIED INVALID ERROR BUDGET_EXCEEDED
    context: Any  # the RequestContext: trace (source calls, denials, cells), disclosure


class Observe(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        request = getattr(context, "request", None)
        state = getattr(request, "state", None)
        if state is None:
            return
        result = self.execution_context.result
        errors = self.execution_context.pre_execution_errors or (
            result.errors if result is not None else None
        )
        data = result.data if result is not None else None
        setattr(state, STATE_KEY, OperationSummary(outcome(errors, data), context))


def outcome(errors: list[GraphQLError] | None, data: Any) -> str:
    if not errors:
        return "OK"
    codes = {(e.extensions or {}).get("code") for e in errors}
    if "EXTRACTION_BUDGET_EXCEEDED" in codes:
        return "BUDGET_EXCEEDED"
    if data is None and all(e.path is None for e in errors):
        return "INVALID"  # refused before execution: parse, validation or variables
    some_data = isinstance(data, dict) and any(v is not None for v in data.values())
    if some_data:
        return "PARTIAL"
    if codes == {"FORBIDDEN"}:
        return "DENIED"
    if codes == {"BAD_USER_INPUT"}:
        return "INVALID"
    return "ERROR"
