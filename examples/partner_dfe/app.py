"""A partner subgraph owned by DfE: apprenticeship starts per local authority and month.

It extends the trust's `Area` entity (`@key(fields: "code")`) with `apprenticeshipStarts`,
from DfE's own data (a CSV file here). A Federation v2 gateway composes it with the
trust's subgraph, so one query can ask for an area's apprenticeship starts (from DfE)
and its vacancies or claimants (from the trust, under the trust's policies).

Run:  uvicorn app:app --app-dir examples/partner_dfe --port 4002
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import strawberry
from strawberry.asgi import GraphQL

DATA = Path(
    os.environ.get(
        "DFE_APPRENTICESHIPS_CSV", Path(__file__).parent / "data" / "apprenticeship_starts.csv"
    )
)

# The Federation version the subgraph declares: gateways built on
# @theguild/federation-composition 0.27 compose up to 2.9 (Strawberry's default is newer).
FEDERATION_VERSION = "2.9"


@strawberry.type(description="Apprenticeship starts in one area, month and level (DfE).")
class ApprenticeshipStarts:
    area_code: strawberry.Private[str]
    period: str = strawberry.field(description='Calendar month of the start, "YYYY-MM".')
    level: str = strawberry.field(description="intermediate, advanced or higher.")
    starts: int = strawberry.field(description="Number of apprenticeship starts.")

    @strawberry.field(description="The area (resolved by the trust's subgraph).")
    def area(self) -> Area:
        return Area(code=strawberry.ID(self.area_code))


def load(path: Path) -> dict[str, list[ApprenticeshipStarts]]:
    by_area: dict[str, list[ApprenticeshipStarts]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_area[row["area_code"]].append(
                ApprenticeshipStarts(
                    area_code=row["area_code"],
                    period=row["period"],
                    level=row["level"],
                    starts=int(row["starts"]),
                )
            )
    return dict(by_area)


STARTS = load(DATA)


def starts_for(code: str, period: str | None) -> list[ApprenticeshipStarts]:
    rows = STARTS.get(code, [])
    return [r for r in rows if period is None or r.period == period]


@strawberry.federation.type(keys=["code"], description="An area (ONS GSS code).")
class Area:
    code: strawberry.ID

    @strawberry.field(description="Apprenticeship starts in this area (DfE), by month and level.")
    def apprenticeship_starts(self, period: str | None = None) -> list[ApprenticeshipStarts] | None:
        return starts_for(self.code, period)

    @classmethod
    def resolve_reference(cls, code: strawberry.ID) -> Area:
        # DfE knows only the areas it has data for; any other area simply has no starts.
        return cls(code=code)


@strawberry.type
class Query:
    @strawberry.field(description="Apprenticeship starts in every area DfE has data for.")
    def apprenticeship_starts(self, period: str | None = None) -> list[ApprenticeshipStarts]:
        return [r for code in sorted(STARTS) for r in starts_for(code, period)]


schema = strawberry.federation.Schema(query=Query, federation_version=FEDERATION_VERSION)
app = GraphQL(schema)
