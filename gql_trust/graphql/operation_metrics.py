"""Hand what each GraphQL operation did to `/metrics`.

The request context (source calls, denials, cells, disclosure) goes on the
Starlette request's state, where the metrics middleware (which owns the app's
registry) picks it up once the response is sent, next to the ledger entry
whose outcome it counts; the schema itself stays free of any per-app object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from strawberry.extensions import SchemaExtension

STATE_KEY = "graphql_operation"


@dataclass(frozen=True)
class OperationSummary:
    context: Any  # the RequestContext: trace (source calls, denials, cells), disclosure


class Observe(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        state = getattr(getattr(context, "request", None), "state", None)
        if state is not None:
            setattr(state, STATE_KEY, OperationSummary(context))
