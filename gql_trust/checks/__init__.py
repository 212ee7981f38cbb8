"""`gql-trust check`: contracts against the live sources, policies and agreements against
the contracts, so a department can run it in CI before proposing a dataset or a rule.

Each finding is a ``Problem`` that names the file (and line, rule or contract field),
says what is wrong and what to do. Errors fail the check; warnings (an agreement about
to expire) are printed but do not.

- Sources: every contract's relation exists in its source and has every column the
  contract names, of a type that fits: the period column DATE, Boolean dimensions
  BOOLEAN, other dimensions text, summed measures (and ratio parts) numeric, the cell
  key an integer. A source that cannot be reached is one problem; its contracts are
  not checked further.
- ``policy.csv``: every line is a ``p`` rule with the model's eight fields; it names a
  dataset that exists (or ``*``, ``auditLog``, ``explain``), a field of it (or ``*``),
  a known action and effect, a unique rule name, and conditions that parse.
- ``agreements.yaml``: ids are unique, every dataset and field exists, the budget is
  not negative, and no agreement has expired: an expired agreement grants nothing
  (callers naming it are refused, the catalog stops offering it), so leaving it in
  the file misleads whoever reviews the policy (an error, naming the rules that still
  decide by agreement on the fields it covers); one expiring within 30 days is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sized
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..contracts.model import Contract
from ..trust import Trust
from .policy import check_agreements, check_rules, read_agreements, read_rules
from .problem import Problem, Severity
from .sources import check_contract, contract_columns, type_family


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # name -> "ok" / "unavailable"
    contracts: dict[str, int] = field(default_factory=dict)  # name -> columns checked
    rules: int = 0
    agreements: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.ok:
            return f"check failed: {_count(self.errors, 'error')}, " + _count(
                self.warnings, "warning"
            )
        warned = f" ({_count(self.warnings, 'warning')})" if self.warnings else ""
        columns = sum(self.contracts.values())
        return (
            f"check passed{warned}: {_count(self.contracts, 'contract')} ({columns} columns) "
            f"against {_count(self.sources, 'live source')}, {_count(self.rules, 'policy rule')}, "
            f"{_count(self.agreements, 'agreement')}"
        )


def _count(items: Sized | int, noun: str) -> str:
    n = items if isinstance(items, int) else len(items)
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def check_trust(trust: Trust, today: date | None = None) -> Report:
    """Every check; the trust's sources are started and closed here."""
    today = today or datetime.now(UTC).date()
    report = Report()
    policies = trust.settings.policies_dir
    rules = read_rules(policies / "policy.csv")
    report.rules = sum(1 for r in rules if r.problem is None)
    report.problems += check_rules(rules, trust.contracts)
    agreements_file = policies / "agreements.yaml"
    agreements = read_agreements(agreements_file)
    report.agreements = len(agreements)
    report.problems += check_agreements(agreements, trust.contracts, rules, today)
    report.problems += _check_documents(trust)
    await trust.start()
    try:
        report.sources = await trust.readiness()
        for name, state in sorted(report.sources.items()):
            if state != "ok":
                report.problems.append(_unreachable(name, trust.contracts.values()))
        for contract in trust.contracts.values():
            if report.sources.get(contract.source) == "ok":
                source = trust.source_for(contract)
                found, checked = await check_contract(contract, source)
                report.problems += found
                report.contracts[contract.name] = checked
    finally:
        await trust.close()
    return report


def _check_documents(trust: Trust) -> list[Problem]:
    """Trusted-document manifests: ids match bodies, and each body is valid here."""
    from ..documents import load_documents
    from ..errors import ConfigError
    from ..graphql import build_schema

    schema = build_schema(tuple(trust.contracts.values()))
    try:
        load_documents(trust.policy.agreements, schema._schema)
    except ConfigError as exc:
        return [Problem("trusted documents", exc.message)]
    return []


def _unreachable(name: str, contracts: Iterable[Contract]) -> Problem:
    datasets = ", ".join(sorted(c.name for c in contracts if c.source == name)) or "none"
    return Problem(
        f"source {name}",
        f"cannot be reached, so its datasets ({datasets}) were not checked against it; "
        f"start it, or correct [sources.{name}] in the settings file",
    )


__all__ = [
    "Problem",
    "Report",
    "Severity",
    "check_contract",
    "check_trust",
    "contract_columns",
    "type_family",
]
