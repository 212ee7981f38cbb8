"""What every source offers the planner."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlglot import exp

from ..config import SourceConfig

_COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 "
    "ORDER BY ordinal_position"
)
_RELATIONS_SQL = (
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = COALESCE($1, current_schema()) ORDER BY table_name"
)


@dataclass
class SourceStats:
    """Running totals, for /metrics and for tests that count what left a source."""

    queries: int = 0
    rows: int = 0


class Source(abc.ABC):
    kind: ClassVar[str]  # the `kind` of its settings table, in the registry
    dialect: ClassVar[str]  # sqlglot dialect the planner renders for this source
    # Bound values as $1, $2... ("numbered"), or by name as :p1, :p2... ("named": fetch
    # then gets them as {"p1": ..., "p2": ...} from ``named_parameters``).
    parameters: ClassVar[str] = "numbered"

    @classmethod
    @abc.abstractmethod
    def settings(
        cls, name: str, body: dict[str, Any], resolve: Callable[[str], Path], table: str
    ) -> SourceConfig:
        """Read this kind's `[sources.<name>]` table; ``table`` names it in errors."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.name = config.name
        self.stats = SourceStats()

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect. Must not raise for an unreachable source: `fetch` reports that."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def fetch(
        self, sql: str, params: Sequence[Any], timeout: float | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one read-only query, cancelled at the source after ``timeout`` seconds
        (default: the source's statement timeout); raise SourceUnavailable/SourceTimeout."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise SourceUnavailable when the source cannot answer."""

    async def columns(self, relation: str) -> dict[str, str] | None:
        """Column name -> the source's type name, or None when the relation does not exist
        (for `gql-trust check`); by default from the standard information_schema, which
        DuckDB and PostgreSQL answer."""
        rows = await self.fetch(_COLUMNS_SQL, [self.config.schema, relation])
        return {str(name): str(data_type) for name, data_type in rows} or None

    async def relation_names(self) -> list[str]:
        return [str(row[0]) for row in await self.fetch(_RELATIONS_SQL, [self.config.schema])]

    async def last_modified(self, relation: str) -> datetime | None:
        """When the relation's data last changed, where the source can say."""
        return None

    def table(self, relation: str) -> exp.Table:
        return exp.table_(relation, db=self.config.schema, quoted=True)

    @staticmethod
    def named_parameters(params: Sequence[Any]) -> dict[str, Any]:
        return {f"p{i}": value for i, value in enumerate(params, start=1)}

    def _count(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        self.stats.queries += 1
        self.stats.rows += len(rows)
        return rows
