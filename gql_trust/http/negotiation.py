"""Picking a response media type from a request's ``Accept`` header (RFC 9110 12.5.1).

The GraphQL-over-HTTP spec defines two JSON media types: the legacy
``application/json`` (every well-formed request answered 200) and
``application/graphql-response+json`` (request errors answered 4xx). A client that
sends no ``Accept`` header, or accepts anything, gets ``application/json``, as the
spec asks during its transition period.
"""

from __future__ import annotations

from collections.abc import Sequence

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON_TYPES = (GRAPHQL_RESPONSE_JSON, JSON)  # the server's preference on a tie
MAX_ACCEPT_ITEMS = 64  # a longer header is not a real client's


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, q) for each well-formed item of an ``Accept`` header."""
    ranges = []
    for item in accept.split(",")[:MAX_ACCEPT_ITEMS]:
        media, *params = (part.strip() for part in item.split(";"))
        if media.count("/") != 1:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The q the client gives ``offer``: from its most specific matching range."""
    kind = offer.split("/")[0]
    best, specificity = 0.0, -1
    for media, q in ranges:
        if media == offer:
            level = 2
        elif media == f"{kind}/*":
            level = 1
        elif media == "*/*":
            level = 0
        else:
            continue
        if level > specificity:
            best, specificity = q, level
    return best


def negotiate(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers (ties go to the earlier offer), or None when the
    client accepts none of them. No header accepts anything: the first offer."""
    if accept is None or not accept.strip():
        return offers[0] if offers else None
    ranges = _ranges(accept)
    chosen, chosen_q = None, 0.0
    for offer in offers:
        q = _quality(offer, ranges)
        if q > chosen_q:
            chosen, chosen_q = offer, q
    return chosen


def response_media_type(accept: str | None) -> str:
    """The JSON media type of a `/graphql` response: ``application/json`` unless the
    client asks for ``application/graphql-response+json`` by name (a wildcard or no
    header gets the legacy type, which every client understands), and also when it
    accepts neither (the spec allows ignoring ``Accept`` then)."""
    if accept is None:
        return JSON
    ranges = _ranges(accept)
    named = {media for media, q in ranges if q > 0}
    if GRAPHQL_RESPONSE_JSON not in named:
        return JSON
    if _quality(JSON, ranges) > _quality(GRAPHQL_RESPONSE_JSON, ranges):
        return JSON
    return GRAPHQL_RESPONSE_JSON
