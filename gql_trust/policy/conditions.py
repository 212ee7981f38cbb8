"""Conditions a policy rule may carry in its `cond` column, joined by `&`.

agreement / no-agreement     the caller's agreement does / does not cover this use
privacy                      ... and does so under a privacy-loss budget (zCDP counts)
not-owner                    the caller's department does not own the dataset
authenticated                the caller presented a verified token
geography>=LEVEL             the query's geography is LEVEL or coarser
geography=LEVEL              the query's geography is exactly LEVEL
rows:area                    obligation: only rows of the caller's `area` claim
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as default
from datetime import date
from typing import Any

from ..errors import ConfigError
from ..reference import Level
from .agreements import Agreement, agreement_problem


@dataclass
class Subject:
    """What the matcher sees as `r.sub`: one role of a principal, in one query's context."""

    dept: str
    role: str
    purpose: str | None
    agreement_id: str | None
    area: str | None
    authenticated: bool
    owner: str
    dataset: str
    field: str
    geography: Level
    today: date
    agreements: dict[str, Agreement]
    failures: list[tuple[str, str]] = default(default_factory=list)  # (rule, why) of allows
    obligations: set[str] = default(default_factory=set)


def holds(subject: Subject, rule: str, condition: str) -> bool:
    for term in (t.strip() for t in condition.split("&")):
        if term and not _term(subject, rule, term):
            return False
    return True


def _term(subject: Subject, rule: str, term: str) -> bool:
    if term in ("agreement", "no-agreement"):
        problem = agreement_problem(
            subject.agreements.get(subject.agreement_id or ""),
            agreement_id=subject.agreement_id,
            dept=subject.dept or None,
            purpose=subject.purpose,
            dataset=subject.dataset,
            field=subject.field,
            today=subject.today,
        )
        if problem:  # explains a failed allow, or the deny that follows
            subject.failures.append((rule, problem))
        return (problem is None) == (term == "agreement")
    if term == "privacy":
        agreement = subject.agreements.get(subject.agreement_id or "")
        if agreement is None or agreement.privacy is None:
            subject.failures.append((rule, "needs an agreement with a privacy-loss budget"))
            return False
        return _term(subject, rule, "agreement")
    if term == "authenticated":
        if not subject.authenticated:
            subject.failures.append((rule, "only authenticated callers may use this"))
        return subject.authenticated
    if term == "not-owner":
        return subject.dept != subject.owner
    if term.startswith("geography"):
        return _geography(subject, rule, term)
    if term == "rows:area":
        if not subject.area:
            subject.failures.append((rule, "the token carries no `area` claim"))
            return False
        subject.obligations.add(term)
        return True
    raise ConfigError(f"policy rule {rule}: unknown condition {term!r}")


def _geography(subject: Subject, rule: str, term: str) -> bool:
    at_least = ">=" in term
    level_name = term.partition(">=" if at_least else "=")[2]
    try:
        level = Level(level_name.strip())
    except ValueError as exc:
        raise ConfigError(f"policy rule {rule}: unknown geography in {term!r}") from exc
    ok = subject.geography.rank >= level.rank if at_least else subject.geography is level
    if not ok:
        wanted = (
            f"{level.value} or coarser geography" if at_least else f"{level.value} geography only"
        )
        subject.failures.append(
            (rule, f"{subject.dataset} is available to this caller at {wanted}")
        )
    return ok


def action_match(requested: str, allowed: str) -> bool:
    if allowed in ("*", requested):
        return True
    return allowed == "read" and requested in ("read", "filter", "group")


def casbin_functions() -> dict[str, Any]:
    return {"actionMatch": action_match, "holds": holds}
