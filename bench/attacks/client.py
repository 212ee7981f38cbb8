"""A GraphQL client for one principal that counts what it sends and what is refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

NESTED = ("area", "sector")  # reference entities, selected by their code
BATCH = 10  # root fields per request (the server's default limit)
Cell = dict[str, Any]  # one returned row: dimension name -> value (area as its code), measures


@dataclass
class Answer:
    """The rows of one dataset field, or ``None`` when it was refused (error or null)."""

    rows: list[Cell] | None
    reason: str | None = None


@dataclass
class Client:
    url: str
    token: str
    sent: int = 0
    refused: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    _http: httpx.Client | None = None

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def cells(
        self,
        dataset: str,
        select: list[str],
        measures: list[str],
        where: dict[str, Any] | None = None,
        geography: str = "LOCAL_AUTHORITY",
    ) -> Answer:
        """``dataset(where:, geography:) { select... measures... }``, every page of it."""
        fields = " ".join(f"{d} {{ code }}" if d in NESTED else d for d in [*select, *measures])
        where_type = dataset[0].upper() + dataset[1:] + "Where"
        query = (
            f"query Attack($w: {where_type}, $o: Int) {{ {dataset}(where: $w, "
            f"geography: {geography}, limit: 100000, offset: $o) {{ {fields} }} }}"
        )
        rows: list[Cell] = []
        offset = 0
        while True:
            page = self._ask(query, {"w": where or {}, "o": offset}, dataset)
            if page.rows is None:
                return page
            rows.extend(page.rows)
            if len(page.rows) < 100_000:
                return Answer(rows)
            offset += len(page.rows)

    def totals(
        self, dataset: str, measure: str, wheres: list[dict[str, Any]], geography: str
    ) -> list[Answer]:
        """One cell per ``where`` (nothing selected), up to BATCH aliased fields a request,
        as an attacker in a hurry would send them."""
        answers: list[Answer] = []
        where_type = dataset[0].upper() + dataset[1:] + "Where"
        for start in range(0, len(wheres), BATCH):
            chunk = wheres[start : start + BATCH]
            names = [f"q{i}" for i in range(len(chunk))]
            query = (
                "query Attack("
                + ", ".join(f"$w{i}: {where_type}" for i in range(len(chunk)))
                + ") { "
                + " ".join(
                    f"{n}: {dataset}(where: $w{i}, geography: {geography}) {{ {measure} }}"
                    for i, n in enumerate(names)
                )
                + " }"
            )
            variables = {f"w{i}": w for i, w in enumerate(chunk)}
            answers.extend(self._post(query, variables, names))
        return answers

    def _ask(self, query: str, variables: dict[str, Any], dataset: str) -> Answer:
        return self._post(query, variables, [dataset])[0]

    def _post(self, query: str, variables: dict[str, Any], names: list[str]) -> list[Answer]:
        """The answer of each (aliased) dataset field; each counts as one query sent."""
        assert self._http is not None
        self.sent += len(names)
        response = self._http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        data = body.get("data") or {}
        errors = body.get("errors") or []
        return [
            self._answer(
                data.get(name),
                [e for e in errors if (e.get("path") or [name])[0] == name],
                response.status_code,
            )
            for name in names
        ]

    def _answer(self, data: Any, errors: list[dict[str, Any]], status: int) -> Answer:
        if data is None or errors:
            reason = "; ".join(
                f"{(e.get('extensions') or {}).get('code')}: {e.get('message')}" for e in errors
            )
            reason = reason or f"HTTP {status}, no data"
            self.refused += 1
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
            return Answer(None, reason)
        rows = []
        for raw in data:
            row = dict(raw)
            for name in NESTED:
                if name in row:
                    row[name] = (row[name] or {}).get("code")
            rows.append(row)
        return Answer(rows)
