"""WCAG 2.2 A and AA on the pages for people: axe-core in Chromium, and keyboard-only use.

axe-core comes from npm (``tests/browser/node``, ``npm ci`` from its committed lock)
and is injected into the page from that file: no request leaves the machine.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.npm import BROWSER_DIR, install

pytestmark = pytest.mark.browser

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
AXE = BROWSER_DIR / "node_modules" / "axe-core" / "axe.min.js"
READY_MS = 30_000


@pytest.fixture(scope="module")
def axe() -> Path:
    install(BROWSER_DIR)
    assert AXE.is_file()
    return AXE


async def violations(page: Page, axe: Path) -> list[str]:
    await page.add_script_tag(path=str(axe))
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    assert result["passes"], "axe ran no rule"
    return [
        f"{v['id']} ({v['impact']}): {[n['html'][:120] for n in v['nodes']]}"
        for v in result["violations"]
    ]


@pytest.mark.parametrize("path", ["/", "/explore"])
async def test_no_wcag_22_a_or_aa_violation(
    live_server: str, browser_page: Any, axe: Path, path: str
) -> None:
    page: Page = browser_page.page
    response = await page.goto(f"{live_server}{path}")
    assert response is not None and response.status == 200
    assert await violations(page, axe) == []
    if path == "/explore":  # and with a chart, its table and the error summary shown
        await page.select_option("#dataset", "vacancies")  # open data
        await page.check("#dimension-area")
        await page.click("#run")
        await expect(page.locator("#chart[data-ready=true]")).to_be_attached(timeout=READY_MS)
        assert await violations(page, axe) == []
        await page.select_option("#dataset", "claimants")  # the public may not
        await page.click("#run")
        await expect(page.locator("#error-summary")).to_be_visible(timeout=READY_MS)
        assert await violations(page, axe) == []
    assert browser_page.page_errors == []


async def test_axe_finds_a_planted_violation(
    live_server: str, browser_page: Any, axe: Path
) -> None:
    """The audit can fail: an unlabelled input and an image without text are reported."""
    page: Page = browser_page.page
    await page.goto(f"{live_server}/explore")
    await page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<input id=bad><img src=data:, id=img>')"
    )
    found = " ".join(await violations(page, axe))
    assert "label" in found and "image-alt" in found


async def tab_to(page: Page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


async def test_the_explorer_works_by_keyboard_alone(live_server: str, browser_page: Any) -> None:
    page: Page = browser_page.page
    await page.goto(f"{live_server}/explore")
    await page.keyboard.press("Tab")  # the first stop is the skip link
    assert await page.evaluate("document.activeElement.textContent") == "Skip to main content"
    await tab_to(page, "dataset")
    while await page.evaluate("document.activeElement.value") != "vacancies":
        await page.keyboard.press("ArrowDown")
    await tab_to(page, "dimension-period")
    await page.keyboard.press("Space")  # period off
    await tab_to(page, "dimension-sector")
    await page.keyboard.press("Space")  # sector on
    await tab_to(page, "geography-REGION")
    await page.keyboard.press("ArrowRight")  # to COUNTRY
    assert await page.evaluate("document.activeElement.id") == "geography-COUNTRY"
    await tab_to(page, "period-from")
    await page.keyboard.press("End")
    await tab_to(page, "period-to")
    await page.keyboard.press("End")
    await tab_to(page, "run")
    await page.keyboard.press("Enter")
    await expect(page.locator("#chart[data-ready=true]")).to_be_attached(timeout=READY_MS)
    query = await page.locator("#query-text").text_content()
    assert query and "geography: COUNTRY" in query and "sector { code name }" in query
    assert "period {" not in query.split("limit")[1]  # period not selected
    rows = httpx.post(f"{live_server}/graphql", json={"query": query}, timeout=30).json()
    rows = rows["data"]["vacancies"]
    assert len(await page.eval_on_selector_all(
        '#chart svg [aria-roledescription="bar"]', "els => els"
    )) == len(rows) > 0  # fmt: skip
    await tab_to(page, "download-csv")
    async with page.expect_download() as info:
        await page.keyboard.press("Enter")
    text = Path(await (await info.value).path()).read_text(encoding="utf-8")
    header, *cells = list(csv.reader(io.StringIO(text)))
    assert header == ["sector.code", "sector.name", "vacancies"]
    assert len(cells) == len(rows)
    # Focus is always visible: GOV.UK's yellow focus state on the button.
    await tab_to(page, "open-graphiql")
    outline = await page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
    assert outline == "rgb(255, 221, 0)"
