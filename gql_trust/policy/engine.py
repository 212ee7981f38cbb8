"""Casbin decides, once per principal, dataset and geography, what a caller may do.

The result is a ``Grant``: a decision (with the rule that made it) for every
field and action, and the row obligations to inject. Grants are cached by the
principal's attributes, so Casbin stays off the per-request hot path.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import casbin

from ..contracts.model import Conformed, Contract
from ..errors import ConfigError
from ..identity import Principal
from ..reference import Level
from .agreements import Agreement, load_agreements
from .conditions import Subject, casbin_functions

ACTIONS = ("read", "filter", "group", "exact")
IN_FORCE_RULE = "agreement-in-force"  # refuses everything under a suspended or lapsed agreement


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None
    reason: str


@dataclass(frozen=True)
class RowFilter:
    """An obligation: only rows where ``dimension`` equals ``value``."""

    dimension: str
    value: str
    rule: str


@dataclass(frozen=True)
class Grant:
    dataset: str
    decisions: dict[tuple[str, str], Decision]
    row_filters: tuple[RowFilter, ...]

    def decision(self, field: str, action: str) -> Decision:
        return self.decisions[(field, action)]

    def exact(self, measure: str) -> bool:
        return self.decisions[(measure, "exact")].allowed


class PolicyEngine:
    def __init__(self, policies_dir: Path, contracts: dict[str, Contract]) -> None:
        model, policy = policies_dir / "model.conf", policies_dir / "policy.csv"
        for path in (model, policy):
            if not path.is_file():
                raise ConfigError(f"policy file {path} is missing")
        self.enforcer = casbin.Enforcer(str(model), str(policy))
        # Decisions are data with reasons, kept in the ledger; Casbin would also print each
        # denial, with the caller's attributes, as a warning on stderr.
        self.enforcer.logger.setLevel(logging.ERROR)
        for name, function in casbin_functions().items():
            self.enforcer.add_function(name, function)
        self.contracts = contracts
        self.agreements: dict[str, Agreement] = load_agreements(policies_dir / "agreements.yaml")
        self.version: str | None = None  # SHA-256 of the files read (set by whoever loads it)
        self.documents: Any = None  # TrustedDocuments of the agreements (documents.py)
        self._lock = threading.Lock()  # Casbin's enforcer is not documented as thread-safe
        self._grant = lru_cache(maxsize=4096)(self._decide)

    def grant(self, principal: Principal, dataset: str, geography: Level) -> Grant:
        # Keyed by the attributes policy reads (not the subject id), and by day for agreements.
        attributes = replace(principal, sub=None)
        return self._grant(attributes, dataset, geography, datetime.now(UTC).date())

    def allows(self, principal: Principal, dataset: str, field: str, action: str) -> Decision:
        """One decision outside any dataset contract (e.g. the audit log)."""
        return self._decide_one(principal, dataset, "", field, action, Level.LOCAL_AUTHORITY)[0]

    def _decide(self, principal: Principal, dataset: str, geography: Level, today: date) -> Grant:
        contract = self.contracts[dataset]
        decisions: dict[tuple[str, str], Decision] = {}
        agreement = self.agreements.get(principal.agreement or "")
        refusal = agreement.not_in_force(today) if agreement is not None else None
        if refusal is not None:
            refused = Decision(False, IN_FORCE_RULE, refusal)
            decisions = {(f, a): refused for f in contract.field_names for a in ACTIONS}
            return Grant(dataset, decisions, ())
        obligations: dict[str, str] = {}
        for field in contract.field_names:
            for action in ACTIONS:
                decision, rules = self._decide_one(
                    principal, dataset, contract.owner, field, action, geography, today
                )
                decisions[(field, action)] = decision
                if decision.allowed:
                    obligations.update(rules)
        row_filters = []
        if "rows:area" in obligations and principal.area:
            area = contract.conformed(Conformed.AREA)
            row_filters.append(RowFilter(area.name, principal.area, obligations["rows:area"]))  # type: ignore[union-attr]
        return Grant(dataset, decisions, tuple(row_filters))

    def _decide_one(
        self,
        principal: Principal,
        dataset: str,
        owner: str,
        field: str,
        action: str,
        geography: Level,
        today: date | None = None,
    ) -> tuple[Decision, dict[str, str]]:
        allow: Decision | None = None
        deny: Decision | None = None
        obligations: dict[str, str] = {}
        failures: list[tuple[str, str]] = []
        for role in principal.roles or ("",):
            subject = Subject(
                dept=principal.dept or "",
                role=role,
                purpose=principal.purpose,
                agreement_id=principal.agreement,
                area=principal.area,
                authenticated=principal.authenticated,
                owner=owner,
                dataset=dataset,
                field=field,
                geography=geography,
                today=today or datetime.now(UTC).date(),
                agreements=self.agreements,
            )
            with self._lock:
                allowed, explain = self.enforcer.enforce_ex(subject, dataset, field, action)
            failures.extend(subject.failures)
            rule = explain[6] if explain else None
            if allowed:
                allow = allow or Decision(True, rule, f"allowed by rule {rule}")
                obligations.update((o, rule or "") for o in subject.obligations)
            elif rule is not None:
                why = next((w for r, w in subject.failures if r == rule), None)
                deny = Decision(False, rule, why or f"denied by rule {rule}")
        if deny is not None:
            return deny, {}
        if allow is not None:
            return allow, obligations
        if failures:
            rule, why = failures[0]
            return Decision(False, rule, why), {}
        who = f"{principal.dept}/{'/'.join(principal.roles)}" if principal.dept else "the public"
        return Decision(False, None, f"no rule lets {who} {action} {dataset}.{field}"), {}
