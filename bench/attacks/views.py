"""What each non-owner demo principal may read: one *view* per principal and dataset.

A view fixes the dataset, the controlled measure, the geography level the principal
may query, the areas it may see at that level and the other dimensions with their
categories. Attack targets are the view's finest cells: (period, area, *dims).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gql_trust.config import Settings

# The demo principals' claims (DESIGN.md "Demo principals"; tests/conftest.py PRINCIPALS).
CLAIMS: dict[str, dict[str, Any]] = {
    "hmrc": {"dept": "HMRC", "roles": ["analyst"]},
    "dfe": {"dept": "DfE", "roles": ["analyst"]},
    "la": {"dept": "LA", "roles": ["la-officer"], "area": "E08000025"},
    "dwp": {
        "dept": "DWP",
        "roles": ["analyst"],
        "purpose": "labour-market-analysis",
        "agreement": "DSA-LMDT-001",
    },
    # Under differential privacy: claimants at any geography, a privacy-loss budget a day.
    "dfe-dp": {
        "dept": "DfE",
        "roles": ["analyst"],
        "purpose": "research",
        "agreement": "DSA-LMDT-002",
    },
}

FILTER_NAMES = {"area": "areaCode", "sector": "sectorCode"}
PARENT_LEVEL = {"LOCAL_AUTHORITY": "REGION", "REGION": "COUNTRY"}


@dataclass(frozen=True)
class Geography:
    """Areas by level, and each local authority's code at every level."""

    levels: dict[str, list[str]]  # level -> codes at that level, sorted
    up: dict[str, dict[str, str]]  # level -> {local authority -> its code at that level}

    @classmethod
    def load(cls, areas_csv: Path) -> Geography:
        with areas_csv.open(newline="") as handle:
            rows = {row["code"]: row for row in csv.DictReader(handle)}
        las = sorted(c for c, r in rows.items() if r["level"] == "LOCAL_AUTHORITY")
        region = {la: rows[la]["parent_code"] for la in las}  # Welsh/Scottish: the country
        country = {la: rows[r]["parent_code"] or r for la, r in region.items()}
        up = {"LOCAL_AUTHORITY": {la: la for la in las}, "REGION": region, "COUNTRY": country}
        levels = {level: sorted(set(m.values())) for level, m in up.items()}
        return cls(levels, up)

    def parent(self, level: str, code: str) -> str:
        """The code at the next level up that contains ``code`` (at ``level``)."""
        above = PARENT_LEVEL[level]
        la = next(la for la, c in self.up[level].items() if c == code)
        return self.up[above][la]

    def children(self, level: str, parent: str) -> list[str]:
        """The codes at ``level`` inside ``parent`` (at the next level up)."""
        above = PARENT_LEVEL[level]
        return sorted({self.up[level][la] for la, p in self.up[above].items() if p == parent})


@dataclass(frozen=True)
class View:
    name: str  # "principal/dataset"
    principal: str
    dataset: str
    measure: str
    method: str  # "cell_key", "ten_five" or "zcdp"
    geography: str
    areas: list[str]
    dims: dict[str, list[Any]]  # dimension -> categories (besides period and area)
    periods: list[str] = field(default_factory=list)
    additive_over_periods: bool = True  # distinct counts are not: a person spans months
    mean: str | None = None  # a derived mean the principal may read

    @property
    def key_dims(self) -> list[str]:
        return ["period", "area", *self.dims]

    def domain(self, dim: str) -> list[Any]:
        if dim == "period":
            return self.periods
        if dim == "area":
            return self.areas
        return self.dims[dim]

    def additive(self, dim: str) -> bool:
        return dim != "period" or self.additive_over_periods

    def pin(self, key: tuple[Any, ...], *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        """``where`` pinning every key dimension to the cell's value, except ``drop``."""
        return {
            FILTER_NAMES.get(d, d): {"eq": v}
            for d, v in zip(self.key_dims, key, strict=True)
            if d not in drop
        }


def contract_dims(settings: Settings, dataset: str) -> dict[str, dict[str, Any]]:
    for path in sorted(settings.contracts_dir.glob("*.yaml")):
        contract = yaml.safe_load(path.read_text())
        if contract.get("name") == dataset:
            return {d["name"]: d for d in contract["dimensions"]}
    raise LookupError(f"no contract for {dataset}")


def build_views(settings: Settings, geo: Geography, periods: list[str]) -> list[View]:
    with settings.sectors_csv.open(newline="") as handle:
        sectors = sorted(row["code"] for row in csv.DictReader(handle))

    def values(dataset: str, *names: str) -> dict[str, list[Any]]:
        dims = contract_dims(settings, dataset)
        return {n: list(dims[n]["values"]) for n in names}

    people = values("claimants", "ageBand", "sex", "conditionality")
    disabled = {**people, "disability": [False, True]}
    jobs = {"sector": sectors, **values("payrolledEmployees", "ageBand", "sex")}
    la, region = geo.levels["LOCAL_AUTHORITY"], geo.levels["REGION"]
    own = [CLAIMS["la"]["area"]]

    def claimants(
        name: str,
        level: str,
        areas: list[str],
        dims: dict[str, list[Any]],
        method: str = "cell_key",
    ) -> View:
        return View(name, name.split("/")[0], "claimants", "claimants", method, level,
                    areas, dims, periods, additive_over_periods=False)  # fmt: skip

    def payroll(name: str, level: str, areas: list[str], mean: str | None = None) -> View:
        return View(name, name.split("/")[0], "payrolledEmployees", "employees", "ten_five",
                    level, areas, jobs, periods, mean=mean)  # fmt: skip

    return [
        claimants("hmrc/claimants", "LOCAL_AUTHORITY", la, people),
        claimants("la/claimants", "LOCAL_AUTHORITY", own, disabled),
        claimants("dfe/claimants", "REGION", region, disabled),
        claimants("dfe-dp/claimants", "LOCAL_AUTHORITY", la, disabled, method="zcdp"),
        payroll("dfe/payrolledEmployees", "REGION", region),
        payroll("dwp/payrolledEmployees", "LOCAL_AUTHORITY", la, mean="meanMonthlyPay"),
    ]
