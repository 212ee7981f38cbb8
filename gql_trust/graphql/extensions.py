"""Schema extensions: cross-cutting concerns, one idea each."""

from __future__ import annotations

from collections.abc import Callable

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from ..errors import TrustError


def _should_mask(error: GraphQLError) -> bool:
    """Validation errors and the trust's own errors are safe to show; nothing else is."""
    original = error.original_error
    return original is not None and not isinstance(original, TrustError)


def schema_extensions() -> list[Callable[[], SchemaExtension]]:
    return [lambda: MaskErrors(should_mask_error=_should_mask, error_message="Unexpected error.")]
