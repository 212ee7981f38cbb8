"""`gql-trust check`: contracts against the live sources, policies and agreements against
the contracts; one precise line per problem, exit 1 if any."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from gql_trust.checks import type_family
from tests.test_cli import SCHEMA_DIR, demo_settings, invoke, write_toml

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"

Edit = Callable[[Any], Any]


def broken_trust(
    trust_dir: Path,
    tmp_path: Path,
    *,
    contracts: Edit | None = None,
    policy: Edit | None = None,
    agreements: Edit | None = None,
    settings: Edit | None = None,
) -> Path:
    """A settings file over the shared demo trust (never modified) with edited copies of
    the contracts (a dict of file name -> YAML), policy.csv (text) or agreements (YAML)."""
    table = demo_settings(trust_dir, tmp_path / "trust")
    if contracts is not None:
        folder = tmp_path / "contracts"
        folder.mkdir()
        bodies = {p.name: yaml.safe_load(p.read_text("utf-8")) for p in SCHEMA_DIR.glob("*.yaml")}
        contracts(bodies)
        for name, body in bodies.items():
            (folder / name).write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
        table["contracts"] = {"dir": str(folder)}
    if policy is not None or agreements is not None:
        folder = tmp_path / "policies"
        shutil.copytree(POLICIES_DIR, folder)
        if policy is not None:
            csv = folder / "policy.csv"
            csv.write_text(policy(csv.read_text("utf-8")), encoding="utf-8")
        if agreements is not None:
            path = folder / "agreements.yaml"
            body = yaml.safe_load(path.read_text("utf-8"))
            agreements(body)
            path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
        table["policies"] = {"dir": str(folder)}
    if settings is not None:
        settings(table)
    return write_toml(tmp_path / "trust" / "gql-trust.toml", table)


def errors(result: Result) -> list[str]:
    """The problem lines, after checking the command failed cleanly with a summary."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("check failed: "), result.stderr
    found = [line for line in lines if line.startswith("error: ")]
    assert lines[-1].startswith(f"check failed: {len(found)} error"), result.stderr
    return found


def one_error(result: Result) -> str:
    (line,) = errors(result)
    return line


def check(config: Path) -> Result:
    return invoke("check", "--config", config)


# ---- the demo trust passes -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_the_demo_trust_passes(kind: str, request: pytest.FixtureRequest) -> None:
    trust_dir: Path = request.getfixturevalue(f"{kind}_trust_dir")
    result = check(trust_dir / "gql-trust.toml")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("error", "warning"))], result.stderr
    for name in ("claimants", "payrolledEmployees", "vacancies"):
        assert f"contract {name}: ok (" in result.stderr
    assert lines[-1] == (
        "check passed: 3 contracts (21 columns) against 3 live sources, 16 policy rules, "
        "2 agreements"
    )


# ---- contracts against the live sources ------------------------------------------------------


def test_a_missing_relation(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    def rename(bodies: dict[str, Any]) -> None:
        bodies["claimants.yaml"]["relation"] = "uc_claimant"

    line = one_error(check(broken_trust(duckdb_trust_dir, tmp_path, contracts=rename)))
    assert line.startswith(f"error: {tmp_path / 'contracts' / 'claimants.yaml'}: relation: ")
    assert "source dwp has no relation 'uc_claimant' (did you mean 'uc_claimants'?)" in line
    assert "correct 'relation'" in line


def test_a_missing_column(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    def misspell(bodies: dict[str, Any]) -> None:
        bodies["vacancies.yaml"]["dimensions"][2]["column"] = "sic_sectoin"

    line = one_error(check(broken_trust(duckdb_trust_dir, tmp_path, contracts=misspell)))
    assert f"{tmp_path / 'contracts' / 'vacancies.yaml'}: dimensions[2] (sector).column: " in line
    assert "relation 'vacancies' in source ons has no column 'sic_sectoin'" in line
    assert "(did you mean 'sic_section'?)" in line
    assert "its columns are month, area_code, sic_section, vacancies" in line


def test_a_missing_column_in_postgresql(postgres_trust_dir: Path, tmp_path: Path) -> None:
    def misspell(bodies: dict[str, Any]) -> None:
        bodies["claimants.yaml"]["cell_key"] = "record_ky"

    line = one_error(check(broken_trust(postgres_trust_dir, tmp_path, contracts=misspell)))
    assert "claimants.yaml: cell_key: relation 'uc_claimants' in source dwp has no column" in line
    assert "(did you mean 'record_key'?)" in line


def _ons_csv(tmp_path: Path, trust_dir: Path, rewrite: Callable[[list[str]], None]) -> Edit:
    lines = (trust_dir / "ons" / "vacancies.csv").read_text("utf-8").splitlines()
    rewrite(lines)
    path = tmp_path / "vacancies.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def settings(table: dict[str, Any]) -> None:
        table["sources"]["ons"]["relations"]["vacancies"]["csv"] = str(path)

    return settings


def _months_as_text(lines: list[str]) -> None:
    for i in range(1, len(lines)):
        month, rest = lines[i].split(",", 1)
        lines[i] = f"{month[:7]},{rest}"  # "2025-03": not a date


def _a_count_as_text(lines: list[str]) -> None:
    head, _, _ = lines[1].rpartition(",")
    lines[1] = f"{head},n/a"


@pytest.mark.parametrize(
    ("breakage", "file", "where", "actual", "expected"),
    [
        ("months as text", "vacancies.yaml", "dimensions[0] (period).column", "VARCHAR", "DATE"),
        ("a count as text", "vacancies.yaml", "measures[0] (vacancies).column", "VARCHAR",
         "a numeric type"),
        ("Boolean on text", "claimants.yaml", "dimensions[3] (sex).column", "VARCHAR", "BOOLEAN"),
        ("text on a number", "claimants.yaml", "dimensions[2] (ageBand).column", "BIGINT",
         "text (VARCHAR/TEXT)"),
        ("a key as text", "claimants.yaml", "cell_key", "VARCHAR", "an integer type"),
    ],
)  # fmt: skip
def test_a_column_of_the_wrong_type(
    breakage: str,
    file: str,
    where: str,
    actual: str,
    expected: str,
    duckdb_trust_dir: Path,
    tmp_path: Path,
) -> None:
    contracts: Edit | None = None
    settings: Edit | None = None
    if breakage == "months as text":
        settings = _ons_csv(tmp_path, duckdb_trust_dir, _months_as_text)
    elif breakage == "a count as text":
        settings = _ons_csv(tmp_path, duckdb_trust_dir, _a_count_as_text)
    elif breakage == "Boolean on text":
        contracts = lambda b: b["claimants.yaml"]["dimensions"][3].update(type="Boolean")  # noqa: E731
    elif breakage == "text on a number":
        contracts = lambda b: b["claimants.yaml"]["dimensions"][2].update(column="record_key")  # noqa: E731
    else:
        contracts = lambda b: b["claimants.yaml"].update(cell_key="area_code")  # noqa: E731
    config = broken_trust(duckdb_trust_dir, tmp_path, contracts=contracts, settings=settings)
    line = one_error(check(config))
    assert f"{file}: {where}: column " in line
    assert f" is {actual}, but must be {expected}: " in line


def test_an_unreachable_source_is_one_problem_and_its_contracts_are_skipped(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    def missing(table: dict[str, Any]) -> None:
        table["sources"]["dwp"]["database"] = str(tmp_path / "missing.duckdb")

    result = check(broken_trust(duckdb_trust_dir, tmp_path, settings=missing))
    line = one_error(result)
    assert line.startswith("error: source dwp: cannot be reached")
    assert "(claimants) were not checked" in line and "[sources.dwp]" in line
    assert "contract claimants: not checked" in result.stderr
    assert "contract vacancies: ok" in result.stderr


# ---- policy.csv ------------------------------------------------------------------------------


def _add_rule(rule: str) -> tuple[Edit, Callable[[], int]]:
    """An edit appending ``rule``, and the line number it lands on."""
    lines = (POLICIES_DIR / "policy.csv").read_text("utf-8").splitlines()
    return (lambda text: text.rstrip("\n") + "\n" + rule + "\n"), lambda: len(lines) + 1


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (
            "p, DfE, analyst, claimants, disabilty, *, deny, dfe-typo,",
            "rule dfe-typo: field 'disabilty' is not a field of dataset 'claimants' "
            "(did you mean 'disability'?); use * or one of ",
        ),
        (
            "p, DfE, analyst, claimant, *, read, allow, dfe-typo,",
            "rule dfe-typo: dataset 'claimant' does not exist (did you mean 'claimants'?); "
            "use one of auditLog, claimants, explain, metrics, payrolledEmployees, vacancies or *",
        ),
        (
            "p, TRUST, auditor, auditLog, sql, *, allow, audit-typo,",
            "rule audit-typo: field 'sql' is not a field of dataset 'auditLog'",
        ),
        (
            "p, *, *, *, pay, read, deny, no-pay-anywhere,",
            "rule no-pay-anywhere: field 'pay' is not a field of datasets matching '*'",
        ),
        (
            "p, DfE, analyst, vacancies, *, write, allow, dfe-writes,",
            "rule dfe-writes: action 'write' is not one of *, read, filter, group, exact",
        ),
        (
            "p, DfE, analyst, vacancies, *, read, permit, dfe-permit,",
            "rule dfe-permit: effect 'permit' must be allow or deny",
        ),
        (
            "p, DfE, analyst, vacancies, *, read, allow, open-data-vacancies,",
            "rule open-data-vacancies: the name is also used on line 1: give each rule its own",
        ),
        (
            "p, DfE, analyst, vacancies, *, read, allow, dfe-no-condition",
            "not a policy rule (7 fields): a rule is `p, dept, role, dataset, field, act, eft, "
            "rule, cond` (end it with a comma",
        ),
        (
            "g, alice, analyst",
            "not a policy rule ('g' lines are not in the model)",
        ),
    ],
)
def test_a_rule_that_names_what_does_not_exist(
    rule: str, says: str, duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    edit, line_number = _add_rule(rule)
    line = one_error(check(broken_trust(duckdb_trust_dir, tmp_path, policy=edit)))
    assert line.startswith(f"error: {tmp_path / 'policies' / 'policy.csv'}:{line_number()}")
    assert says in line


@pytest.mark.parametrize(
    "condition",
    ["geography>=CITY", "geograpy>=REGION", "agreement | authenticated", "rows:sector"],
)
def test_a_condition_that_does_not_parse(
    condition: str, duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    edit, line_number = _add_rule(
        f"p, DfE, analyst, vacancies, *, read, allow, dfe-odd, authenticated & {condition}"
    )
    line = one_error(check(broken_trust(duckdb_trust_dir, tmp_path, policy=edit)))
    assert f"policy.csv:{line_number()}: rule dfe-odd: condition {condition!r} does not parse" in (
        line
    )
    assert "geography>=LEVEL" in line and "LOCAL_AUTHORITY, REGION, COUNTRY" in line


# ---- agreements.yaml -------------------------------------------------------------------------


def test_an_agreement_naming_an_unknown_field_or_dataset(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    def misname(body: dict[str, Any]) -> None:
        body["agreements"][0]["datasets"] = {
            "payrolledEmployees": ["employees", "meanPay"],
            "payroll": ["*"],
        }

    lines = errors(check(broken_trust(duckdb_trust_dir, tmp_path, agreements=misname)))
    where = f"error: {tmp_path / 'policies' / 'agreements.yaml'}:2: agreements[0] (DSA-LMDT-001)"
    assert lines == [
        f"{where}: datasets.payrolledEmployees: 'meanPay' is not a field of payrolledEmployees "
        "(did you mean 'meanMonthlyPay'?); use * or one of period, area, sector, ageBand, sex, "
        "employees, meanMonthlyPay",
        f"{where}: datasets.payroll: there is no dataset 'payroll'; datasets are claimants, "
        "payrolledEmployees, vacancies",
    ]


def test_an_expired_agreement(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    def expire(body: dict[str, Any]) -> None:
        body["agreements"][0].update(valid_from="2020-01-01", valid_to="2024-12-31")

    line = one_error(check(broken_trust(duckdb_trust_dir, tmp_path, agreements=expire)))
    assert "agreements.yaml:2: agreements[0] (DSA-LMDT-001): expired on 2024-12-31: " in line
    assert "rules pay-needs-agreement (policy.csv:4) still decide by agreement" in line
    assert "remove it from this file" in line and "extend valid_to" in line


def test_an_agreement_about_to_expire_is_a_warning(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    soon = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()

    def shorten(body: dict[str, Any]) -> None:
        body["agreements"][0]["valid_to"] = soon

    result = check(broken_trust(duckdb_trust_dir, tmp_path, agreements=shorten))
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert f"agreements[0] (DSA-LMDT-001): expires on {soon}: renew it" in warning
    assert result.stderr.splitlines()[-1].startswith("check passed (1 warning): ")


def test_duplicate_agreement_ids(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    def duplicate(body: dict[str, Any]) -> None:
        body["agreements"].append(dict(body["agreements"][0], daily_cell_budget=-1))

    lines = errors(check(broken_trust(duckdb_trust_dir, tmp_path, agreements=duplicate)))
    assert len(lines) == 2
    assert "agreements[2] (DSA-LMDT-001): the id is also used by agreements[0]" in lines[0]
    assert "agreements[2] (DSA-LMDT-001): daily_cell_budget is -1" in lines[1]


# ---- several problems at once ----------------------------------------------------------------


def test_every_problem_is_reported_not_just_the_first(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    def contracts(bodies: dict[str, Any]) -> None:
        bodies["vacancies.yaml"]["relation"] = "vacancy"
        bodies["claimants.yaml"]["dimensions"][0]["column"] = "period"

    def agreements(body: dict[str, Any]) -> None:
        body["agreements"][0]["valid_to"] = "2025-01-31"

    edit, _ = _add_rule("p, HMRC, analyst, claimants, sexx, *, deny, hmrc-typo,")
    config = broken_trust(
        duckdb_trust_dir, tmp_path, contracts=contracts, policy=edit, agreements=agreements
    )
    result = check(config)
    lines = errors(result)
    assert len(lines) == 4, lines
    for expected in (
        "rule hmrc-typo: field 'sexx'",
        "agreements[0] (DSA-LMDT-001): expired on 2025-01-31",
        "claimants.yaml: dimensions[0] (period).column: relation 'uc_claimants'",
        "vacancies.yaml: relation: source ons has no relation 'vacancy'",
    ):
        assert any(expected in line for line in lines), (expected, lines)
    assert "contract claimants: 1 problem (" in result.stderr
    assert "contract payrolledEmployees: ok (" in result.stderr


def test_type_families() -> None:
    assert type_family("DATE") == type_family("date") == "date"
    assert type_family("character varying") == type_family("VARCHAR") == "text"
    assert type_family("DECIMAL(18,3)") == type_family("double precision") == "float"
    assert type_family("bigint") == type_family("UBIGINT") == "integer"
    assert type_family("boolean") == "boolean"
    assert type_family("TIMESTAMP") == type_family("USER-DEFINED") == "other"
