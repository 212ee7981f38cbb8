"""The explorer at `/explore` in a real headless Chromium, every off-machine request blocked.

The oracle for each chart is the JSON answer to the query the page shows, posted
directly with the same token: every non-null cell is one labelled mark (points on
lines over periods, bars over areas or sectors) with that value, every null cell is
marked in the table and not drawn. The CSV download must equal that answer too.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from gql_trust.config import load_settings
from tests.conftest import auth_headers

pytestmark = pytest.mark.browser

READY_MS = 30_000


def token(trust_dir: Path, who: str) -> str:
    header = auth_headers(load_settings(trust_dir / "gql-trust.toml"), who)
    return header.get("Authorization", "").removeprefix("Bearer ")


async def explore(
    page: Page,
    base: str,
    *,
    bearer: str,
    dataset: str,
    dimensions: list[str],
    geography: str,
    periods: tuple[int, int] | None = None,
) -> None:
    await page.goto(f"{base}/explore")
    await page.fill("#token", bearer)
    await page.select_option("#dataset", dataset)
    for box in await page.locator("input[name=dimension]").all():
        await box.set_checked((await box.get_attribute("value")) in dimensions)
    await page.check(f"#geography-{geography}")
    if periods is not None:  # indexes into the options, from the end
        options = await page.locator("#period-from option").all_inner_texts()
        await page.select_option("#period-from", options[periods[0]])
        await page.select_option("#period-to", options[periods[1]])
    await page.click("#run")


async def drawn(page: Page) -> tuple[str, dict[str, Any]]:
    """The query the page ran, once its chart is drawn."""
    await expect(page.locator("#chart[data-ready=true]")).to_be_attached(timeout=READY_MS)
    query = await page.locator("#query-text").text_content()
    assert query
    return query, {}


def answer(base: str, query: str, bearer: str, accept: str = "application/json") -> Any:
    headers = {"Accept": accept, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
    response = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json() if accept == "application/json" else response.text


def label(value: Any) -> str:
    return f"{value['name']} ({value['code']})" if isinstance(value, dict) else str(value)


async def mark_labels(page: Page, kind: str) -> list[str]:
    return await page.eval_on_selector_all(
        f'#chart svg [aria-roledescription="{kind}"]',
        "els => els.map(e => e.getAttribute('aria-label'))",
    )


@pytest.mark.parametrize(
    ("who", "dataset", "perturbed"),
    [("public", "vacancies", False), ("hmrc", "claimants", True)],
)
async def test_lines_over_periods_show_the_callers_own_answer(
    live_server: str, duckdb_trust_dir: Path, browser_page: Any, who: str, dataset: str,
    perturbed: bool,
) -> None:  # fmt: skip
    page: Page = browser_page.page
    bearer = token(duckdb_trust_dir, who)
    await explore(
        page, live_server, bearer=bearer, dataset=dataset, dimensions=["period", "area"],
        geography="REGION",
    )  # fmt: skip
    query, _ = await drawn(page)
    body = answer(live_server, query, bearer)
    rows = body["data"][dataset]
    assert len(rows) >= 12 * 9  # a year of every region at least
    measure = dataset
    note = " (perturbed)" if perturbed else ""
    expected = sorted(
        f"{label(r['area'])}, {r['period']}: {r[measure]}{note if r[measure] else ''}"
        for r in rows
        if r[measure] is not None
    )
    assert sorted(await mark_labels(page, "point")) == expected
    assert (body["extensions"].get("disclosure", {}).get("perturbed", 0) > 0) is perturbed
    # The table is the chart's text alternative: every cell, in the answer's order.
    table = await page.locator("#cells-body tr").evaluate_all(
        "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))"
    )
    assert [t[:3] for t in table] == [
        [r["period"], label(r["area"]), "" if r[measure] is None else str(r[measure])] for r in rows
    ]
    if perturbed:
        assert all(t[3] == "perturbed" for t, r in zip(table, rows, strict=True) if r[measure])
    chart = page.locator("#chart-image")
    assert await chart.get_attribute("role") == "img"
    described = await chart.get_attribute("aria-describedby")
    await expect(page.locator(f"#{described}")).to_contain_text("table")
    assert browser_page.page_errors == []


async def test_bars_over_sectors_mark_suppressed_cells_and_the_csv_equals_the_json(
    live_server: str, duckdb_trust_dir: Path, browser_page: Any, tmp_path: Path
) -> None:
    """DWP reads payroll employees under 10-5: some cells are null (suppressed)."""
    page: Page = browser_page.page
    bearer = token(duckdb_trust_dir, "dwp")
    await explore(
        page, live_server, bearer=bearer, dataset="payrolledEmployees",
        dimensions=["area", "sector"], geography="LOCAL_AUTHORITY", periods=(-1, -1),
    )  # fmt: skip
    query, _ = await drawn(page)
    assert re.search(r'period: \{eq: "\d{4}-\d{2}"\}', query)
    rows = answer(live_server, query, bearer)["data"]["payrolledEmployees"]
    suppressed = [r for r in rows if r["employees"] is None]
    assert suppressed and len(suppressed) < len(rows)
    bars = await mark_labels(page, "bar")
    assert len(bars) == len(rows) - len(suppressed)
    assert sorted(bars) == sorted(
        f"{label(r['sector'])}, {label(r['area'])}: {r['employees']}"  # rounded: not noise
        for r in rows
        if r["employees"] is not None
    )
    marked = page.locator('#cells-body tr[data-status="suppressed"]')
    assert await marked.count() == len(suppressed)

    async with page.expect_download() as info:
        await page.click("#download-csv")
    download = await info.value
    target = tmp_path / "cells.csv"
    await download.save_as(target)
    assert download.suggested_filename == "payrolledEmployees.csv"
    header, *cells = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert header == ["area.code", "area.name", "sector.code", "sector.name", "employees"]
    assert cells == [
        [
            r["area"]["code"], r["area"]["name"], r["sector"]["code"], r["sector"]["name"],
            "" if r["employees"] is None else str(r["employees"]),
        ]
        for r in rows
    ]  # fmt: skip


async def test_a_denied_dataset_says_why_and_draws_nothing(
    live_server: str, browser_page: Any
) -> None:
    page: Page = browser_page.page
    await explore(
        page, live_server, bearer="", dataset="claimants", dimensions=["period"], geography="REGION"
    )
    summary = page.locator("#error-summary")
    await expect(summary).to_be_visible(timeout=READY_MS)
    await expect(summary).to_contain_text("not allowed")
    await expect(page.locator("#results")).to_be_hidden()
    assert await page.evaluate("document.activeElement.id") == "error-summary"
