"""Writes the deterministic demo data trust: reference data, three departmental
sources in their physical layout, and the ``gql-trust.toml`` that serves them."""

from __future__ import annotations

import csv
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..identity import write_demo_keys
from ..ledger.config import DEFAULT_KEY_NAME, DEFAULT_ORIGIN
from ..ledger.note import load_signer
from ..sources.spark import check_remote
from .claimants import ROWS_AT_SCALE_1, row_batches, row_count, simulate
from .dimensions import month_count, months
from .employment import employment_model
from .geography import AREAS
from .payroll import payroll_table, write_payroll
from .sectors import SECTORS
from .store import load_postgres, write_duckdb, write_parquet
from .vacancies import vacancies_table, write_vacancies

CONFIG_NAME = "gql-trust.toml"
AREAS_CSV = "reference/areas.csv"
SECTORS_CSV = "reference/sectors.csv"
CLAIMANTS_DUCKDB = "dwp/claimants.duckdb"
CLAIMANTS_PARQUET = "dwp/claimants"  # hive-partitioned by month, for Spark
PAYROLL_DIR = "hmrc/paye_rti"
VACANCIES_CSV = "ons/vacancies.csv"
KEYS_DIR = "keys"
DISCLOSURE_KEY = "disclosure.key"
AUTH_ISSUER = "gql-trust-demo"
AUTH_AUDIENCE = "labour-market-data-trust"
AUTH_KID = "demo-2026"


def generate(
    data_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    postgres_dsn: str | None = None,
    spark_remote: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the demo data trust under ``data_dir``; return the path of its settings file.

    The same ``seed`` and ``scale`` always give the same data. With ``postgres_dsn`` the
    DWP claimants go to PostgreSQL (``dwp.uc_claimants``) instead of a DuckDB file; with
    ``spark_remote`` (``sc://HOST:PORT``) to Parquet under ``dwp/claimants/``, which the
    ``dwp`` source reads through that Spark Connect server.
    """
    if postgres_dsn and spark_remote:
        raise ValueError("claimants go to PostgreSQL or to Spark, not both")
    if spark_remote is not None:
        check_remote(spark_remote)  # before minutes of generating
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, not {seed!r}")
    report = progress or (lambda _message: None)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    month_values = months(scale)
    # Independent streams per dataset: changing one dataset's model leaves the others alone.
    employment_rng, payroll_rng, vacancies_rng, claimants_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)
    )
    span = f"{month_values[0]} to {month_values[-1]} ({month_count(scale)} months)"

    report("Writing reference data (areas, sectors)")
    write_reference(data_dir)
    employment = employment_model(employment_rng)

    report(f"Generating HMRC PAYE RTI payroll cells, {span}")
    payroll = payroll_table(employment, month_values, payroll_rng)
    files = write_payroll(payroll, month_values, data_dir / PAYROLL_DIR)
    report(f"Wrote {payroll.num_rows:,} payroll cells to {len(files)} Parquet files")

    report("Generating ONS vacancies")
    vacancies = vacancies_table(employment, month_values, vacancies_rng)
    write_vacancies(vacancies, data_dir / VACANCIES_CSV)
    report(f"Wrote {vacancies.num_rows:,} vacancy cells to {VACANCIES_CSV}")

    report("Simulating DWP Universal Credit claimants")
    people = simulate(round(ROWS_AT_SCALE_1 * scale), month_values, claimants_rng)
    rows = f"{row_count(people):,} claimant rows"
    duckdb_path = data_dir / CLAIMANTS_DUCKDB
    if postgres_dsn:
        report(f"Loading {rows} into PostgreSQL dwp.uc_claimants")
        load_postgres(row_batches(people, month_values), postgres_dsn)
        # The settings point at PostgreSQL; a database file from an earlier run would mislead.
        duckdb_path.unlink(missing_ok=True)
    elif spark_remote:
        report(f"Writing {rows} as Parquet under {CLAIMANTS_PARQUET}/ for Spark")
        write_parquet(row_batches(people, month_values), data_dir / CLAIMANTS_PARQUET)
        duckdb_path.unlink(missing_ok=True)
    else:
        report(f"Writing {rows} to {CLAIMANTS_DUCKDB}")
        write_duckdb(row_batches(people, month_values), duckdb_path)

    config_path = write_config(data_dir, postgres_dsn, spark_remote)
    report(f"Wrote {config_path}")
    return config_path


def write_reference(data_dir: Path) -> None:
    (data_dir / AREAS_CSV).parent.mkdir(parents=True, exist_ok=True)
    _write_csv(
        data_dir / AREAS_CSV,
        ("code", "name", "level", "parent_code"),
        [(a.code, a.name, a.level, a.parent_code) for a in AREAS],
    )
    _write_csv(data_dir / SECTORS_CSV, ("code", "name"), [(s.code, s.name) for s in SECTORS])


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_config(
    data_dir: Path, postgres_dsn: str | None = None, spark_remote: str | None = None
) -> Path:
    """The settings file, with paths relative to ``data_dir`` so the folder can move.

    Also writes the demo token signing key pair under ``keys/`` (an existing pair is kept,
    so tokens already issued stay valid)."""
    private_key, public_key = write_demo_keys(data_dir / KEYS_DIR)
    disclosure_key = write_disclosure_key(data_dir / KEYS_DIR)
    ledger_key = write_ledger_key(data_dir / KEYS_DIR)
    if postgres_dsn:
        dwp = [
            'kind = "postgres"',
            f"dsn = {toml_string(postgres_dsn)}",
            'schema = "dwp"',
        ]
    elif spark_remote:
        dwp = [
            'kind = "spark"',
            f"remote = {toml_string(spark_remote)}",
            "[sources.dwp.relations.uc_claimants]",
            f"parquet = {toml_string(CLAIMANTS_PARQUET)}",
        ]
    else:
        dwp = ['kind = "duckdb"', f"database = {toml_string(CLAIMANTS_DUCKDB)}"]
    lines = [
        "# The demo Labour Market Data Trust, written by `gql-trust demo-data`.",
        "[server]",
        'host = "127.0.0.1"',
        "port = 8000",
        "",
        "[reference]",
        f"areas = {toml_string(AREAS_CSV)}",
        f"sectors = {toml_string(SECTORS_CSV)}",
        "",
        "[sources.dwp]",
        *dwp,
        "",
        "[sources.hmrc]",
        'kind = "duckdb"',
        "[sources.hmrc.relations.paye_rti]",
        f"parquet = {toml_string(PAYROLL_DIR + '/*.parquet')}",
        "",
        "[sources.ons]",
        'kind = "duckdb"',
        "[sources.ons.relations.vacancies]",
        f"csv = {toml_string(VACANCIES_CSV)}",
        "",
        "[ledger]",
        'kind = "sqlite"',
        'path = "ledger/ledger.sqlite"',
        f"origin = {toml_string(DEFAULT_ORIGIN)}",
        f"signing_key = {toml_string(f'{KEYS_DIR}/{ledger_key.name}')}"
        "  # private: signs checkpoints; give partners keys/ledger.vkey",
        "",
        "[disclosure]",
        f"key_file = {toml_string(f'{KEYS_DIR}/{disclosure_key.name}')}  # private",
        "",
        "[auth]",
        f"issuer = {toml_string(AUTH_ISSUER)}",
        f"audience = {toml_string(AUTH_AUDIENCE)}",
        "leeway_s = 5",
        f"signing_key = {toml_string(f'{KEYS_DIR}/{private_key.name}')}"
        "  # private; only for `gql-trust token`",
        f"signing_kid = {toml_string(AUTH_KID)}",
        "[[auth.keys]]",
        f"kid = {toml_string(AUTH_KID)}",
        'algorithm = "ES256"',
        f"public_key = {toml_string(f'{KEYS_DIR}/{public_key.name}')}",
    ]
    path = data_dir / CONFIG_NAME
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_disclosure_key(directory: Path) -> Path:
    """The secret keying magnitude perturbation (chmod 600); an existing one is kept, so
    a cell keeps its published value."""
    path = directory / DISCLOSURE_KEY
    if not path.is_file():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path


def write_ledger_key(keys_dir: Path) -> Path:
    """The checkpoint signing key and, next to it, ledger.vkey for witnesses."""
    path = keys_dir / DEFAULT_KEY_NAME
    load_signer(path, DEFAULT_ORIGIN, create=True)
    return path


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in value:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
