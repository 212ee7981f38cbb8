"""The demo data trust: its physical layout is a contract that oracles read directly."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import pytest

from gql_trust.config import load_settings
from gql_trust.demo import AREAS, LOCAL_AUTHORITIES, REGIONS, SECTORS, generate
from gql_trust.demo.dimensions import month_count
from gql_trust.demo.generate import toml_string, write_config

SCALE = 0.02
SEED = 42
AGE_BANDS = ["16-24", "25-34", "35-49", "50-64", "65+"]
SEXES = ["F", "M"]

CLAIMANT_TYPES = [
    ("claimant_id", "BIGINT"),
    ("month", "DATE"),
    ("area_code", "VARCHAR"),
    ("age_band", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("conditionality", "VARCHAR"),
    ("disability", "BOOLEAN"),
    ("record_key", "BIGINT"),
]
PAYROLL_TYPES = [
    ("month", "DATE"),
    ("area_code", "VARCHAR"),
    ("sic_section", "VARCHAR"),
    ("age_band", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("employees", "BIGINT"),
    ("total_pay", "DOUBLE"),
]


@pytest.fixture(scope="module")
def trust_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-a")
    messages: list[str] = []
    generate(directory, scale=SCALE, seed=SEED, progress=messages.append)
    assert len(messages) >= 5
    return directory


@pytest.fixture(scope="module")
def same_seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-b")
    generate(directory, scale=SCALE, seed=SEED)
    return directory


@pytest.fixture(scope="module")
def db(trust_dir: Path) -> duckdb.DuckDBPyConnection:
    """Views named after the three datasets, read straight from the files."""
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{trust_dir / 'dwp/claimants.duckdb'}' AS dwp (READ_ONLY)")
    connection.execute("CREATE VIEW claimants AS SELECT * FROM dwp.uc_claimants")
    connection.execute(
        "CREATE VIEW payroll AS SELECT * FROM "
        f"read_parquet('{trust_dir / 'hmrc/paye_rti/*.parquet'}')"
    )
    connection.execute(
        f"CREATE VIEW vacancies AS SELECT * FROM read_csv('{trust_dir / 'ons/vacancies.csv'}')"
    )
    return connection


def rows(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return connection.execute(sql).fetchall()


def one(connection: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return rows(connection, sql)[0][0]


def claimant_rows(directory: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(directory / "dwp/claimants.duckdb"), read_only=True) as connection:
        return connection.execute(
            "SELECT * FROM uc_claimants ORDER BY claimant_id, month"
        ).fetchall()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# Layout and types


def test_layout(trust_dir: Path) -> None:
    for relative in (
        "gql-trust.toml",
        "reference/areas.csv",
        "reference/sectors.csv",
        "dwp/claimants.duckdb",
        "ons/vacancies.csv",
    ):
        assert (trust_dir / relative).is_file(), relative
    assert len(list((trust_dir / "hmrc/paye_rti").glob("*.parquet"))) >= 2
    assert not list(trust_dir.rglob("*.wal"))


def test_claimant_columns(db: duckdb.DuckDBPyConnection) -> None:
    assert rows(db, "SELECT column_name, column_type FROM (DESCRIBE claimants)") == CLAIMANT_TYPES


def test_payroll_columns(db: duckdb.DuckDBPyConnection) -> None:
    assert rows(db, "SELECT column_name, column_type FROM (DESCRIBE payroll)") == PAYROLL_TYPES


def test_vacancies_csv(trust_dir: Path, db: duckdb.DuckDBPyConnection) -> None:
    lines = (trust_dir / "ons/vacancies.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "month,area_code,sic_section,vacancies"
    month, area, section, count = lines[1].split(",")
    assert len(month) == 10 and month.endswith("-01")
    assert area in {a.code for a in LOCAL_AUTHORITIES} and section == "A" and count.isdigit()
    assert rows(db, "SELECT column_name, column_type FROM (DESCRIBE vacancies)") == [
        ("month", "DATE"),
        ("area_code", "VARCHAR"),
        ("sic_section", "VARCHAR"),
        ("vacancies", "BIGINT"),
    ]


# Reference data


def test_areas_csv(trust_dir: Path) -> None:
    areas = read_csv(trust_dir / "reference/areas.csv")
    assert list(areas[0]) == ["code", "name", "level", "parent_code"]
    by_code = {a["code"]: a for a in areas}
    assert len(by_code) == len(areas) == len(AREAS)
    assert {(c, by_code[c]["name"]) for c in ("E92000001", "W92000004", "S92000003")} == {
        ("E92000001", "England"),
        ("W92000004", "Wales"),
        ("S92000003", "Scotland"),
    }
    for code in ("E92000001", "W92000004", "S92000003"):
        assert by_code[code]["level"] == "COUNTRY" and by_code[code]["parent_code"] == ""
    regions = [a for a in areas if a["level"] == "REGION"]
    assert sorted(a["code"] for a in regions) == [f"E1200000{i}" for i in range(1, 10)]
    assert all(a["parent_code"] == "E92000001" for a in regions)
    assert by_code["E12000003"]["name"] == "Yorkshire and The Humber"
    for code, name in [
        ("E08000025", "Birmingham"),
        ("E08000003", "Manchester"),
        ("E09000033", "Westminster"),
        ("W06000015", "Cardiff"),
        ("S12000049", "Glasgow City"),
        ("E06000023", "Bristol, City of"),
    ]:
        assert by_code[code]["name"] == name
        assert by_code[code]["level"] == "LOCAL_AUTHORITY"


def test_local_authority_parents(trust_dir: Path) -> None:
    areas = read_csv(trust_dir / "reference/areas.csv")
    las = [a for a in areas if a["level"] == "LOCAL_AUTHORITY"]
    assert len(las) >= 45
    for la in las:
        expected = {"W": "W92000004", "S": "S92000003"}.get(la["code"][0])
        if expected:
            assert la["parent_code"] == expected, la
        else:
            assert la["code"].startswith("E") and la["parent_code"].startswith("E12"), la
    per_parent: dict[str, int] = {}
    for la in las:
        per_parent[la["parent_code"]] = per_parent.get(la["parent_code"], 0) + 1
    assert set(per_parent) == {r.code for r in REGIONS} | {"W92000004", "S92000003"}
    assert min(per_parent.values()) >= 3


def test_sectors_csv(trust_dir: Path) -> None:
    sectors = read_csv(trust_dir / "reference/sectors.csv")
    assert [s["code"] for s in sectors] == [chr(c) for c in range(ord("A"), ord("U") + 1)]
    assert sectors[0]["name"] == "Agriculture, forestry and fishing"
    assert sectors == [{"code": s.code, "name": s.name} for s in SECTORS]


# Months and coverage


def test_month_count_grows_with_scale() -> None:
    assert month_count(0.01) == month_count(1) == 24
    assert month_count(4) == 48


def test_datasets_cover_the_same_months(db: duckdb.DuckDBPyConnection) -> None:
    months = {
        table: [m for (m,) in rows(db, f"SELECT DISTINCT month FROM {table} ORDER BY 1")]
        for table in ("claimants", "payroll", "vacancies")
    }
    assert months["claimants"] == months["payroll"] == months["vacancies"]
    covered = months["claimants"]
    assert len(covered) == 24
    assert str(covered[-1]) == "2026-09-01" and str(covered[0]) == "2024-10-01"
    assert all(m.day == 1 for m in covered)


def test_every_month_has_every_area_age_band_and_sex(db: duckdb.DuckDBPyConnection) -> None:
    n_las = len(LOCAL_AUTHORITIES)
    assert rows(
        db,
        "SELECT min(las), min(ages), min(sexes) FROM (SELECT month, count(DISTINCT area_code) las,"
        " count(DISTINCT age_band) ages, count(DISTINCT sex) sexes FROM claimants GROUP BY month)",
    ) == [(n_las, 5, 2)]
    assert {a for (a,) in rows(db, "SELECT DISTINCT age_band FROM claimants")} == set(AGE_BANDS)
    assert {s for (s,) in rows(db, "SELECT DISTINCT sex FROM claimants")} == set(SEXES)


def test_payroll_and_vacancies_are_full_grids(db: duckdb.DuckDBPyConnection) -> None:
    cells = 24 * len(LOCAL_AUTHORITIES) * len(SECTORS)
    assert rows(
        db,
        "SELECT count(*), count(DISTINCT (month, area_code, sic_section, age_band, sex)) "
        "FROM payroll",
    ) == [(cells * 10, cells * 10)]
    assert rows(
        db, "SELECT count(*), count(DISTINCT (month, area_code, sic_section)) FROM vacancies"
    ) == [(cells, cells)]
    assert one(db, "SELECT count(*) FROM vacancies WHERE vacancies < 0") == 0


# Claimant microdata


def test_claimant_row_count_follows_scale(db: duckdb.DuckDBPyConnection) -> None:
    assert (
        0.85 * 1_200_000 * SCALE
        < one(db, "SELECT count(*) FROM claimants")
        < 1.15 * (1_200_000 * SCALE)
    )


def test_at_most_one_row_per_claimant_per_month(db: duckdb.DuckDBPyConnection) -> None:
    assert one(db, "SELECT count(*) - count(DISTINCT (claimant_id, month)) FROM claimants") == 0


def test_claimant_attributes_are_fixed(db: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            db,
            "SELECT count(*) FROM (SELECT claimant_id FROM claimants GROUP BY claimant_id HAVING "
            "count(DISTINCT record_key) > 1 OR count(DISTINCT area_code) > 1 "
            "OR count(DISTINCT sex) > 1 OR count(DISTINCT disability) > 1)",
        )
        == 0
    )
    low, high = rows(db, "SELECT min(record_key), max(record_key) FROM claimants")[0]
    assert low >= 0 and high <= 2**32 - 1
    assert high > 2**31  # spread over the whole range, not a small counter


def test_claimants_join_and_leave(db: duckdb.DuckDBPyConnection) -> None:
    spans = rows(
        db,
        "SELECT count(*) FILTER (first > DATE '2024-10-01'), count(*) FILTER (last < "
        "DATE '2026-09-01') FROM (SELECT min(month) first, max(month) last FROM claimants "
        "GROUP BY claimant_id)",
    )[0]
    assert spans[0] > 0 and spans[1] > 0
    counts = [n for (n,) in rows(db, "SELECT count(*) FROM claimants GROUP BY month")]
    assert len(set(counts)) > 1


def test_small_claimant_cells_exist(db: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            db,
            "SELECT count(*) FROM (SELECT count(DISTINCT claimant_id) n FROM claimants "
            "GROUP BY month, area_code, age_band, sex) WHERE n < 10",
        )
        > 0
    )


def test_conditionality_values(db: duckdb.DuckDBPyConnection) -> None:
    values = {c for (c,) in rows(db, "SELECT DISTINCT conditionality FROM claimants")}
    assert {"Searching for work", "Working - with requirements", "No work requirements"} <= values


# Payroll


def test_small_and_zero_payroll_cells_exist(db: duckdb.DuckDBPyConnection) -> None:
    small, zero = rows(
        db,
        "SELECT count(*) FILTER (employees BETWEEN 1 AND 9), count(*) FILTER (employees = 0) "
        "FROM payroll",
    )[0]
    assert small > 1000 and zero > 0
    assert one(db, "SELECT count(*) FROM payroll WHERE employees = 0 AND total_pay <> 0") == 0


def test_mean_pay_is_plausible(db: duckdb.DuckDBPyConnection) -> None:
    low, high = rows(
        db, "SELECT min(total_pay / employees), max(total_pay / employees) FROM payroll "
        "WHERE employees > 0"
    )[0]  # fmt: skip
    assert low >= 1200 and high <= 4500
    by_section = dict(
        rows(db, "SELECT sic_section, sum(total_pay) / sum(employees) FROM payroll GROUP BY 1")
    )
    assert by_section["K"] > by_section["I"] * 2


# Determinism


def test_same_seed_gives_identical_data(trust_dir: Path, same_seed_dir: Path) -> None:
    for relative in ("reference/areas.csv", "reference/sectors.csv", "ons/vacancies.csv"):
        assert (trust_dir / relative).read_bytes() == (same_seed_dir / relative).read_bytes()
    for path in sorted((trust_dir / "hmrc/paye_rti").glob("*.parquet")):
        assert path.read_bytes() == (same_seed_dir / "hmrc/paye_rti" / path.name).read_bytes()
    assert claimant_rows(trust_dir) == claimant_rows(same_seed_dir)


def test_other_seed_gives_other_data(trust_dir: Path, tmp_path: Path) -> None:
    generate(tmp_path, scale=SCALE, seed=SEED + 1)
    relative = "ons/vacancies.csv"
    assert (trust_dir / relative).read_bytes() != (tmp_path / relative).read_bytes()
    assert claimant_rows(trust_dir) != claimant_rows(tmp_path)


def test_regenerating_replaces_stale_files(tmp_path: Path) -> None:
    stale = tmp_path / "hmrc/paye_rti/paye_rti_1999.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    generate(tmp_path, scale=0.01, seed=1)
    assert not stale.exists()


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_rejects_bad_scale(tmp_path: Path, scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path, scale=scale)


# Settings


def test_config_parses(trust_dir: Path) -> None:
    path = trust_dir / "gql-trust.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert raw["reference"] == {"areas": "reference/areas.csv", "sectors": "reference/sectors.csv"}
    assert raw["server"] == {"host": "127.0.0.1", "port": 8000}
    settings = load_settings(path)
    assert settings.areas_csv.is_file() and settings.sectors_csv.is_file()
    dwp = settings.sources["dwp"]
    assert dwp.kind == "duckdb" and dwp.database == trust_dir / "dwp/claimants.duckdb"
    (payroll,) = settings.sources["hmrc"].relations
    assert (payroll.name, payroll.format) == ("paye_rti", "parquet")
    assert payroll.path == str(trust_dir / "hmrc/paye_rti/*.parquet")
    (vacancies,) = settings.sources["ons"].relations
    assert (vacancies.name, vacancies.format) == ("vacancies", "csv")
    assert vacancies.path == str(trust_dir / "ons/vacancies.csv")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "host=db user='a \"quoted\" name' password=back\\slash\tapplication_name=x\x7f",
        "postgresql://ü:pässwörd@host/db?options=-c%20search_path%3Ddwp 😀",
    ],
)
def test_config_quotes_dsn_safely(tmp_path: Path, dsn: str) -> None:
    settings = load_settings(write_config(tmp_path, dsn))
    dwp = settings.sources["dwp"]
    assert (dwp.kind, dwp.dsn, dwp.schema) == ("postgres", dsn, "dwp")
    assert tomllib.loads(f"value = {toml_string(dsn)}")["value"] == dsn


# PostgreSQL


async def test_postgres_claimants(trust_dir: Path, tmp_path: Path, pg_dsn: str) -> None:
    config = generate(tmp_path, scale=SCALE, seed=SEED, postgres_dsn=pg_dsn)
    assert not (tmp_path / "dwp/claimants.duckdb").exists()
    dwp = load_settings(config).sources["dwp"]
    assert (dwp.kind, dwp.dsn, dwp.schema) == ("postgres", pg_dsn, "dwp")
    connection = await asyncpg.connect(pg_dsn)
    try:
        columns = await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'dwp' AND table_name = 'uc_claimants' ORDER BY ordinal_position"
        )
        records = await connection.fetch(
            "SELECT * FROM dwp.uc_claimants ORDER BY claimant_id, month"
        )
    finally:
        await connection.close()
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("claimant_id", "bigint"),
        ("month", "date"),
        ("area_code", "text"),
        ("age_band", "text"),
        ("sex", "text"),
        ("conditionality", "text"),
        ("disability", "boolean"),
        ("record_key", "bigint"),
    ]
    assert [tuple(r) for r in records] == claimant_rows(trust_dir)
    assert (tmp_path / "ons/vacancies.csv").read_bytes() == (
        trust_dir / "ons/vacancies.csv"
    ).read_bytes()
