"""`extensions: {"explain": true}` -> `extensions.explain`: what each source was asked."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension


class Explain(SchemaExtension):
    """Per source statement: dialect, SQL as sent (values are bound parameters, never
    shown), the policy predicates injected, rows read and time spent; per measure the
    disclosure method applied. Relations appear by name: never file paths or DSNs. For a
    controlled release rows read is null: it counts the non-empty cells."""

    def get_results(self) -> dict[str, Any]:
        requested = self.execution_context.operation_extensions or {}
        if requested.get("explain") is not True:
            return {}
        context = self.execution_context.context
        trust = getattr(context, "trust", None)
        if trust is None:
            return {}
        decision = context.policy.allows(context.principal, "explain", "*", "read")
        if not decision.allowed:
            return {"explain": {"allowed": False, "reason": decision.reason}}
        return {
            "explain": {
                "allowed": True,
                "sources": [
                    {
                        "source": call.source,
                        "dataset": call.dataset,
                        "dialect": call.dialect,
                        "sql": call.sql,
                        "policyPredicates": list(call.predicates),
                        "rowsRead": None if call.rows_confidential else call.rows,
                        "ms": round(call.ms, 3),
                    }
                    for call in context.trace.calls
                ],
                "disclosure": dict(sorted(context.disclosure.methods.items())),
            }
        }
