"""Spark, through Spark Connect: Parquet read in place by the cluster, or its tables.

The Spark Connect client (``pyspark-client``, the ``gql-trust[spark]`` extra) is
synchronous, so queries run on a small thread pool; one session serves them all. Each
query carries a tag, so a timeout interrupts the Spark job itself (``interruptTag``)
rather than only the wait for it. A session that breaks (the server restarted, the
network dropped) is replaced on the next query; Parquet relations are temporary views
of that session, created again with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlglot import exp

from ..config import FileRelation, SourceConfig
from ..errors import ConfigError, SourceTimeout, SourceUnavailable
from .base import Source
from .registry import register

log = logging.getLogger(__name__)

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
_GLOB = re.compile(r"[*?\[{]")
INTERRUPT_GRACE_S = 5.0  # past a timeout, for the interrupted job to give its thread back
CONNECT_RETRIES = 2  # the client's own default retries for ~10 minutes; a request cannot wait


def check_remote(remote: str) -> None:
    """A Spark Connect address: ``sc://HOST:PORT`` (parameters after ``/;`` allowed)."""
    try:
        parts = urlsplit(remote)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme != "sc" or not parts.hostname or port is None:
        raise ValueError(f"a Spark Connect address looks like sc://HOST:PORT, not {remote!r}")


@dataclass
class _Call:
    """One query on its way: its tag, the session running it, and whether it was stopped."""

    tag: str
    session: Any = None
    stopped: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class SparkConfig(SourceConfig):
    remote: str = ""  # sc://HOST:PORT
    tables: tuple[tuple[str, str], ...] = ()  # relation -> the cluster's db.table


@register
class SparkSource(Source):
    kind = "spark"
    dialect = "spark"
    parameters = "named"  # spark.sql(sql, args={"p1": ...}) binds :p1

    @classmethod
    def settings(
        cls, name: str, body: dict[str, Any], resolve: Callable[[str], Path], table: str
    ) -> SourceConfig:
        remote = str(body.get("remote") or "")
        try:
            check_remote(remote)
        except ValueError as exc:
            raise ConfigError(f"{table} of kind 'spark' needs 'remote': {exc}") from None
        if importlib.util.find_spec("pyspark") is None:
            raise ConfigError(
                f"{table} of kind 'spark' needs the Spark Connect client: "
                "pip install 'gql-trust[spark]'"
            )
        files: list[FileRelation] = []
        tables: list[tuple[str, str]] = []
        for rel_name, rel in (body.get("relations") or {}).items():
            where = f"{table[:-1]}.relations.{rel_name}]"
            given = [k for k in ("parquet", "table") if k in rel]
            if len(given) != 1:
                raise ConfigError(
                    f"{where} needs exactly one of 'parquet' (files Spark reads in place) "
                    "or 'table' (a table of the cluster, db.table)"
                )
            value = str(rel[given[0]])
            if given[0] == "table":
                if not _TABLE_NAME.fullmatch(value):
                    raise ConfigError(f"{where} table {value!r} is not a name like db.table")
                tables.append((rel_name, value))
            else:
                # A URI (hdfs://, s3a://...) is the cluster's to resolve; a path is local.
                path = value if "://" in value else str(resolve(value))
                files.append(FileRelation(rel_name, "parquet", path))
        return SparkConfig(
            name=name,
            kind=cls.kind,
            remote=remote,
            relations=tuple(files),
            tables=tuple(tables),
            pool_size=int(body.get("pool_size", 4)),
            statement_timeout_s=float(body.get("statement_timeout_s", 30.0)),
        )

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        if not isinstance(config, SparkConfig):
            raise TypeError("a spark source needs the settings SparkSource.settings reads")
        self.spark_config = config
        self._pool = ThreadPoolExecutor(config.pool_size, thread_name_prefix=f"spark-{self.name}")
        self._lock = threading.Lock()
        self._session: Any = None  # pyspark.sql.connect.session.SparkSession
        self._served = False  # has the current session answered a query yet?
        self._retry_at = 0.0
        self._backoff = 0.0
        _quiet_driver_logs()

    def table(self, relation: str) -> exp.Table:
        named = dict(self.spark_config.tables).get(relation)
        if named is None:  # a temporary view over Parquet files
            return exp.table_(relation, quoted=True)
        parts = named.split(".")
        return exp.table_(
            parts[-1],
            db=parts[-2] if len(parts) > 1 else None,
            catalog=parts[-3] if len(parts) > 2 else None,
            quoted=True,
        )

    # --- the session -------------------------------------------------------------

    async def start(self) -> None:
        # An unavailable source is reported by fetch/ping; the rest of the trust keeps serving.
        with contextlib.suppress(SourceUnavailable):
            await asyncio.get_running_loop().run_in_executor(self._pool, self._connect)

    def _connect(self) -> Any:
        with self._lock:
            if self._session is not None:
                return self._session
            # Back off after a failed connect, so a source that is down answers fast.
            if time.monotonic() < self._retry_at:
                raise SourceUnavailable(f"source '{self.name}' is unavailable")
            session = None
            try:
                from pyspark.sql.connect.client.retries import DefaultPolicy
                from pyspark.sql.connect.session import SparkSession

                session = SparkSession(connection=self.spark_config.remote)
                session.client.set_retry_policies(
                    [DefaultPolicy(max_retries=CONNECT_RETRIES, max_backoff=1000)]
                )
                for relation in self.config.relations:
                    reader = session.read
                    if _GLOB.search(relation.path):  # partition columns come from the folders
                        reader = reader.option("basePath", _base_path(relation.path))
                    reader.parquet(relation.path).createOrReplaceTempView(relation.name)
                if not self.config.relations:
                    session.sql("SELECT 1").toArrow()
            except Exception as exc:  # any driver error: the source cannot serve
                self._backoff = min(self._backoff * 2 or 0.5, 10.0)
                self._retry_at = time.monotonic() + self._backoff
                if session is not None:
                    threading.Thread(target=_stop, args=(session,), daemon=True).start()
                log.info("spark source %r cannot connect: %s", self.name, _brief(exc))
                raise SourceUnavailable(f"source '{self.name}' is unavailable") from exc
            self._backoff = 0.0
            self._session, self._served = session, False
            return session

    def _discard(self, session: Any) -> bool:
        """Drop a session that failed; True when it had answered before (so it went
        stale: the server restarted or the connection broke), worth one fresh try."""
        with self._lock:
            if self._session is not session:
                return True  # another thread already replaced it
            served, self._session = self._served, None
        # Releasing it waits on the server, which may be gone: not on the request's time.
        threading.Thread(target=_stop, args=(session,), daemon=True).start()
        return served

    # --- queries -----------------------------------------------------------------

    def _run(self, sql: str, args: dict[str, Any], call: _Call) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            if call.stopped.is_set():  # timed out while queued, or before a second try
                raise SourceTimeout(f"source '{self.name}' timed out")
            session = call.session = self._connect()
            try:
                session.addTag(call.tag)  # tags are per thread: this query's job alone
                try:
                    if call.stopped.is_set():  # timed out before the tag was on
                        raise SourceTimeout(f"source '{self.name}' timed out")
                    table = session.sql(sql, args=args).toArrow()
                finally:
                    session.removeTag(call.tag)
            except Exception as exc:  # any driver error is translated here, at the boundary
                if call.stopped.is_set():
                    raise SourceTimeout(f"source '{self.name}' timed out") from exc
                if _is_analysis(exc):  # the query, not the session: keep the session
                    log.info("spark source %r refused a query: %s", self.name, _brief(exc))
                    raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc
                if self._discard(session) and attempt == 1 and not _unreachable(exc):
                    continue  # a stale session on a server that answers: one fresh try
                log.info("spark source %r failed: %s", self.name, _brief(exc))
                raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc
            self._served = True
            return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
        raise AssertionError("unreachable")

    async def _execute(
        self, sql: str, params: Sequence[Any], timeout: float | None
    ) -> list[tuple[Any, ...]]:
        call = _Call(f"gql-trust-{uuid.uuid4().hex}")
        args = self.named_parameters(params)
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._pool, self._run, sql, args, call)
        limit = min(self.config.statement_timeout_s, timeout or float("inf"))
        try:
            return await asyncio.wait_for(asyncio.shield(work), limit)
        except (TimeoutError, asyncio.CancelledError) as exc:
            call.stopped.set()
            # Really stop the job in Spark, not just the wait for it.
            session = call.session
            if session is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.to_thread(session.interruptTag, call.tag), INTERRUPT_GRACE_S
                    )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(work), INTERRUPT_GRACE_S)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise SourceTimeout(f"source '{self.name}' timed out after {limit:g} s") from exc

    async def fetch(
        self, sql: str, params: Sequence[Any], timeout: float | None = None
    ) -> list[tuple[Any, ...]]:
        return self._count(await self._execute(sql, params, timeout))

    async def ping(self) -> None:
        """Touch every relation: files may be gone, or a table dropped, while Spark itself
        answers. Not through fetch: stats count callers' queries."""
        checks = [f"SELECT 1 FROM {self.table(r).sql('spark')} LIMIT 1" for r in self._names()]
        for sql in checks or ["SELECT 1"]:
            await self._execute(sql, (), None)

    def _names(self) -> list[str]:
        return [r.name for r in self.config.relations] + [n for n, _ in self.spark_config.tables]

    async def relation_names(self) -> list[str]:
        return sorted(self._names())

    async def columns(self, relation: str) -> dict[str, str] | None:
        """The relation's schema as Spark reads it (types in Spark's names: bigint, date...)."""
        if relation not in self._names():
            return None
        work = asyncio.get_running_loop().run_in_executor(self._pool, self._describe, relation)
        try:
            return await asyncio.wait_for(work, self.config.statement_timeout_s)
        except TimeoutError as exc:
            raise SourceTimeout(f"source '{self.name}' timed out") from exc

    def _describe(self, relation: str) -> dict[str, str] | None:
        session = self._connect()
        try:
            fields = session.table(self.table(relation).sql("spark")).schema.fields
        except Exception as exc:  # translated at the boundary, like queries
            if _is_analysis(exc):  # a configured table the cluster does not have
                return None
            self._discard(session)
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc
        return {f.name: f.dataType.simpleString() for f in fields}

    async def last_modified(self, relation: str) -> datetime | None:
        """The newest modification time of local Parquet files behind the relation."""
        for rel in self.config.relations:
            if rel.name == relation and "://" not in rel.path:
                return await asyncio.to_thread(_newest, rel.path)
        return None

    async def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            await asyncio.to_thread(_stop, session)
        self._pool.shutdown(wait=True)


def _quiet_driver_logs() -> None:
    """The client logs each failed query's whole server stack trace at ERROR; the source
    logs one line of its own and callers get the trust's error, so those are noise."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _base_path(pattern: str) -> str:
    """The folder above the first glob component: where hive partition folders start."""
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        if _GLOB.search(part):
            return "/".join(parts[:index]) or "/"
    return pattern


def _newest(pattern: str) -> datetime | None:
    root = Path(_base_path(pattern)) if _GLOB.search(pattern) else Path(pattern)
    paths = [root] if root.is_file() else list(root.rglob("*.parquet"))
    times = [p.stat().st_mtime for p in paths if p.exists()]
    return datetime.fromtimestamp(max(times), tz=UTC) if times else None


def _is_analysis(exc: BaseException) -> bool:
    from pyspark.errors import AnalysisException

    return isinstance(exc, AnalysisException)


def _unreachable(exc: BaseException) -> bool:
    """The client could not reach the server at all (after its own retries)."""
    status = getattr(exc, "getGrpcStatusCode", None)
    return callable(status) and getattr(status(), "name", None) == "UNAVAILABLE"


def _brief(exc: BaseException) -> str:
    """One line for the log: driver messages can carry whole server stack traces."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _stop(session: Any) -> None:
    """Release the session on the server, without retrying: it may be gone already."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    with contextlib.suppress(Exception):
        session.client.set_retry_policies([DefaultPolicy(max_retries=0)])
        session.stop()
