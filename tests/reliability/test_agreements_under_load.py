"""Agreements amended under load (bench/reliability_agreements.py, the form CI runs).

16 clients for 24 s against `gql-trust serve --workers 2`: a broken edit at 3 s, the
agreement suspended at 6 s and restored at 15 s. On each worker its requests are
served, refused within 5 s of the suspension, and served again within 5 s of the
restoration; every response has exactly one ledger entry saying what it said.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.reliability_agreements import IN_FORCE_S, run


async def test_suspending_and_restoring_an_agreement_under_load(tmp_path: Path) -> None:
    report = await run(clients=16, seconds=24, workdir=tmp_path)
    text = json.dumps(report, indent=2)
    assert report["workers"] == 2, text
    assert report["under_agreement"] > 50, text
    for worker in report["phases"].values():  # every phase seen on each worker, as designed
        for phase in ("before", "broken", "suspended", "restored"):
            assert worker[phase]["requests"] > 0 and worker[phase]["not_as_designed"] == 0, text
        assert worker["suspension_lag_s"] < IN_FORCE_S, text
        assert worker["restoration_lag_s"] < IN_FORCE_S, text
    ledger = report["ledger"]
    assert ledger["responses"] == report["requests"], text  # none dropped
    assert ledger["entries_added"] == ledger["responses"] + 2, text  # + the two changes
    assert report["refusals_counted"] == 2, text  # the broken edit, refused by both workers
    assert report["problems"] == [], text
