"""The HTTP layer around GraphQL: content negotiation and GraphQL-over-HTTP responses."""

from __future__ import annotations

from .negotiation import GRAPHQL_RESPONSE_JSON, JSON, negotiate, response_media_type
from .responses import as_graphql_response, invalid_parameter, is_request_error

__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "JSON",
    "as_graphql_response",
    "invalid_parameter",
    "is_request_error",
    "negotiate",
    "response_media_type",
]
