"""Data-sharing agreements (policies/agreements.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    parties: frozenset[str]
    fields: frozenset[tuple[str, str]]  # (dataset, field); field "*" covers all
    purposes: frozenset[str]
    valid_from: date
    valid_to: date
    daily_cell_budget: int
    status: str = "active"  # active | suspended | revoked
    trusted_documents: Path | None = None  # an Apollo persisted query manifest
    require_trusted_documents: bool = False
    privacy: Privacy | None = None  # a privacy-loss budget: counts released under zCDP

    def covers(self, dataset: str, field: str) -> bool:
        return (dataset, field) in self.fields or (dataset, "*") in self.fields

    def not_in_force(self, today: date) -> str | None:
        """Why a request under this agreement is refused today, or None when it is in force."""
        if self.status != "active":
            return f"agreement {self.id} is {self.status}: nothing is released under it"
        if today < self.valid_from:
            return f"agreement {self.id} is not valid until {self.valid_from.isoformat()}"
        if today > self.valid_to:
            return f"agreement {self.id} expired on {self.valid_to.isoformat()}"
        return None


STATUSES = ("active", "suspended", "revoked")


@dataclass(frozen=True)
class Privacy:
    """`privacy: {mechanism: zcdp, rho: R, per: day}`: the agreement's microdata counts are
    released under zero-concentrated DP, spending at most ``rho`` a UTC day;
    ``release_rho`` is what one table of new cells spends unless the caller asks less."""

    rho: float
    per: str = "day"
    mechanism: str = "zcdp"
    release_rho: float = 0.05


def _privacy(raw: Any, where: str) -> Privacy | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: privacy must be a mapping, e.g. {{mechanism: zcdp, rho: 1.0}}")
    unknown = set(raw) - {"mechanism", "rho", "per", "release_rho"}
    if unknown:
        raise ConfigError(f"{where}: privacy has unknown keys {sorted(unknown)}")
    if raw.get("mechanism", "zcdp") != "zcdp":
        raise ConfigError(f"{where}: privacy mechanism must be zcdp")
    if raw.get("per", "day") != "day":
        raise ConfigError(f"{where}: privacy budgets are per day (per: day)")
    try:
        rho = float(raw["rho"])
        release = float(raw.get("release_rho", min(0.05, rho)))
    except KeyError as exc:
        raise ConfigError(f"{where}: privacy needs rho (the daily privacy-loss budget)") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: privacy rho must be a number") from exc
    if not 0 < rho <= 100 or not 0 < release <= rho:
        raise ConfigError(f"{where}: privacy needs 0 < release_rho <= rho <= 100")
    return Privacy(rho=rho, release_rho=release)


def load_agreements(path: Path) -> dict[str, Agreement]:
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("agreements") or [], list):
        raise ConfigError(f"{path}: expected `agreements:` followed by a list of agreements")
    agreements = {}
    for index, item in enumerate(raw.get("agreements") or ()):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: agreements[{index}] is not a mapping of fields")
        agreement = _agreement(item, f"{path}: agreements[{index}]", path.parent)
        agreements[agreement.id] = agreement
    return agreements


def _agreement(item: dict[str, Any], where: str, directory: Path) -> Agreement:
    status = str(item.get("status", "active"))
    if status not in STATUSES:
        raise ConfigError(f"{where}: status is {status!r}; use one of {', '.join(STATUSES)}")
    manifest = item.get("trusted_documents")
    try:
        fields = frozenset(
            (dataset, field)
            for dataset, names in (item["datasets"] or {}).items()
            for field in names
        )
        agreement = Agreement(
            id=str(item["id"]),
            title=str(item.get("title", item["id"])),
            parties=frozenset(item["parties"]),
            fields=fields,
            purposes=frozenset(item["purposes"]),
            valid_from=_date(item["valid_from"]),
            valid_to=_date(item["valid_to"]),
            daily_cell_budget=int(item["daily_cell_budget"]),
            status=status,
            trusted_documents=directory / str(manifest) if manifest else None,
            require_trusted_documents=item.get("require_trusted_documents", False) is True,
            privacy=_privacy(item.get("privacy"), where),
        )
    except KeyError as exc:
        raise ConfigError(f"{where}: '{exc.args[0]}' is required") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if agreement.valid_to < agreement.valid_from:
        raise ConfigError(f"{where}: valid_to is before valid_from")
    if agreement.require_trusted_documents and agreement.trusted_documents is None:
        raise ConfigError(
            f"{where}: require_trusted_documents is true but no trusted_documents manifest "
            "is named; add trusted_documents: FILE (relative to this file)"
        )
    return agreement


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def agreement_problem(
    agreement: Agreement | None,
    *,
    agreement_id: str | None,
    dept: str | None,
    purpose: str | None,
    dataset: str,
    field: str,
    today: date,
) -> str | None:
    """Why the caller's agreement does not cover this use, or None when it does."""
    if not agreement_id:
        return f"{dataset}.{field} needs a data-sharing agreement; the token names none"
    if agreement is None:
        return f"agreement {agreement_id} is not known to this trust"
    if dept not in agreement.parties:
        return f"{dept or 'the public'} is not a party to agreement {agreement.id}"
    not_in_force = agreement.not_in_force(today)
    if not_in_force:
        return not_in_force
    if purpose not in agreement.purposes:
        allowed = ", ".join(sorted(agreement.purposes))
        return f"agreement {agreement.id} allows purposes {allowed}, not {purpose or 'none'}"
    if not agreement.covers(dataset, field):
        return f"agreement {agreement.id} does not cover {dataset}.{field}"
    return None
