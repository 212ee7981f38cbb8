"""From a GraphQL request to one SQL statement per dataset, pushed down to its source."""

from .query import And, CellQuery, Cond, Filter, Not, Or, OrderKey
from .sql import Compiled, compile_coverage, compile_query

__all__ = [
    "And",
    "CellQuery",
    "Compiled",
    "Cond",
    "Filter",
    "Not",
    "Or",
    "OrderKey",
    "compile_coverage",
    "compile_query",
]
