"""The Spark source's own promises, against the real server: a timeout stops the job in
Spark, readiness touches the relations, cluster tables serve like Parquet views, and
settings or driver errors come out as the trust's errors."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gql_trust.config import load_settings
from gql_trust.errors import ConfigError, SourceTimeout, SourceUnavailable
from gql_trust.sources import SparkSource, open_source
from tests.conftest import TrustUnderTest, _running
from tests.spark.server import SparkConnectServer

# Minutes of work on two cores: only an interrupt ends it within a test's lifetime.
SLOW = "SELECT SUM(hash(id)) FROM range(0, 1000000000000, 1, 2)"


async def _jobs_running(server: SparkConnectServer, marker: str) -> list[dict[str, Any]]:
    jobs = await asyncio.to_thread(server.jobs)
    return [j for j in jobs if j["status"] == "RUNNING" and marker in str(j)]


async def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.25)
    return False


async def test_a_timeout_interrupts_the_spark_job(
    spark_trust: TrustUnderTest, spark_server: SparkConnectServer
) -> None:
    source = spark_trust.sources["dwp"]
    started = time.monotonic()
    with pytest.raises(SourceTimeout, match="timed out after 3 s"):
        await source.fetch(SLOW, [], timeout=3)
    assert time.monotonic() - started < 3 + 5
    # The job had started in Spark, and no longer runs there.
    jobs = await asyncio.to_thread(spark_server.jobs)
    ours = [j for j in jobs if "gql-trust-" in str(j.get("jobTags"))]
    assert ours and ours[0]["status"] != "SUCCEEDED", jobs
    assert await _wait_for(lambda: _idle(spark_server, "gql-trust-"), 10)
    # The source serves straight after.
    assert await source.fetch("SELECT 1", []) == [(1,)]


async def test_baseline_abandoning_the_wait_alone_leaves_the_job_running(
    spark_server: SparkConnectServer,
) -> None:
    """What the test above guards against: a client that stops waiting without
    interrupting leaves the job to run on the cluster's cores."""
    from pyspark.sql.connect.session import SparkSession

    session = SparkSession(connection=spark_server.remote)
    errors: list[BaseException] = []

    def run() -> None:
        session.addTag("abandoned-baseline")
        try:
            session.sql(SLOW).toArrow()
        except BaseException as exc:  # interrupted below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(worker.join), 3)
        await asyncio.sleep(2)  # well past the "timeout": the job still runs
        assert await _jobs_running(spark_server, "abandoned-baseline")
    finally:
        session.interruptTag("abandoned-baseline")
        await asyncio.to_thread(worker.join, 10)
        session.stop()
    assert errors  # interrupted, not finished
    assert await _wait_for(lambda: _idle(spark_server, "abandoned-baseline"), 10)


async def _idle(server: SparkConnectServer, marker: str) -> bool:
    return not await _jobs_running(server, marker)


def _copy_trust(spark_trust_dir: Path, target: Path, dwp_source: str) -> Path:
    """A copy of the Spark trust whose `[sources.dwp]` table is ``dwp_source``."""
    shutil.copytree(spark_trust_dir, target, ignore=shutil.ignore_patterns("ledger"))
    settings = (target / "gql-trust.toml").read_text("utf-8")
    start = settings.index("[sources.dwp]")
    end = settings.index("[sources.hmrc]")
    text = settings[:start] + dwp_source.strip() + "\n\n" + settings[end:]
    (target / "gql-trust.toml").write_text(text, "utf-8")
    return target


async def test_a_cluster_table_serves_like_the_parquet_view(
    spark_trust: TrustUnderTest,
    spark_server: SparkConnectServer,
    tmp_path: Path,
) -> None:
    from pyspark.sql.connect.session import SparkSession

    session = SparkSession(connection=spark_server.remote)
    try:
        session.sql("CREATE DATABASE IF NOT EXISTS dwp_catalog")
        frame = session.read.parquet(str(spark_trust.directory / "dwp" / "claimants"))
        frame.write.mode("overwrite").saveAsTable("dwp_catalog.uc_claimants")
    finally:
        session.stop()
    directory = _copy_trust(
        spark_trust.directory,
        tmp_path / "trust",
        f"""[sources.dwp]
kind = "spark"
remote = "{spark_server.remote}"
[sources.dwp.relations.uc_claimants]
table = "dwp_catalog.uc_claimants"
""",
    )
    query = (
        '{ claimants(geography: REGION, where: {period: {gte: "2026-01"}}) '
        "{ period area { code } claimants } }"
    )
    async for table_trust in _running("spark", directory, None):
        source = table_trust.sources["dwp"]
        assert source.table("uc_claimants").sql("spark") == "`dwp_catalog`.`uc_claimants`"
        await source.ping()
        for who in ("dwp", "hmrc"):
            assert await table_trust.data(query, who=who) == await spark_trust.data(query, who=who)


async def test_readiness_fails_when_the_parquet_files_are_gone(
    spark_trust: TrustUnderTest, tmp_path: Path
) -> None:
    remote = spark_trust.sources["dwp"].spark_config.remote
    block = f"""[sources.dwp]
kind = "spark"
remote = "{remote}"
[sources.dwp.relations.uc_claimants]
parquet = "dwp/claimants"
"""
    directory = _copy_trust(spark_trust.directory, tmp_path / "trust", block)
    source = open_source(load_settings(directory / "gql-trust.toml").sources["dwp"])
    try:
        await source.start()
        await source.ping()
        assert len(await source.fetch("SELECT * FROM `uc_claimants` LIMIT 3", [])) == 3
        shutil.rmtree(directory / "dwp" / "claimants")
        with pytest.raises(SourceUnavailable, match="source 'dwp'") as raised:
            await source.ping()
        assert "claimants" not in str(raised.value)  # no path or driver text for callers
        with pytest.raises(SourceUnavailable):
            await source.fetch("SELECT COUNT(*) FROM `uc_claimants`", [])
    finally:
        await source.close()


async def test_driver_errors_are_the_trusts_errors(spark_trust: TrustUnderTest) -> None:
    source = spark_trust.sources["dwp"]
    for bad in ("SELEC nothing", "SELECT * FROM no_such_table", "SELECT :p1 + 1"):
        with pytest.raises(SourceUnavailable, match=r"^source 'dwp' failed to answer$"):
            await source.fetch(bad, [])
    # ...and the session survives them.
    assert await source.fetch("SELECT :p1 + 1", [41]) == [(42,)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "needs 'remote'"),
        ({"remote": "http://127.0.0.1:15002"}, "sc://HOST:PORT"),
        ({"remote": "sc://127.0.0.1"}, "sc://HOST:PORT"),
        (
            {"remote": "sc://127.0.0.1:1", "relations": {"r": {"parquet": "x", "table": "a.b"}}},
            "exactly one of 'parquet'",
        ),
        (
            {"remote": "sc://127.0.0.1:1", "relations": {"r": {"table": "a.b; DROP TABLE c"}}},
            "not a name like db.table",
        ),
    ],
)
def test_settings_errors_are_clear(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SparkSource.settings("dwp", body, Path, "gql-trust.toml: [sources.dwp]")
