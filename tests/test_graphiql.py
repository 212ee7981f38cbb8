"""The self-hosted GraphiQL page and its pinned npm assets (gql_trust.graphiql)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from base64 import b64encode
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gql_trust import graphiql
from gql_trust.errors import ConfigError
from gql_trust.graphiql import (
    ASSETS,
    ASSETS_PKG_DIR,
    STATIC_DIR,
    VENDOR_DIR,
    assets_present,
    fetch_assets,
    render_page,
)

URL_RE = re.compile(r"(?i)\b(?:https?:)?//[a-z0-9.-]+")


class _Refs(HTMLParser):
    """Collects every URL a page would make the browser load."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_scripts = 0
        self.other_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self._in_script = True
            if "src" in a:
                self.scripts.append(a["src"])
        elif tag == "link":
            if a.get("rel") == "stylesheet":
                self.stylesheets.append(a["href"])
            elif "href" in a:
                self.other_urls.append(a["href"])
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a and tag not in ("script", "link"):
                self.other_urls.append(a[key])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def _refs(page: str) -> _Refs:
    parser = _Refs()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture
def with_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphiql, "assets_present", lambda vendor_dir=None: True)


@pytest.fixture
def without_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphiql, "assets_present", lambda vendor_dir=None: False)


# --- the page ---------------------------------------------------------------


def test_page_loads_only_same_origin_vendor_assets(with_assets: None) -> None:
    page = render_page()
    refs = _refs(page)
    assert refs.scripts == [
        "/static/vendor/react.production.min.js",
        "/static/vendor/react-dom.production.min.js",
        "/static/vendor/graphiql.min.js",
        "/static/vendor/plugin-explorer.umd.js",
        "/static/graphiql/init.js",
    ]
    assert refs.stylesheets == [
        "/static/vendor/graphiql.min.css",
        "/static/vendor/plugin-explorer.css",
        "/static/graphiql/page.css",
    ]
    for url in refs.scripts + refs.stylesheets:
        assert url.startswith("/static/"), url
        assert "//" not in url and ":" not in url, url
    # The only other URLs are the empty data: favicon (stops a /favicon.ico request) and
    # the dry-run notice's link back to this page.
    assert refs.other_urls == ["data:,", "/graphql"]
    assert refs.inline_scripts == 0
    assert URL_RE.search(page) is None, URL_RE.search(page)
    assert "integrity=" not in page and "crossorigin" not in page
    assert 'data-graphql-path="/graphql"' in page


def test_page_vendor_names_match_the_pinned_asset_list(with_assets: None) -> None:
    refs = _refs(render_page())
    vendored = {
        u.removeprefix("/static/vendor/")
        for u in refs.scripts + refs.stylesheets
        if u.startswith("/static/vendor/")
    }
    # GraphiQL's own bundles; the rest of ASSETS serves the explorer and the pages.
    assert vendored == set(graphiql._SCRIPTS + graphiql._STYLESHEETS)
    assert vendored <= {a.name for a in ASSETS}


def test_page_own_static_files_exist_and_stay_offline(with_assets: None) -> None:
    refs = _refs(render_page())
    own = [
        u.removeprefix("/static/")
        for u in refs.scripts + refs.stylesheets
        if not u.startswith("/static/vendor/")
    ]
    assert own == ["graphiql/init.js", "graphiql/page.css"]
    for rel in own:
        text = (STATIC_DIR / rel).read_text(encoding="utf-8")
        assert URL_RE.search(text) is None, (rel, URL_RE.search(text))
    init = (STATIC_DIR / "graphiql/init.js").read_text(encoding="utf-8")
    # Default query/variables from the page URL; explorer on; header editor on.
    for needle in (
        'params.get("query")',
        'params.get("variables")',
        "explorerPlugin()",
        "isHeadersEditorEnabled: true",
        "data-graphql-path",
    ):
        assert needle in init, needle
    assert "Cookies" not in init  # js-cookie is not used


def test_page_respects_prefix_and_path_and_escapes(with_assets: None) -> None:
    page = render_page(graphql_path='/api/"graphql"<x>', static_prefix="/assets/")
    refs = _refs(page)
    assert all(u.startswith("/assets/") for u in refs.scripts + refs.stylesheets)
    assert "/assets/vendor/graphiql.min.js" in refs.scripts
    assert "//" not in "".join(refs.scripts + refs.stylesheets)
    assert 'data-graphql-path="/api/&quot;graphql&quot;&lt;x&gt;"' in page
    assert "<x>" not in page


def test_missing_assets_page(without_assets: None) -> None:
    page = render_page()
    assert "GraphiQL assets are not installed" in page
    assert "gql-trust assets fetch" in page
    assert "POST /graphql" in page
    refs = _refs(page)
    assert refs.scripts == [] and refs.stylesheets == [] and refs.inline_scripts == 0
    assert URL_RE.search(page) is None
    assert "/static/" not in page


def test_missing_assets_page_escapes_path(without_assets: None) -> None:
    page = render_page(graphql_path="/g<script>")
    assert "<script>" not in page and "/g&lt;script&gt;" in page


# --- the pin ------------------------------------------------------------------


def test_package_json_pins_exact_versions() -> None:
    pkg = json.loads((ASSETS_PKG_DIR / "package.json").read_text(encoding="utf-8"))
    assert pkg["private"] is True
    assert pkg["dependencies"] == {
        "graphiql": "3.8.3",
        "@graphiql/plugin-explorer": "1.0.2",
        "react": "18.2.0",
        "react-dom": "18.2.0",
        "vega": "6.4.0",
        "vega-lite": "6.5.0",
        "vega-embed": "7.3.0",
        "govuk-frontend": "6.6.0",
    }
    assert {a.package: a.version for a in ASSETS} == pkg["dependencies"]


def test_lock_file_matches_package_json() -> None:
    pkg = json.loads((ASSETS_PKG_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ASSETS_PKG_DIR / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["lockfileVersion"] >= 2
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"]
    for name, version in pkg["dependencies"].items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["integrity"].startswith("sha512-")


# --- assets_present -------------------------------------------------------------


def _fake_vendor(vendor: Path, versions: dict[str, str] | None = None) -> None:
    vendor.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS:
        (vendor / asset.name).parent.mkdir(parents=True, exist_ok=True)
        (vendor / asset.name).write_text("x", encoding="utf-8")
    manifest = {"versions": versions or {a.package: a.version for a in ASSETS}}
    (vendor / graphiql.MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")


def test_assets_present_checks_files_and_versions(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    assert not assets_present(vendor)
    _fake_vendor(vendor)
    assert assets_present(vendor)
    (vendor / "graphiql.min.js").unlink()
    assert not assets_present(vendor)
    _fake_vendor(vendor, versions={"graphiql": "3.0.0"})  # an older pin: refetch
    assert not assets_present(vendor)


def test_vendor_dir_is_the_package_static_folder() -> None:
    assert Path(graphiql.__file__).resolve().parent / "static" == STATIC_DIR
    assert VENDOR_DIR == STATIC_DIR / "vendor"


# --- fetch_assets ---------------------------------------------------------------


def test_fetch_assets_without_npm_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(graphiql.shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="npm is not installed"):
        fetch_assets(vendor_dir=tmp_path / "vendor")
    assert not (tmp_path / "vendor").exists()


def test_fetch_assets_npm_failure_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "npm"
    fake.write_text("#!/bin/sh\necho 'npm error code E404 registry says no' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    with pytest.raises(ConfigError, match=r"(?s)`npm ci` failed with exit code 1.*E404"):
        fetch_assets(vendor_dir=tmp_path / "vendor")
    assert not assets_present(tmp_path / "vendor")


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_fetch_assets_installs_the_pinned_bundles(tmp_path: Path) -> None:
    """Really runs `npm ci` against the npm registry (a few seconds with a warm cache)."""
    vendor = tmp_path / "vendor"
    messages: list[str] = []
    paths = fetch_assets(messages.append, vendor_dir=vendor)
    assert [p.relative_to(vendor).as_posix() for p in paths] == [a.name for a in ASSETS]
    for path, asset in zip(paths, ASSETS, strict=True):
        digest = b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()
        if asset.rewrite:  # checked as npm gave it, then its asset paths made relative
            text = path.read_text(encoding="utf-8")
            assert all(old not in text and new in text for old, new in asset.rewrite)
        else:
            assert digest == asset.sha384, asset.name
    assert (vendor / "graphiql.min.js").stat().st_size > 1_000_000
    assert assets_present(vendor)
    files = [p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file()]
    assert sorted(files) == sorted([a.name for a in ASSETS] + [graphiql.MANIFEST_NAME])
    assert any("npm ci" in m for m in messages)
