"""GraphiQL in a real headless Chromium, with every off-machine request blocked and counted.

Selectors (GraphiQL 3.8.3): the run button is ``.graphiql-execute-button``; the
editors are CodeMirror 5 instances (``.graphiql-query-editor .CodeMirror``,
``.graphiql-editor-tool .CodeMirror`` for variables/headers, ``.result-window``
for the response), whose text is read through the element's ``CodeMirror``
property because CodeMirror renders only the visible lines.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser

SECTORS_QUERY = "{ sectors { code name } }"
READY_TIMEOUT_MS = 20_000

_CM_VALUE = "sel => document.querySelector(sel).CodeMirror.getValue()"


async def _wait_for_graphiql(page: Page) -> None:
    await expect(page.locator(".graphiql-execute-button")).to_be_visible(timeout=READY_TIMEOUT_MS)
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()


async def _result_json(page: Page) -> dict[str, Any]:
    result = page.locator(".result-window")
    await expect(result).to_contain_text('"data"', timeout=READY_TIMEOUT_MS)
    text = await page.evaluate(_CM_VALUE, ".result-window .CodeMirror")
    return _without_request_id(json.loads(text))


def _server_answer(base: str, query: str) -> dict[str, Any]:
    resp = httpx.post(f"{base}/graphql", json={"query": query}, timeout=10)
    resp.raise_for_status()
    return _without_request_id(resp.json())


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    """Each request has its own `extensions.requestId` and ledger receipt; everything else
    must be identical."""
    extensions = {
        k: v for k, v in body.get("extensions", {}).items() if k not in ("requestId", "receipt")
    }
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


def _assert_clean(seen: Any) -> None:
    assert seen.page_errors == [], f"JavaScript errors on the page: {seen.page_errors}"
    assert seen.failed_responses == [], f"failed requests: {seen.failed_responses}"
    assert seen.external_requests == [], f"off-machine requests: {seen.external_requests}"


async def test_graphiql_runs_query_from_url_offline(live_server: str, browser_page: Any) -> None:
    page: Page = browser_page.page
    expected = _server_answer(live_server, SECTORS_QUERY)
    assert expected.get("data", {}).get("sectors"), expected

    await page.goto(f"{live_server}/graphql?{urlencode({'query': SECTORS_QUERY})}")
    await _wait_for_graphiql(page)

    # The URL's ?query= is the editor's content.
    editor_text = await page.evaluate(_CM_VALUE, ".graphiql-query-editor .CodeMirror")
    assert editor_text == SECTORS_QUERY

    # Every script and stylesheet came from this server's /static/.
    assets = await page.evaluate(
        """() => [...document.querySelectorAll('script[src], link[rel=stylesheet]')]
                 .map(e => e.src || e.href)"""
    )
    assert assets
    assert all(a.startswith(f"{live_server}/static/") for a in assets), assets

    # The explorer plugin is registered in the sidebar.
    await expect(page.get_by_role("button", name="Show GraphiQL Explorer")).to_be_visible()

    await page.locator(".graphiql-execute-button").click()
    shown = _without_request_id(await _result_json(page))
    assert shown == expected

    first_name = expected["data"]["sectors"][0]["name"]
    await expect(page.locator(".result-window")).to_contain_text(first_name)
    _assert_clean(browser_page)


async def test_graphiql_typed_query_ctrl_enter_and_variables(
    live_server: str, browser_page: Any
) -> None:
    page: Page = browser_page.page
    variables = '{"unused": 1}'
    await page.goto(f"{live_server}/graphql?{urlencode({'variables': variables})}")
    await _wait_for_graphiql(page)

    # ?variables= lands in the variables editor.
    shown_vars = await page.evaluate(_CM_VALUE, ".graphiql-editor-tool .CodeMirror")
    assert json.loads(shown_vars) == json.loads(variables)

    # Replace the welcome text, then run with the keyboard shortcut.
    query = "{ sectors { code } }"
    await page.evaluate(
        """q => { const cm = document.querySelector('.graphiql-query-editor .CodeMirror')
                    .CodeMirror; cm.setValue(q); cm.focus(); }""",
        query,
    )
    await page.keyboard.press("Control+Enter")
    shown = _without_request_id(await _result_json(page))
    expected = _server_answer(live_server, query)
    assert shown == expected
    codes = [s["code"] for s in expected["data"]["sectors"]]
    await expect(page.locator(".result-window")).to_contain_text(f'"{codes[0]}"')

    # The page keeps the URL in step with the editors (shareable link).
    assert "query=" in page.url
    _assert_clean(browser_page)


async def test_harness_counts_and_blocks_external_requests(
    live_server: str, browser_page: Any
) -> None:
    """The guard itself works: an off-machine fetch is aborted and recorded."""
    page: Page = browser_page.page
    await page.goto(f"{live_server}/graphql")
    await _wait_for_graphiql(page)
    outcome = await page.evaluate(
        """() => fetch('https://registry.npmjs.org/graphiql', {mode: 'no-cors'})
                   .then(() => 'reached', () => 'blocked')"""
    )
    assert outcome == "blocked"
    assert browser_page.external_requests == ["https://registry.npmjs.org/graphiql"]
    browser_page.external_requests.clear()  # expected here; the fixture checks the rest
