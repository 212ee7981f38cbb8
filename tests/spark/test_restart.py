"""Spark going away and coming back: while it is down, claimants report
SOURCE_UNAVAILABLE (the rest of the trust serves) and /readyz names the source; once it
is back the same trust serves again, without a restart of its own."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import TrustUnderTest
from tests.spark.server import SparkConnectServer

QUERY = "{ claimants(geography: COUNTRY) { area { code } sex claimants } }"
COMEBACK_S = 30.0  # the source's reconnect back-off is at most 10 s


async def test_spark_stopped_then_started_again(
    spark_trust: TrustUnderTest, spark_server: SparkConnectServer
) -> None:
    before = await spark_trust.data(QUERY)
    assert (await spark_trust.client.get("/readyz")).status_code == 200

    spark_server.stop()
    try:
        started = time.monotonic()
        body = await spark_trust.query(QUERY)
        failed_in = time.monotonic() - started
        assert body["data"] == {"claimants": None}
        (error,) = body["errors"]
        assert error["path"] == ["claimants"]
        assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
        assert "Traceback" not in str(body) and "grpc" not in str(body).lower()
        assert failed_in < 10, f"a source that is down should answer fast, took {failed_in:.1f} s"
        # The other departments' data still serves.
        other = await spark_trust.query("{ vacancies(limit: 1) { vacancies } }", who="dwp")
        assert "errors" not in other
        ready = await spark_trust.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["failing"] == ["dwp"]
    finally:
        spark_server.start()

    back = time.monotonic()
    while True:
        body = await spark_trust.query(QUERY)
        if "errors" not in body or time.monotonic() - back > COMEBACK_S:
            break
        await asyncio.sleep(0.2)
    assert "errors" not in body, body["errors"]
    assert body["data"] == before
    assert (await spark_trust.client.get("/readyz")).status_code == 200
