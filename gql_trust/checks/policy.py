"""``policy.csv`` and ``agreements.yaml`` against the contracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from casbin.util import key_match

from ..contracts.model import Contract
from ..errors import ConfigError
from ..policy.conditions import Subject, holds
from ..reference import Level
from .problem import Problem, Severity, did_you_mean

RULE_FIELDS = ("dept", "role", "dataset", "field", "act", "eft", "rule", "cond")
# Datasets policy decides on that are not contracts, with the field the server asks about.
PSEUDO_DATASETS: dict[str, tuple[str, ...]] = {
    "auditLog": ("entries",),
    "explain": ("*",),
    "metrics": ("scrape",),  # `/metrics`
}
ACTIONS = ("*", "read", "filter", "group", "exact")
EFFECTS = ("allow", "deny")
CONDITIONS = (
    "agreement, no-agreement, not-owner, authenticated, geography>=LEVEL, geography=LEVEL, "
    f"rows:area (LEVEL: {', '.join(level.value for level in Level)}), joined by &"
)
EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Rule:
    path: Path
    line: int
    values: tuple[str, ...]  # the eight fields, when the line parses
    problem: str | None = None  # why the line is not a rule

    @property
    def name(self) -> str:
        return self.values[6] if len(self.values) == len(RULE_FIELDS) else ""

    @property
    def where(self) -> str:
        named = f": rule {self.name}" if self.name else ""
        return f"{self.path}:{self.line}{named}"

    def get(self, key: str) -> str:
        return self.values[RULE_FIELDS.index(key)]

    @property
    def terms(self) -> list[str]:
        return [t.strip() for t in self.get("cond").split("&") if t.strip()]


def read_rules(path: Path) -> list[Rule]:
    """The lines Casbin would load, split as its file adapter splits them."""
    rules = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = [t.strip() for t in line.split(",")]
        if tokens[0] != "p":
            rules.append(Rule(path, number, (), f"{tokens[0]!r} lines are not in the model"))
        elif len(tokens) - 1 != len(RULE_FIELDS):
            rules.append(Rule(path, number, (), f"{len(tokens) - 1} fields"))
        else:
            rules.append(Rule(path, number, tuple(tokens[1:])))
    return rules


def check_rules(rules: list[Rule], contracts: dict[str, Contract]) -> list[Problem]:
    fields = {name: c.field_names for name, c in contracts.items()} | PSEUDO_DATASETS
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    layout = "p, " + ", ".join(RULE_FIELDS)
    for rule in rules:
        if rule.problem is not None:
            problems.append(
                Problem(
                    f"{rule.path}:{rule.line}",
                    f"not a policy rule ({rule.problem}): a rule is `{layout}` (end it with a "
                    "comma when it has no condition); Casbin would ignore this line or fail on it",
                )
            )
            continue
        problems.extend(_check_rule(rule, fields, first_line))
    return problems


def _check_rule(
    rule: Rule, fields: dict[str, tuple[str, ...]], first_line: dict[str, int]
) -> list[Problem]:
    problems = []

    def problem(message: str) -> None:
        problems.append(Problem(rule.where, message))

    if not rule.name:
        problem("has no name (7th field): the ledger and error reasons cite rules by name")
    elif rule.name in first_line:
        problem(f"the name is also used on line {first_line[rule.name]}: give each rule its own")
    else:
        first_line[rule.name] = rule.line
    dataset = rule.get("dataset")
    datasets = [d for d in fields if key_match(d, dataset)]
    if not datasets:
        names = ", ".join(sorted(fields))
        problem(
            f"dataset {dataset!r} does not exist{did_you_mean(dataset, list(fields))}; use one "
            f"of {names} or *"
        )
    field_name = rule.get("field")
    if datasets and not any(key_match(f, field_name) for d in datasets for f in fields[d]):
        known = sorted({f for d in datasets for f in fields[d]})
        what = (
            f"dataset {datasets[0]!r}" if len(datasets) == 1 else f"datasets matching {dataset!r}"
        )
        problem(
            f"field {field_name!r} is not a field of {what}{did_you_mean(field_name, known)}; "
            f"use * or one of {', '.join(known)}"
        )
    if rule.get("act") not in ACTIONS:
        problem(f"action {rule.get('act')!r} is not one of {', '.join(ACTIONS)}")
    if rule.get("eft") not in EFFECTS:
        problem(f"effect {rule.get('eft')!r} must be allow or deny")
    for term in rule.terms:
        try:
            holds(_probe(), rule.name, term)  # the server's own parser, on a dummy caller
        except ConfigError:
            problem(f"condition {term!r} does not parse; conditions are {CONDITIONS}")
    return problems


def _probe() -> Subject:
    return Subject(
        dept="",
        role="",
        purpose=None,
        agreement_id=None,
        area=None,
        authenticated=False,
        owner="",
        dataset="",
        field="",
        geography=Level.LOCAL_AUTHORITY,
        today=date.today(),
        agreements={},
    )


# ---- agreements.yaml ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementItem:
    path: Path
    index: int
    line: int
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.raw.get("id", ""))

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}: agreements[{self.index}] ({self.id})"


def read_agreements(path: Path) -> list[AgreementItem]:
    """The agreements with their line numbers (the policy engine loaded and validated
    their shape already: a malformed file never gets this far)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    node = yaml.compose(text)
    lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "agreements" and isinstance(value, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
    items = raw.get("agreements") or []
    return [
        AgreementItem(path, i, lines[i] if i < len(lines) else 0, item)
        for i, item in enumerate(items)
    ]


def check_agreements(
    items: list[AgreementItem], contracts: dict[str, Contract], rules: list[Rule], today: date
) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for item in items:

        def problem(message: str, severity: Severity = "error", item: AgreementItem = item) -> None:
            problems.append(Problem(item.where, message, severity))

        if item.id in first:
            problem(f"the id is also used by agreements[{first[item.id]}]: ids must be unique")
        first.setdefault(item.id, item.index)
        covered = _check_coverage(item, contracts, problem)
        valid_to = _date(item.raw.get("valid_to"))
        if valid_to is not None and valid_to < today:
            deciding = _rules_deciding_by_agreement(rules, covered)
            still = (
                f"; rules {', '.join(deciding)} still decide by agreement on fields it covers"
                if deciding
                else ""
            )
            problem(
                f"expired on {valid_to.isoformat()}: it grants nothing now (tokens naming it are "
                f"refused, the catalog no longer offers it){still}; remove it from this file "
                "(past ledger entries keep its id), or extend valid_to if it was renewed"
            )
        elif valid_to is not None and valid_to - today <= EXPIRY_WARNING:
            problem(
                f"expires on {valid_to.isoformat()}: renew it (extend valid_to) or plan for "
                "callers losing access",
                "warning",
            )
        budget = item.raw.get("daily_cell_budget")
        if isinstance(budget, int) and budget < 0:
            problem(f"daily_cell_budget is {budget}: use 0 (nothing released) or more")
    return problems


def _check_coverage(
    item: AgreementItem, contracts: dict[str, Contract], problem: Any
) -> list[tuple[str, str]]:
    """Report datasets and fields that do not exist; the (dataset, field) pairs that do."""
    covered = []
    for dataset, names in (item.raw.get("datasets") or {}).items():
        contract = contracts.get(dataset)
        if contract is None:
            hint = did_you_mean(dataset, list(contracts))
            problem(
                f"datasets.{dataset}: there is no dataset {dataset!r}{hint}; "
                f"datasets are {', '.join(sorted(contracts))}"
            )
            continue
        for name in names or ():
            if name != "*" and name not in contract.field_names:
                hint = did_you_mean(name, list(contract.field_names))
                problem(
                    f"datasets.{dataset}: {name!r} is not a field of {dataset}{hint}; "
                    f"use * or one of {', '.join(contract.field_names)}"
                )
            else:
                covered.append((dataset, name))
    return covered


def _rules_deciding_by_agreement(rules: list[Rule], covered: list[tuple[str, str]]) -> list[str]:
    names = []
    for rule in rules:
        if rule.problem is None and {"agreement", "no-agreement"} & set(rule.terms):
            dataset, field_name = rule.get("dataset"), rule.get("field")
            if any(
                key_match(d, dataset)
                and (f == "*" or field_name == "*" or key_match(f, field_name))
                for d, f in covered
            ):
                names.append(f"{rule.name} ({rule.path.name}:{rule.line})")
    return names


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
