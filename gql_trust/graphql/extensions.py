"""Schema extensions: cross-cutting concerns, one idea each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from ..errors import TrustError
from .dry_run import DryRun
from .explain import Explain
from .operation_metrics import Observe
from .request_id import RequestId


def _should_mask(error: GraphQLError) -> bool:
    """Validation and input-coercion errors (graphql-core's own) and the trust's own
    errors are safe to show; nothing else is."""
    original = error.original_error
    return original is not None and not isinstance(original, TrustError | GraphQLError)


class DisclosureReport(SchemaExtension):
    """`extensions.disclosure`: how many returned cells were suppressed or perturbed."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        tally = getattr(context, "disclosure", None)
        results: dict[str, Any] = {}
        if tally is not None and tally.methods:
            results["disclosure"] = tally.as_dict()
        privacy = getattr(context, "privacy", None)
        if privacy is not None:  # zCDP releases: rho spent, left, and accuracy
            results["privacy"] = privacy.as_dict()
        return results


def schema_extensions() -> list[Callable[[], SchemaExtension]]:
    return [
        lambda: MaskErrors(should_mask_error=_should_mask, error_message="Unexpected error."),
        DisclosureReport,
        Explain,
        DryRun,
        Observe,  # outcome and what the operation did, for /metrics
        RequestId,  # extensions.requestId, as in X-Request-Id and the ledger entry
    ]
