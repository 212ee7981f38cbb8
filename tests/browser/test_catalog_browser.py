"""The catalog page at `/` in a real headless Chromium, with off-machine requests blocked.

The page is plain HTML; its "Open in GraphiQL" link for vacancies (open data) must
open GraphiQL with the example query in the editor, and running it must show the
same data as a direct POST of that query.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser

READY_TIMEOUT_MS = 20_000
_CM_VALUE = "sel => document.querySelector(sel).CodeMirror.getValue()"


async def _wait_for_graphiql(page: Page) -> None:
    await expect(page.locator(".graphiql-execute-button")).to_be_visible(timeout=READY_TIMEOUT_MS)
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()


def _assert_clean(seen: Any) -> None:
    assert seen.page_errors == [], f"JavaScript errors on the page: {seen.page_errors}"
    assert seen.failed_responses == [], f"failed requests: {seen.failed_responses}"
    assert seen.external_requests == [], f"off-machine requests: {seen.external_requests}"


def _datasets(base: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{base}/graphql", json={"query": "{ datasets { name title owner } }"}, timeout=10
    )
    response.raise_for_status()
    return response.json()["data"]["datasets"]


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    """Each request has its own `extensions.requestId` and ledger receipt; everything else
    must be identical."""
    extensions = {
        k: v for k, v in body.get("extensions", {}).items() if k not in ("requestId", "receipt")
    }
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


async def test_catalog_page_renders_every_dataset_offline(
    live_server: str, browser_page: Any
) -> None:
    page: Page = browser_page.page
    response = await page.goto(f"{live_server}/")
    assert response is not None and response.status == 200
    await expect(page.locator("h1")).to_have_text("Labour Market Data Trust")
    datasets = _datasets(live_server)
    assert len(datasets) == 3
    for dataset in datasets:
        section = page.locator(f"section#{dataset['name']}")
        await expect(section.locator("h2")).to_have_text(dataset["title"])
        await expect(section.locator(".owner")).to_have_text(dataset["owner"])
        await expect(section.get_by_role("link", name="Open in GraphiQL")).to_be_visible()
        assert await section.locator("tbody tr").count() >= 3
    # The stylesheet is the server's own and applied; the page runs no script.
    assert await page.evaluate("document.scripts.length") == 0
    sheets = await page.evaluate("[...document.styleSheets].map(s => s.href)")
    assert sheets == [
        f"{live_server}/static/vendor/govuk-frontend.min.css",
        f"{live_server}/static/pages/pages.css",
    ]
    # GOV.UK's typeface is served by the server too, and in use.
    font = await page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "GDS Transport" in font
    _assert_clean(browser_page)


async def test_open_in_graphiql_runs_the_example(live_server: str, browser_page: Any) -> None:
    page: Page = browser_page.page
    await page.goto(f"{live_server}/")
    example = (await page.locator("section#vacancies pre").inner_text()).strip()
    assert example.startswith("{") and "vacancies(" in example

    await page.locator("section#vacancies").get_by_role("link", name="Open in GraphiQL").click()
    await _wait_for_graphiql(page)
    assert page.url.startswith(f"{live_server}/graphql?")
    editor = await page.evaluate(_CM_VALUE, ".graphiql-query-editor .CodeMirror")
    assert editor == example

    await page.locator(".graphiql-execute-button").click()
    result = page.locator(".result-window")
    await expect(result).to_contain_text('"vacancies"', timeout=READY_TIMEOUT_MS)
    shown = json.loads(await page.evaluate(_CM_VALUE, ".result-window .CodeMirror"))

    direct = httpx.post(f"{live_server}/graphql", json={"query": example}, timeout=10)
    direct.raise_for_status()
    expected = direct.json()
    assert "errors" not in expected
    assert expected["data"]["vacancies"], "the example must return data for the public"
    assert _without_request_id(shown) == _without_request_id(expected)
    _assert_clean(browser_page)
