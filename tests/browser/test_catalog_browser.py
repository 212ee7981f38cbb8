"""The catalog page at `/` in a real headless Chromium, with off-machine requests blocked.

The page is plain HTML; its "Open in GraphiQL" link for vacancies (open data) must
open GraphiQL with the example query in the editor, and running it must show the
same data as a direct POST of that query.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from gql_trust.config import Settings, load_settings
from gql_trust.identity import mint_token
from tests.conftest import auth_headers

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


def _cells_released(
    base: str, settings: Settings, query: str, headers: dict[str, str]
) -> tuple[int, Any]:
    """Run ``query`` for real; the cells its ledger entry says were released, and the data."""
    real = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=10)
    real.raise_for_status()
    assert settings.auth is not None
    auditor = mint_token(settings.auth, sub="catalog-test", dept="TRUST", roles=["auditor"])
    newest = httpx.post(
        f"{base}/graphql",
        json={"query": "{ auditLog(limit: 1) { outcome cellsReturned } }"},
        headers={"Authorization": f"Bearer {auditor}"},
        timeout=10,
    ).json()["data"]["auditLog"][0]
    assert newest["outcome"] == "OK", newest
    return int(newest["cellsReturned"]), real.json()["data"]


@pytest.mark.parametrize("dataset, who", [("vacancies", "public"), ("payrolledEmployees", "dwp")])
async def test_dry_run_in_graphiql_says_what_the_example_would_release(
    live_server: str, duckdb_trust_dir: Path, browser_page: Any, dataset: str, who: str
) -> None:
    """The catalog's "Dry run in GraphiQL": the request carries extensions.dryRun, the
    answer has no data and counts exactly the cells the real run then releases."""
    settings = load_settings(duckdb_trust_dir / "gql-trust.toml")
    headers = auth_headers(settings, who)
    page: Page = browser_page.page
    await page.goto(f"{live_server}/")
    section = page.locator(f"section#{dataset}")
    example = (await section.locator("pre").inner_text()).strip()
    await section.get_by_role("link", name="Dry run in GraphiQL").click()
    await _wait_for_graphiql(page)
    await expect(page.locator("#dry-run-note")).to_be_visible()
    await expect(page.locator("#dry-run-note")).to_contain_text("releases nothing")
    assert await page.evaluate(_CM_VALUE, ".graphiql-query-editor .CodeMirror") == example
    if headers:  # the caller's token, typed into GraphiQL's Headers tab
        await page.get_by_role("button", name="Headers").click()
        await page.evaluate(
            "h => document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) "
            ".CodeMirror').CodeMirror.setValue(h)",
            json.dumps(headers),
        )

    async with page.expect_request(
        lambda r: (
            r.url.endswith("/graphql") and r.method == "POST" and "dryRun" in (r.post_data or "")
        )
    ) as sent:
        await page.locator(".graphiql-execute-button").click()
    body = json.loads((await sent.value).post_data or "{}")
    assert body["extensions"] == {"dryRun": True} and body["query"] == example
    result = page.locator(".result-window")
    await expect(result).to_contain_text('"dryRun"', timeout=READY_TIMEOUT_MS)
    shown = json.loads(await page.evaluate(_CM_VALUE, ".result-window .CodeMirror"))
    assert shown["data"] is None
    report = shown["extensions"]["dryRun"]
    assert report["fields"][dataset]["allowed"] is True, report

    cells, data = _cells_released(live_server, settings, example, headers)
    assert data[dataset], "the example must release data to this caller"
    assert report["cells"] == cells > 0
    if who == "dwp":  # under agreement DSA-LMDT-001: the budget is shown
        assert report["budget"]["agreement"] == "DSA-LMDT-001"
        assert report["budget"]["wouldUse"] == report["budget"]["used"] + cells
    else:
        assert report["budget"] is None
        # The notice's link: the same query, for real.
        await page.locator("#dry-run-note").get_by_role("link").click()
        await _wait_for_graphiql(page)
        assert "dryRun" not in page.url
        await expect(page.locator("#dry-run-note")).to_be_hidden()
        assert await page.evaluate(_CM_VALUE, ".graphiql-query-editor .CodeMirror") == example
    _assert_clean(browser_page)
