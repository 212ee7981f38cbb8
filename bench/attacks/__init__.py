"""Disclosure attacks against a live gql-trust server, scored against the sources.

``python -m bench.attacks --config FILE [--quick] [--url URL] [--json OUT]``: see
DESIGN.md "Disclosure attacks" and ``docs/disclosure.md``.
"""
