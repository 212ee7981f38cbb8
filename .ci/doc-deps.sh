#!/usr/bin/env bash
# curl and jq, which docs/agreements.md uses and its test (tests/ledger/test_agreements_doc.py)
# runs as written. Idempotent: does nothing when both are there.
set -euo pipefail

missing=()
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "doc-deps: curl and jq already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "doc-deps: install ${missing[*]} first" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "doc-deps: installing ${missing[*]} with apt-get"
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
