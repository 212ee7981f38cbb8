#!/usr/bin/env bash
# Install Debian's Chromium for the Playwright browser tests (tests/browser/).
# Idempotent: does nothing when the browser is already there. Never runs
# `playwright install`: the tests drive /usr/bin/chromium via executable_path.
set -euo pipefail

CHROMIUM="${GQL_TRUST_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "browser-deps: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "browser-deps: $CHROMIUM is missing and this is not root (no sudo);" \
             "install Debian's chromium package first" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "browser-deps: installing chromium with apt-get"
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
    echo "browser-deps: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "browser-deps: $("$CHROMIUM" --version 2>/dev/null) installed"
