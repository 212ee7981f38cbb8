"""`gql-trust check` inspects Spark relations through the Spark session (temporary views
over Parquet have no information_schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_check import broken_trust, check, one_error


def test_the_spark_demo_trust_passes(spark_trust_dir: Path) -> None:
    result = check(spark_trust_dir / "gql-trust.toml")
    assert result.exit_code == 0, result.output
    assert "contract claimants: ok (" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("check passed: 3 contracts (21 columns)")


def test_a_missing_column_in_spark(spark_trust_dir: Path, tmp_path: Path) -> None:
    def rename(bodies: dict[str, Any]) -> None:
        bodies["claimants.yaml"]["cell_key"] = "record_keys"

    line = one_error(check(broken_trust(spark_trust_dir, tmp_path, contracts=rename)))
    assert "has no column 'record_keys' (did you mean 'record_key'?)" in line, line
    assert "claimant_id, area_code, age_band" in line  # the columns as Spark reads them
