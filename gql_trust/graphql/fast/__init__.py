"""The compiled execution path, fenced off from the rest of the GraphQL layer.

It leans on graphql-core and Strawberry internals (``complete_list_value``'s signature,
a resolver's ``wrapped_func``, ``Info._raw_info``), so both are pinned below their next
minor release in pyproject.toml, and a test (tests/test_fast_lists.py) compares it with
plain Strawberry execution on many queries. A dataset field it cannot take over
faithfully (a field extension, a permission class) is an error at build time, never a
silent fall back.
"""

from __future__ import annotations

from .direct import FastPathRefused, install
from .lists import FastListExecutionContext

__all__ = ["FastListExecutionContext", "FastPathRefused", "install"]
