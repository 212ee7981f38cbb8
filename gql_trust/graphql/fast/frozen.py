"""Hashable keys for GraphQL input values (arguments, variables), for caches keyed by them."""

from __future__ import annotations

from typing import Any

MAX_LIST = 64  # a longer list (a big `in` filter) makes its value uncacheable


class Uncacheable(Exception):
    """The value is too large, or not hashable, to be worth keeping as a key."""


def frozen(value: Any) -> Any:
    """A hashable key equal only for equal values, types included (1, True and 1.0 are
    different values). Raises Uncacheable for long lists and unhashable leaves."""
    if isinstance(value, dict):
        return (dict, tuple((k, frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise Uncacheable
        return (list, tuple(frozen(v) for v in value))
    if type(value) is str:
        return value
    try:
        hash(value)  # enums, numbers, booleans, None
    except TypeError:
        raise Uncacheable from None
    return (type(value), value)
