"""GraphiQL served entirely by the server itself: no CDN, works with no internet.

The browser bundles (React, ReactDOM, GraphiQL, the explorer plugin) are a pinned
npm dependency: ``graphiql_assets/package.json`` and its committed
``package-lock.json``. :func:`fetch_assets` installs them with ``npm ci`` into a
throw-away folder and copies just the few bundle files into ``static/vendor/``
(gitignored, never committed); ``gql-trust assets fetch`` calls it.

:func:`render_page` builds the GraphiQL page; every ``<script>`` and ``<link>``
it emits is same-origin (``{static_prefix}/...``). The page bootstrap lives in
``static/graphiql/init.js`` and its styles in ``static/graphiql/page.css`` so the
page has no inline script or style (friendly to a strict CSP).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import tempfile
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gql_trust.errors import ConfigError

__all__ = [
    "ASSETS",
    "ASSETS_PKG_DIR",
    "GRAPHIQL_VERSION",
    "PLUGIN_EXPLORER_VERSION",
    "REACT_VERSION",
    "STATIC_DIR",
    "VENDOR_DIR",
    "Asset",
    "assets_present",
    "fetch_assets",
    "render_page",
]

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR: Path = PACKAGE_DIR / "static"
VENDOR_DIR: Path = STATIC_DIR / "vendor"
ASSETS_PKG_DIR: Path = PACKAGE_DIR / "graphiql_assets"
MANIFEST_NAME = "manifest.json"

# The versions Strawberry's own GraphiQL page uses (they ship browser bundles).
GRAPHIQL_VERSION = "3.8.3"
PLUGIN_EXPLORER_VERSION = "1.0.2"
REACT_VERSION = "18.2.0"
# The explorer's charts and the pages' design system.
VEGA_VERSION = "6.4.0"
VEGA_LITE_VERSION = "6.5.0"
VEGA_EMBED_VERSION = "7.3.0"
GOVUK_FRONTEND_VERSION = "6.6.0"

NPM_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class Asset:
    """One bundle file: where npm puts it, the flat name we serve it under, its hash."""

    name: str  # file name under static/vendor/
    package: str
    version: str
    source: str  # path inside node_modules/
    sha384: str  # base64, as in a Subresource Integrity attribute (of npm's file)
    # Text replaced as the file is copied: GOV.UK's stylesheet names its fonts and images
    # under /assets/; served from static/vendor/, they are found relative to it.
    rewrite: tuple[tuple[str, str], ...] = ()


# Hashes are the ones Strawberry's page pins for the same files on unpkg, so the
# copies we serve are byte-identical to the upstream release bundles.
ASSETS: tuple[Asset, ...] = (
    Asset(
        "react.production.min.js",
        "react",
        REACT_VERSION,
        "react/umd/react.production.min.js",
        "tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    Asset(
        "react-dom.production.min.js",
        "react-dom",
        REACT_VERSION,
        "react-dom/umd/react-dom.production.min.js",
        "bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    Asset(
        "graphiql.min.js",
        "graphiql",
        GRAPHIQL_VERSION,
        "graphiql/graphiql.min.js",
        "HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    Asset(
        "graphiql.min.css",
        "graphiql",
        GRAPHIQL_VERSION,
        "graphiql/graphiql.min.css",
        "Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    Asset(
        "plugin-explorer.umd.js",
        "@graphiql/plugin-explorer",
        PLUGIN_EXPLORER_VERSION,
        "@graphiql/plugin-explorer/dist/index.umd.js",
        "2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    ),
    Asset(
        "plugin-explorer.css",
        "@graphiql/plugin-explorer",
        PLUGIN_EXPLORER_VERSION,
        "@graphiql/plugin-explorer/dist/style.css",
        "5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
    ),
    Asset(
        "vega.min.js",
        "vega",
        VEGA_VERSION,
        "vega/build/vega.min.js",
        "VKdcJr3ZaBIJMbVcopTAI/JEuUkSY6qnwVu9iLuw0DnQ9gQ1JjsfZJhXFQAgNi43",
    ),
    Asset(
        "vega-lite.min.js",
        "vega-lite",
        VEGA_LITE_VERSION,
        "vega-lite/build/vega-lite.min.js",
        "pV2l7nzmyxZh02knvUH7N8zvtyCYsYiGt+SsE/emG/dFiBI6G0YJZFZ2FzEX72P3",
    ),
    Asset(
        "vega-embed.min.js",
        "vega-embed",
        VEGA_EMBED_VERSION,
        "vega-embed/build/vega-embed.min.js",
        "Muy1QRxYFeNrA1zShc1KtN4OfipkR/61gt+HWqN57c1Zxu3Oe16TsilsruVVjfKL",
    ),
    Asset(
        "govuk-frontend.min.css",
        "govuk-frontend",
        GOVUK_FRONTEND_VERSION,
        "govuk-frontend/dist/govuk/govuk-frontend.min.css",
        "wDHxFbRW8Z72RQpsV+P8QWJ7Mg/NJuLraHNMtrAMW5RZIBumyXxS11Vf9/HHxp5C",
        rewrite=(("url(/assets/", "url(govuk/"),),
    ),
    Asset(
        "govuk-frontend.min.js",
        "govuk-frontend",
        GOVUK_FRONTEND_VERSION,
        "govuk-frontend/dist/govuk/govuk-frontend.min.js",
        "6al0a9TfyRtZGMkpjDq+9D/vhFheYZKG+EPzCsECsNrAQqAcbQvrHeR8Y5YD/TOp",
    ),
    *(
        Asset(
            f"govuk/{name}",
            "govuk-frontend",
            GOVUK_FRONTEND_VERSION,
            f"govuk-frontend/dist/govuk/assets/{name}",
            digest,
        )
        for name, digest in (
            (
                "fonts/bold-affa96571d-v2.woff",
                "+uNiz2pcg6nw8kdqBks+w0fhRLzVVQje0m7YJ1/DHrjLaENXfGW/vUQeefsmhl11",
            ),
            (
                "fonts/bold-b542beb274-v2.woff2",
                "ys84N9V2J8f5hziBQ9uS4gjdzLlLnEBSTwZXIu/EI0vYrZ0kHporsXRjAf3jx4rO",
            ),
            (
                "fonts/light-94a07e06a1-v2.woff2",
                "Gsvtx5+HOh060RShZt9UrwmNB6PUlvrgZo7dD4y9+iW7As0SMbTnmvEPYo998PHX",
            ),
            (
                "fonts/light-f591b13f7d-v2.woff",
                "4F+DAQSqyBk7Nfi/6a+j66wAfLKQZ/YncWuy0NMMYHT6ZpfqsPz9irJLi0ZqIw2X",
            ),
            (
                "images/govuk-crest.svg",
                "bbE9WtSFaIKXPvHh03e2ZOwF5iiOo6koQC1F85pNjAy5Syok3+CWB4wZBsRGqVOG",
            ),
        )
    ),
)

_STYLESHEETS = ("graphiql.min.css", "plugin-explorer.css")
_SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
)


def _pinned_versions() -> dict[str, str]:
    return {a.package: a.version for a in ASSETS}


def _sha384(path: Path) -> str:
    return b64encode(hashlib.sha384(path.read_bytes()).digest()).decode("ascii")


def assets_present(vendor_dir: Path | None = None) -> bool:
    """True when every pinned bundle file is installed (for the pinned versions)."""
    vendor = VENDOR_DIR if vendor_dir is None else vendor_dir
    try:
        manifest = json.loads((vendor / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("versions") != _pinned_versions():
        return False
    for asset in ASSETS:
        try:
            if (vendor / asset.name).stat().st_size == 0:
                return False
        except OSError:
            return False
    return True


def fetch_assets(
    progress: Callable[[str], None] | None = None,
    *,
    vendor_dir: Path | None = None,
) -> list[Path]:
    """Install the pinned GraphiQL bundles from the npm registry into ``static/vendor/``.

    Runs ``npm ci`` on the committed lock file in a temporary folder, copies the
    bundle files (flat, stable names), checks their SHA-384 and returns their
    paths. Raises :class:`ConfigError` if npm is missing or fails.
    """
    say = progress or (lambda _msg: None)
    vendor = VENDOR_DIR if vendor_dir is None else vendor_dir

    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(
            "npm is not installed (or not on PATH): it is needed to fetch the pinned "
            "GraphiQL assets from the npm registry. Install Node.js/npm and run "
            "`gql-trust assets fetch` again."
        )
    for name in ("package.json", "package-lock.json"):
        if not (ASSETS_PKG_DIR / name).is_file():
            raise ConfigError(f"the GraphiQL asset pin {ASSETS_PKG_DIR / name} is missing")

    with tempfile.TemporaryDirectory(prefix="gql-trust-graphiql-") as tmp:
        work = Path(tmp)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(ASSETS_PKG_DIR / name, work / name)
        cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        say(
            f"running `npm ci` for graphiql@{GRAPHIQL_VERSION}, "
            f"@graphiql/plugin-explorer@{PLUGIN_EXPLORER_VERSION}, react@{REACT_VERSION}, "
            f"vega@{VEGA_VERSION}, vega-lite@{VEGA_LITE_VERSION}, "
            f"vega-embed@{VEGA_EMBED_VERSION}, govuk-frontend@{GOVUK_FRONTEND_VERSION}"
        )
        env = {**os.environ, "npm_config_update_notifier": "false"}
        try:
            proc = subprocess.run(  # fixed argv, no shell
                cmd,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(
                f"`npm ci` did not finish within {NPM_TIMEOUT_S} s while fetching the "
                "GraphiQL assets (is the npm registry reachable?)"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"could not run npm ({npm}): {exc}") from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
            raise ConfigError(
                f"`npm ci` failed with exit code {proc.returncode} while fetching the "
                f"GraphiQL assets (is the npm registry reachable?):\n{tail}"
            )

        modules = work / "node_modules"
        try:
            vendor.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the assets folder {vendor}: {exc}") from exc
        written: list[Path] = []
        for asset in ASSETS:
            src = modules / asset.source
            if not src.is_file():
                raise ConfigError(
                    f"`npm ci` did not produce {asset.source} ({asset.package}@{asset.version})"
                )
            digest = _sha384(src)
            if digest != asset.sha384:
                raise ConfigError(
                    f"{asset.source} does not match the pinned SHA-384 "
                    f"(got sha384-{digest}, expected sha384-{asset.sha384})"
                )
            dest = vendor / asset.name
            tmp_dest = dest.with_name(dest.name + ".part")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if asset.rewrite:
                    text = src.read_text(encoding="utf-8")
                    for old, new in asset.rewrite:
                        text = text.replace(old, new)
                    tmp_dest.write_text(text, encoding="utf-8")
                else:
                    shutil.copyfile(src, tmp_dest)
                os.replace(tmp_dest, dest)
            except OSError as exc:
                raise ConfigError(f"cannot write {dest}: {exc}") from exc
            say(f"  {asset.name} ({dest.stat().st_size:,} bytes)")
            written.append(dest)

        # The manifest goes last: assets_present() trusts it only once every file is in place.
        manifest = {
            "versions": _pinned_versions(),
            "files": {a.name: {"from": a.source, "sha384": a.sha384} for a in ASSETS},
        }
        (vendor / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    missing = [p for p in written if not p.is_file() or p.stat().st_size == 0]
    if missing or not assets_present(vendor):
        raise ConfigError(f"GraphiQL assets incomplete after fetch: {missing or vendor}")
    say(f"GraphiQL assets installed in {vendor}")
    return written


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _prefix(static_prefix: str) -> str:
    return static_prefix.rstrip("/")


_MISSING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL assets not installed</title>
</head>
<body>
<h1>GraphiQL assets not installed</h1>
<p>The GraphiQL assets are not installed on this server, so the in-browser
GraphQL IDE cannot be shown. The GraphQL endpoint itself works: send
<code>POST {graphql_path}</code> with a JSON body.</p>
<p>To install the assets (pinned versions, fetched once from the npm registry
and then served by this server), run:</p>
<pre><code>gql-trust assets fetch</code></pre>
<p>and reload this page.</p>
</body>
</html>
"""


def render_page(*, graphql_path: str = "/graphql", static_prefix: str = "/static") -> str:
    """The GraphiQL HTML page; every script and stylesheet is served from ``static_prefix``.

    The page honours ``?query=...&variables=...`` in its URL as the initial editor
    contents, so other pages can link to a ready example (request headers are
    never taken from the URL nor persisted); ``&dryRun=true`` sends each query as a
    dry run, with a notice saying so. Without the assets installed it is a
    small plain page saying how to install them.
    """
    if not assets_present():
        return _MISSING_PAGE.format(graphql_path=html.escape(graphql_path))
    prefix = _prefix(static_prefix)
    links = "\n".join(
        f'<link rel="stylesheet" href="{_attr(f"{prefix}/vendor/{name}")}">'
        for name in _STYLESHEETS
    )
    scripts = "\n".join(
        f'<script src="{_attr(f"{prefix}/vendor/{name}")}"></script>' for name in _SCRIPTS
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL - Labour Market Data Trust</title>
<link rel="icon" href="data:,">
{links}
<link rel="stylesheet" href="{_attr(f"{prefix}/graphiql/page.css")}">
</head>
<body>
<p id="dry-run-note" role="status" hidden><strong>Dry run.</strong> Each query run here
says what it would release (cells per field, disclosure methods, the agreement's budget)
and releases nothing; it is recorded as a dry run and charges no budget.
<a href="{_attr(graphql_path)}">Run queries for real</a></p>
<div id="graphiql" class="graphiql-container" data-graphql-path="{_attr(graphql_path)}">
Loading GraphiQL...</div>
<noscript>GraphiQL needs JavaScript. The GraphQL endpoint is
<code>POST {html.escape(graphql_path)}</code>.</noscript>
{scripts}
<script src="{_attr(f"{prefix}/graphiql/init.js")}"></script>
</body>
</html>
"""
