"""`extensions.requestId`: the id of the HTTP request, as in `X-Request-Id` and the ledger."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension


class RequestId(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        request = getattr(self.execution_context.context, "request", None)
        request_id = getattr(getattr(request, "state", None), "request_id", None)
        return {"requestId": request_id} if request_id else {}
