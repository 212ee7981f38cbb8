"""Fixtures for the real-browser tests (headless Debian Chromium driven by Playwright).

* ``graphiql_assets`` (session, autouse): the pinned GraphiQL bundles are in
  ``gql_trust/static/vendor/`` (fetched with npm once if missing).
* ``browser_page``: a fresh Chromium (own user-data-dir) whose every request to a
  host other than 127.0.0.1/localhost is aborted and recorded; the test fails at
  teardown if there was any.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/browser-deps.sh`` installs it);
``playwright install`` is never used. If it is missing the browser tests skip,
except in CI (``CI`` set), where a missing browser or asset fails the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gql_trust.graphiql import assets_present, fetch_assets

CHROMIUM = os.environ.get("GQL_TRUST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def skip_or_fail(reason: str) -> None:
    """Locally a missing browser skips; in CI the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def graphiql_assets() -> None:
    if not assets_present():
        if shutil.which("npm") is None:
            skip_or_fail("GraphiQL assets missing and npm unavailable (gql-trust assets fetch)")
        fetch_assets()
    assert assets_present()


@dataclass
class BrowserPage:
    """An open page plus what the harness observed while it was in use."""

    page: object  # playwright.async_api.Page
    external_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)


@pytest.fixture
async def browser_page() -> AsyncIterator[BrowserPage]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing: run .ci/browser-deps.sh")
    from playwright.async_api import async_playwright

    user_data_dir = tempfile.mkdtemp(prefix="gql-trust-chromium-")
    pw = await async_playwright().start()
    try:
        context = await pw.chromium.launch_persistent_context(
            user_data_dir,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            service_workers="block",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            seen = BrowserPage(page=page)

            async def guard(route, request) -> None:  # type: ignore[no-untyped-def]
                host = urlsplit(request.url).hostname or ""
                if request.url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
                    await route.continue_()
                else:
                    seen.external_requests.append(request.url)
                    await route.abort("blockedbyclient")

            await context.route("**/*", guard)
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            page.on(
                "response",
                lambda r: (
                    seen.failed_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None
                ),
            )
            yield seen
            assert seen.external_requests == [], (
                f"{len(seen.external_requests)} request(s) left the machine: "
                f"{seen.external_requests}"
            )
        finally:
            await context.close()
    finally:
        await pw.stop()
        shutil.rmtree(user_data_dir, ignore_errors=True)
